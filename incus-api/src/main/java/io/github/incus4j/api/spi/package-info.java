/**
 * The driver SPI: what a driver author implements. A driver module provides an
 * {@link io.github.incus4j.api.spi.InstanceDriver} service that says whether this host can run it
 * ({@link io.github.incus4j.api.spi.Applicability}) and opens an {@code Instances}; the instance template
 * {@link io.github.incus4j.api.spi.AbstractInstances} / {@link io.github.incus4j.api.spi.AbstractInstance} holds
 * everything Incus decides (names, config, preconditions, locks, records, rendering) and calls the driver's hooks,
 * with the records ({@link io.github.incus4j.api.spi.InstanceRecord}), the on-disk layout
 * ({@link io.github.incus4j.api.spi.InstancePaths}), the operation locks and the file operations an SFTP session
 * serves ({@link io.github.incus4j.api.spi.FileBackend}). Users of drivers never need this package.
 */
package io.github.incus4j.api.spi;
