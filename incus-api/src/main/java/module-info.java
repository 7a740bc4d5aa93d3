/**
 * incus4j's API: the Incus instance interface in Java ({@link io.github.incus4j.api.Instance},
 * {@link io.github.incus4j.api.Container}, {@link io.github.incus4j.api.VM}), its records, the driver SPI and the
 * semantics shared by every driver.
 */
module io.github.incus4j.api {
    requires transitive java.logging;
    requires com.fasterxml.jackson.annotation;
    requires com.fasterxml.jackson.databind;
    requires com.fasterxml.jackson.dataformat.yaml;
    requires com.fasterxml.jackson.datatype.jsr310;
    // Image archives: Commons Compress needs XZ for Java and zstd-jni on the module path (it requires them static).
    requires org.apache.commons.compress;
    requires org.tukaani.xz;
    requires com.github.luben.zstd_jni;

    exports io.github.incus4j.api;
    exports io.github.incus4j.api.io;
    exports io.github.incus4j.api.metrics;
    exports io.github.incus4j.api.model;
    exports io.github.incus4j.api.rest;
    exports io.github.incus4j.api.spi;

    opens io.github.incus4j.api.model to com.fasterxml.jackson.databind;
    opens io.github.incus4j.api.rest to com.fasterxml.jackson.databind;
    opens io.github.incus4j.api.spi to com.fasterxml.jackson.databind;

    uses io.github.incus4j.api.spi.InstanceDriver;
}
