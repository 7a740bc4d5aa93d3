/**
 * The {@code qemu} instance driver: virtual machines run by {@code qemu-system-<arch>} and driven through QMP. Not yet
 * registered as a {@link io.github.incus4j.api.spi.InstanceDriver} provider.
 */
package io.github.incus4j.qemu;
