/**
 * incus4j's testkit: the in-memory {@code fake} driver, the contract suite every driver passes, and a JUnit 5
 * extension that hands tests a driver and instances.
 */
module io.github.incus4j.testkit {
    requires transitive io.github.incus4j.api;
    requires transitive org.junit.jupiter.api;
    requires org.junit.jupiter.params;
    requires static org.apiguardian.api;
    // Only testkit.net's NetnsPair enters network namespaces through it: optional for every other use.
    requires static org.jnrproject.ffi;

    exports io.github.incus4j.testkit.fake;
    exports io.github.incus4j.testkit.contract;
    exports io.github.incus4j.testkit.junit;
    exports io.github.incus4j.testkit.net;

    opens io.github.incus4j.testkit.contract to org.junit.platform.commons;

    provides io.github.incus4j.api.spi.InstanceDriver with io.github.incus4j.testkit.fake.FakeDriver;
}
