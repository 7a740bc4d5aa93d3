package io.github.incus4j.lxc;

import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.internal.config.ConfigNumbers;
import io.github.incus4j.api.internal.config.ConfigValues;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code limits.*} keys as cgroup settings: lines of liblxc's config, applied at start, and writes to the running
 * container's cgroup when a live update changes them. Memory as bytes (a percentage of the host's memory allowed),
 * processes as {@code pids.max}, a CPU count as a cpuset of the first host CPUs, allowance and priority through
 * {@link LxcCgroup#cpuAllowance}.
 */
final class LxcLimits {
    private LxcLimits() {
    }

    /** {@code limits.*} as lxc cgroup settings applied at start. */
    static void configLines(Map<String, String> config, List<String> lines) {
        String prefix = LxcCgroup.isV1() ? "lxc.cgroup." : "lxc.cgroup2.";
        String memory = memoryBytes(config.get("limits.memory"));
        if (memory != null) {
            lines.add(prefix + (LxcCgroup.isV1() ? "memory.limit_in_bytes" : "memory.max") + " = " + memory);
        }
        String procs = config.get("limits.processes");
        if (procs != null && !procs.isEmpty()) {
            lines.add(prefix + "pids.max = " + pidsMax(procs));
        }
        String cpus = cpuSet(config.get("limits.cpu"));
        if (cpus != null) {
            lines.add(prefix + "cpuset.cpus = " + cpus);
        }
        if (config.containsKey("limits.cpu.allowance") || config.containsKey("limits.cpu.priority")) {
            LxcCgroup.cpuAllowance(config.get("limits.cpu.allowance"), config.get("limits.cpu.priority"))
                    .forEach((file, value) -> lines.add(prefix + file + " = " + value));
        }
    }

    /** Applies the changed {@code limits.*} keys of a live update to the running container {@code c}'s cgroup. */
    static void applyLive(LxcContainerInstance c, Map<String, String> newExpanded, Set<String> changedKeys) {
        CGroup cg = c.doCgroup();
        for (String k : changedKeys) {
            switch (k) {
                case "limits.memory": {
                    String bytes = memoryBytes(newExpanded.get(k));
                    cg.set("memory.max", bytes == null ? "max" : bytes);
                    break;
                }
                case "limits.processes": {
                    String v = newExpanded.get(k);
                    cg.set("pids.max", v == null || v.isEmpty() ? "max" : pidsMax(v));
                    break;
                }
                case "limits.cpu": {
                    String set = cpuSet(newExpanded.get(k));
                    String all = "0-" + (Runtime.getRuntime().availableProcessors() - 1);
                    cg.set("cpuset.cpus", set == null ? all : set);
                    break;
                }
                case "limits.cpu.allowance":
                case "limits.cpu.priority":
                    LxcCgroup.cpuAllowance(newExpanded.get("limits.cpu.allowance"),
                            newExpanded.get("limits.cpu.priority")).forEach(c::cgroupWrite);
                    break;
                default:
                    break;
            }
        }
    }

    /** {@code limits.memory} in bytes (a percentage of the host's memory allowed), null when unset. */
    private static String memoryBytes(String v) {
        if (v == null || v.isEmpty()) {
            return null;
        }
        if (v.endsWith("%")) {
            long total = hostMemory();
            return Long.toString((long) (total * Double.parseDouble(v.substring(0, v.length() - 1)) / 100));
        }
        return Long.toString(ConfigValues.parseByteSize(v));
    }

    /** {@code limits.cpu} as a cpuset: a count {@code n} pins to the first n host CPUs (Incus balances them). */
    private static String cpuSet(String v) {
        if (v == null || v.isEmpty() || v.contains("=")) {
            return null;
        }
        if (v.matches("\\d+")) {
            int n = ConfigNumbers.parseIntClamped("limits.cpu", v, 1, Runtime.getRuntime().availableProcessors());
            return n <= 1 ? "0" : "0-" + (n - 1);
        }
        return v;
    }

    /** {@code limits.processes} for {@code pids.max}: Incus's -1 is the kernel's {@code max}. */
    private static String pidsMax(String v) {
        return ConfigNumbers.parseLong("limits.processes", v) < 0 ? "max" : v.trim();
    }

    /** The host's memory in bytes ({@code MemTotal} of {@code /proc/meminfo}), 0 when unknown. */
    static long hostMemory() {
        for (String line : Trees.lines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemTotal:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        }
        return 0;
    }
}
