/**
 * The {@code lxc} instance driver: {@link io.github.incus4j.lxc.LxcDriver} opens {@link io.github.incus4j.lxc.LxcInstances}
 * on a root directory, whose containers ({@link io.github.incus4j.lxc.LxcContainerInstance}) run through liblxc and the
 * lxc tools. Registered as the {@code lxc} {@link io.github.incus4j.api.spi.InstanceDriver} provider.
 */
package io.github.incus4j.lxc;
