package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.ConfigKeys;
import io.github.incus4j.api.internal.config.ConfigNumbers;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.model.Device;
import java.util.Map;
import java.util.Set;

/**
 * The simulated host's resources and what an instance's limits give it: memory ({@code limits.memory}, percentages
 * of the host's), CPUs ({@code limits.cpu}, a count or a set), the root disk's {@code size}, the memory a running
 * guest uses (a function of its commands, files and uptime, so a fixed clock gives fixed numbers), and what a live
 * update of these limits changes in a running guest. Read from the expanded config each time: a bad value counts as
 * unset, since the config was validated before.
 */
final class FakeLimits {
    /** The simulated host's memory, what {@code limits.memory} percentages are of. */
    static final long HOST_MEMORY = 8L << 30;
    /** The memory an instance without {@code limits.memory} reports as its total. */
    static final long DEFAULT_MEMORY = 1L << 30;
    /** The simulated host's CPUs, what an instance without {@code limits.cpu} sees. */
    static final int HOST_CPUS = 4;
    private static final long BASE_MEMORY_USAGE = 12L << 20;

    private final FakeInstance instance;

    FakeLimits(FakeInstance instance) {
        this.instance = instance;
    }

    /** {@code limits.memory} in bytes (percentages of {@link #HOST_MEMORY}), 0 when unset. */
    long memoryLimitOrZero() {
        return memoryLimitOrZero(instance.expandedConfig());
    }

    /** The memory the guest has while running (what its last applied update gave it), else the configured one. */
    long memoryTotal() {
        Guest g = instance.guest();
        return g != null && g.memoryBytes > 0 ? g.memoryBytes : configuredMemory(instance.expandedConfig());
    }

    /** {@code limits.cpu}: a count, or a set such as {@code 0-3,6}; else the simulated host's CPUs. */
    int cpuCount() {
        return cpuCount(instance.expandedConfig());
    }

    /** The root disk's {@code size}, 0 when unlimited. */
    long rootDiskSize() {
        for (Map.Entry<String, Device> e : instance.expandedDevices().map().entrySet()) {
            Device d = e.getValue();
            if ("disk".equals(d.type()) && "/".equals(d.get("path")) && d.get("size") != null) {
                try {
                    return ConfigValues.parseByteSize(d.get("size"));
                } catch (InvalidArgumentException bad) {
                    return 0;
                }
            }
        }
        return 0;
    }

    /** Page cache: a quarter of the files, at most 64 MiB. */
    long pageCache() {
        return Math.min(instance.root().bytes(), 64L << 20) / 4;
    }

    /** The memory a running guest uses, capped at 90 % of its total; records the peak. */
    long memoryUsage(Guest g, long now) {
        long usage = BASE_MEMORY_USAGE + g.tasks.size() * (2L << 20) + pageCache()
                + Math.min(g.uptimeMillis(now) / 1000, 3600) * 4096;
        long capped = Math.min(usage, memoryTotal() * 9 / 10);
        g.memoryPeak.accumulateAndGet(capped, Math::max);
        return capped;
    }

    private static long memoryLimitOrZero(Map<String, String> config) {
        String v = config.get("limits.memory");
        if (v == null || v.isEmpty()) {
            return 0;
        }
        try {
            if (v.endsWith("%")) {
                return (long) (HOST_MEMORY * Double.parseDouble(v.substring(0, v.length() - 1)) / 100);
            }
            return ConfigValues.parseByteSize(v);
        } catch (RuntimeException e) {
            return 0;
        }
    }

    /** The memory a guest gets at boot: its limit, else {@link #DEFAULT_MEMORY}. */
    private static long configuredMemory(Map<String, String> config) {
        long limit = memoryLimitOrZero(config);
        return limit > 0 ? limit : DEFAULT_MEMORY;
    }

    private static int cpuCount(Map<String, String> config) {
        String v = config.get("limits.cpu");
        if (v == null || v.isEmpty() || v.contains("=")) {
            return HOST_CPUS;
        }
        try {
            if (v.matches("\\d+")) {
                return ConfigNumbers.parseIntClamped("limits.cpu", v, 1, ConfigKeys.MAX_CPUS);
            }
            return ConfigNumbers.cpuSetSize(v);
        } catch (InvalidArgumentException e) {
            return HOST_CPUS;
        }
    }

    /** Gives a booting guest its memory and CPUs. */
    static void size(Guest g, Map<String, String> config) {
        g.memoryBytes = configuredMemory(config);
        g.cpus = cpuCount(config);
    }

    /**
     * What a live update of the limits does to a running guest: the new limit replaces what a cgroup write set,
     * memory is hotplugged or ballooned, CPUs are hotplugged (VMs) or the cpuset changes (containers).
     */
    static void applyLiveUpdate(Guest g, Map<String, String> newExpanded, Set<String> changedKeys) {
        for (String k : changedKeys) {
            switch (k) {
                case "limits.memory":
                    g.cgroupWrites.remove("memory.max");
                    g.memoryBytes = configuredMemory(newExpanded); // hotplug or balloon
                    break;
                case "limits.processes":
                    g.cgroupWrites.remove("pids.max");
                    break;
                case "limits.cpu.allowance":
                    g.cgroupWrites.remove("cpu.max");
                    g.cgroupWrites.remove("cpu.weight");
                    break;
                case "limits.cpu":
                    g.cgroupWrites.remove("cpuset.cpus");
                    g.cpus = cpuCount(newExpanded); // CPU hotplug (VMs), the cpuset (containers)
                    break;
                default:
                    break;
            }
        }
    }
}
