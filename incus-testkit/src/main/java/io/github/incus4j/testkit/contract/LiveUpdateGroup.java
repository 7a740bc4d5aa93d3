package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.VM;
import io.github.incus4j.testkit.contract.ContractSupport.ExecResult;
import java.time.Duration;

/**
 * The LiveUpdate group of {@link InstanceDriverContract} (its nested {@code LiveUpdate} runs these): changes applied
 * to running instances ({@code limits.*}).
 */
abstract class LiveUpdateGroup extends ContractGroup {
    LiveUpdateGroup(ContractSupport contract) {
        super(contract);
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.CGROUPS)
    void containerMemoryLimitAppliesLive(InstanceType type) {
        Instance i = createRunning(type);
        i.update(withConfig(i, "limits.memory", "256MiB"), true);
        assertEquals("268435456", i.cgroup().get("memory.max").trim());
        assertEquals(268435456L, i.cgroup().memoryLimit().getAsLong());
        i.update(withConfig(i, "limits.memory", null), true);
        assertEquals("max", i.cgroup().get("memory.max").trim(), "removing the limit");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.CGROUPS)
    void containerProcessLimitAppliesLive(InstanceType type) {
        Instance i = createRunning(type);
        i.update(withConfig(i, "limits.processes", "100"), true);
        assertEquals("100", i.cgroup().get("pids.max").trim());
        assertEquals(100L, i.cgroup().maxProcesses().getAsLong());
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.CGROUPS)
    void limitsSetWhileStoppedApplyAtStart(InstanceType type) {
        Instance i = create(args(type).config("limits.memory", "128MiB").build());
        i.start(false);
        assertEquals("134217728", i.cgroup().get("memory.max").trim());
    }

    /** The guest's {@code MemTotal} in bytes, as its kernel reports it. */
    private long guestMemTotal(Instance i) {
        ExecResult r = run(i, "cat", "/proc/meminfo");
        assertEquals(0, r.exitCode(), r.stderr());
        String line = r.stdout().lines().filter(l -> l.startsWith("MemTotal:")).findFirst()
                .orElseGet(() -> fail("no MemTotal in /proc/meminfo: " + r.stdout()));
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
    }

    /** Waits until the guest's MemTotal meets {@code condition}; returns the last value read. */
    private long awaitGuestMemTotal(Instance i, java.util.function.LongPredicate condition, String what)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout().toNanos();
        long total = guestMemTotal(i);
        while (!condition.test(total)) {
            if (System.nanoTime() > deadline) {
                fail(what + ": the guest's MemTotal is still " + total + " after " + timeout());
            }
            Thread.sleep(250);
            total = guestMemTotal(i);
        }
        return total;
    }

    @ForInstanceType(InstanceType.VM)
    @RequiresCapability(Capability.EXEC)
    void vmMemoryChangeReachesTheGuest(InstanceType type) throws InterruptedException {
        // Read from inside the guest: what its kernel has, not the config the update wrote.
        Instance i = createRunning(type);
        long before = guestMemTotal(i);
        long target = before / 2 / (1 << 20) * (1 << 20);
        i.update(withConfig(i, "limits.memory", (target >> 20) + "MiB"), true);
        assertTrue(i.isRunning());
        awaitGuestMemTotal(i, total -> total <= target, "shrinking to " + (target >> 20) + "MiB");
        i.update(withConfig(i, "limits.memory", null), true);
        awaitGuestMemTotal(i, total -> total > target + (before - target) / 2,
                "growing back from " + (target >> 20) + "MiB");
    }

    @ForEachInstanceType
    void liveChangesSurviveRestart(InstanceType type) {
        Instance i = createRunning(type);
        i.update(withConfig(i, "limits.memory", "512MiB"), true);
        i.restart(Duration.ZERO);
        assertEquals("512MiB", i.expandedConfig().get("limits.memory"));
    }
}
