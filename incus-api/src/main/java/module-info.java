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

    exports io.github.incus4j.api.internal.text;
    exports io.github.incus4j.api.internal.config;
    exports io.github.incus4j.api.internal.image;
    exports io.github.incus4j.api.internal.migration;
    exports io.github.incus4j.api.internal.sftp;
    exports io.github.incus4j.api.internal.store;

    opens io.github.incus4j.api.exec to com.fasterxml.jackson.databind;
    opens io.github.incus4j.api.model to com.fasterxml.jackson.databind;
    opens io.github.incus4j.api.rest to com.fasterxml.jackson.databind;
    opens io.github.incus4j.api.internal.store to com.fasterxml.jackson.databind;

    uses io.github.incus4j.api.spi.InstanceDriver;
}
