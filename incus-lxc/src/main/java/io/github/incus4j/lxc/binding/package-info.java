/**
 * The liblxc binding the {@code lxc} driver builds on (internal, not exported): {@link
 * io.github.incus4j.lxc.binding.Liblxc} loads {@code liblxc.so.1} with jnr-ffi and calls the function-pointer slots of
 * {@code struct lxc_container} version-aware, {@link io.github.incus4j.lxc.binding.LxcContainer} is a handle on one
 * container, {@link io.github.incus4j.lxc.binding.LxcTool} starts and creates containers from small helper processes
 * (never a fork of the JVM), {@link io.github.incus4j.lxc.binding.Freezer} drives the cgroup freezer directly, and
 * {@link io.github.incus4j.lxc.binding.RootDirectory} serves a root filesystem's files with every path resolved by
 * the kernel inside it ({@code openat2}).
 */
package io.github.incus4j.lxc.binding;
