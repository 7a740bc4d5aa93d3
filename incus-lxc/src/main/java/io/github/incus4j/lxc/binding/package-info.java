/**
 * The liblxc binding the {@code lxc} driver builds on (internal, not exported): {@link
 * io.github.incus4j.lxc.binding.Liblxc} loads {@code liblxc.so.1} with jnr-ffi and calls the function-pointer slots of
 * {@code struct lxc_container} version-aware, {@link io.github.incus4j.lxc.binding.LxcContainer} is a handle on one
 * container, {@link io.github.incus4j.lxc.binding.LxcTool} starts and creates containers from small helper processes
 * (never a fork of the JVM), and {@link io.github.incus4j.lxc.binding.Freezer} drives the cgroup freezer directly.
 */
package io.github.incus4j.lxc.binding;
