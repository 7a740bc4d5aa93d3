/**
 * The in-memory {@code fake} instance driver: Incus's instance semantics without a kernel or a hypervisor, for the
 * tests of code that drives instances.
 *
 * <p>The fake extends the same shared base classes as the real drivers ({@code AbstractInstances},
 * {@code AbstractInstance}), so names, config validation, preconditions, operation locks, status codes, error
 * texts, records and JSON are Incus's; only what a kernel or hypervisor does is simulated: the runtime and its
 * counters, a root filesystem held as an immutable tree in memory, commands ({@link
 * io.github.incus4j.testkit.fake.FakeCommands}), the console, cgroups, images and migration.
 *
 * <pre>{@code
 * try (Instances incus = InstanceDrivers.open("fake", tempDir)) {
 *     Instance c1 = incus.create(InstanceArgs.builder("c1").build(), InstanceSource.template("busybox", Map.of()));
 *     c1.start(false);
 *     FakeInstances fake = (FakeInstances) incus;
 *     fake.commands().register("systemctl", p -> 0);
 *     fake.faults().failNext("stop", 1, () -> new IncusException("simulated"));
 * }
 * }</pre>
 *
 * <p>Everything is deterministic for a given clock ({@link io.github.incus4j.testkit.fake.FakeDriver#open(
 * java.nio.file.Path, java.time.Duration, java.time.Clock)}) and thread-safe.
 */
package io.github.incus4j.testkit.fake;
