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
    requires static transitive org.apiguardian.api;
    // Image archives: Commons Compress needs XZ for Java and zstd-jni on the module path (it requires them static).
    requires org.apache.commons.compress;
    requires org.tukaani.xz;
    requires com.github.luben.zstd_jni;

    exports io.github.incus4j.api;
    exports io.github.incus4j.api.cgroup;
    exports io.github.incus4j.api.exec;
    exports io.github.incus4j.api.file;
    exports io.github.incus4j.api.io;
    exports io.github.incus4j.api.metrics;
    exports io.github.incus4j.api.migration;
    exports io.github.incus4j.api.model;
    exports io.github.incus4j.api.operation;
    exports io.github.incus4j.api.rest;
    exports io.github.incus4j.api.spi;

    // Machinery shared by our own modules only; public for them, marked @API(status = INTERNAL) for class-path users.
    exports io.github.incus4j.api.internal.text to
            io.github.incus4j.testkit, io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote;
    exports io.github.incus4j.api.internal.config to
            io.github.incus4j.testkit, io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote;
    exports io.github.incus4j.api.internal.image to
            io.github.incus4j.testkit, io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote;
    exports io.github.incus4j.api.internal.migration to
            io.github.incus4j.testkit, io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote;
    exports io.github.incus4j.api.internal.sftp to
            io.github.incus4j.testkit, io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote;
    exports io.github.incus4j.api.internal.proxy to
            io.github.incus4j.testkit, io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote;
    exports io.github.incus4j.api.internal.store to
            io.github.incus4j.testkit, io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote;
    exports io.github.incus4j.api.internal.io to
            io.github.incus4j.testkit, io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote;

    opens io.github.incus4j.api.exec to com.fasterxml.jackson.databind;
    opens io.github.incus4j.api.model to com.fasterxml.jackson.databind;
    opens io.github.incus4j.api.rest to com.fasterxml.jackson.databind;
    opens io.github.incus4j.api.internal.store to com.fasterxml.jackson.databind;

    uses io.github.incus4j.api.spi.InstanceDriver;
}
