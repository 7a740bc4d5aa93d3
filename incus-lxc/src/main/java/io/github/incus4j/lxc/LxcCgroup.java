package io.github.incus4j.lxc;

import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.internal.config.ConfigNumbers;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A running container's cgroup through liblxc ({@code get_cgroup_item}/{@code set_cgroup_item}). Keys are cgroup v2
 * names, as {@link CGroup} documents; on a cgroup v1 host they are translated to the v1 files
 * ({@code memory.max} → {@code memory.limit_in_bytes}, {@code cpu.max} → {@code cpu.cfs_quota_us} and
 * {@code cpu.cfs_period_us}...) and values to v2's form ({@code max} for no limit).
 */
final class LxcCgroup implements CGroup {
    /** What v1 reports for an unlimited memory cgroup: the largest page-aligned signed 64-bit value. */
    private static final long V1_UNLIMITED_MEMORY = 0x7FFFFFFFFFFFF000L;
    private static final boolean V1 = !Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));

    private final LxcContainerInstance instance;

    LxcCgroup(LxcContainerInstance instance) {
        this.instance = instance;
    }

    /** Whether this host runs cgroup v1 controllers (the v2 names are then translated). */
    static boolean isV1() {
        return V1;
    }

    @Override
    public String get(String key) {
        requireKey(key);
        if (!V1) {
            return read(key);
        }
        switch (key) {
            case "memory.max":
                return memoryLimit(read("memory.limit_in_bytes"));
            case "memory.current":
                return read("memory.usage_in_bytes");
            case "memory.peak":
                return read("memory.max_usage_in_bytes");
            case "memory.swap.max":
                return memoryLimit(read("memory.memsw.limit_in_bytes"));
            case "cpu.max": {
                long quota = Long.parseLong(read("cpu.cfs_quota_us").trim());
                String period = read("cpu.cfs_period_us").trim();
                return (quota < 0 ? "max" : Long.toString(quota)) + " " + period;
            }
            case "cpu.weight":
                // v1 shares (2..262144, default 1024) against v2 weight (1..10000, default 100), as systemd maps them.
                return Long.toString(Math.max(1, Long.parseLong(read("cpu.shares").trim()) * 100 / 1024));
            default:
                return read(key);
        }
    }

    @Override
    public void set(String key, String value) {
        requireKey(key);
        if (value == null) {
            throw new InvalidArgumentException("Invalid value null for cgroup key " + key);
        }
        if (!instance.isRunning()) {
            throw new InstanceStateException(ErrorTexts.CGROUP_STOPPED, instance.statusCode());
        }
        if (!V1) {
            write(key, value);
            return;
        }
        String v = value.trim();
        switch (key) {
            case "memory.max":
                write("memory.limit_in_bytes", v.equals("max") ? "-1" : v);
                break;
            case "memory.swap.max":
                write("memory.memsw.limit_in_bytes", v.equals("max") ? "-1" : v);
                break;
            case "cpu.max": {
                String[] parts = v.split("\\s+");
                if (parts.length == 2) {
                    write("cpu.cfs_period_us", parts[1]);
                }
                write("cpu.cfs_quota_us", parts[0].equals("max") ? "-1" : parts[0]);
                break;
            }
            case "cpu.weight":
                write("cpu.shares", Long.toString(Math.max(2, Long.parseLong(v) * 1024 / 100)));
                break;
            default:
                write(key, v);
        }
    }

    /**
     * Incus's {@code limits.cpu.allowance} and {@code limits.cpu.priority} as the host's own cgroup files and values
     * ({@code ParseCPU}): a percentage is a share of the full weight (1024 on v1 {@code cpu.shares}, 100 on v2
     * {@code cpu.weight}), {@code Xms/Yms} a hard quota over a period ({@code cpu.cfs_*} or {@code cpu.max}) at full
     * weight, and each step of priority below 10 takes one off the weight. Keys in the order to write them.
     */
    static Map<String, String> cpuAllowance(String allowance, String priority) {
        long full = V1 ? 1024 : 100;
        long weight = -(10 - (priority == null || priority.isEmpty() ? 10
                : ConfigNumbers.parseIntClamped("limits.cpu.priority", priority, 0, 10)));
        long quotaUs = -1;
        long periodUs = 100_000;
        if (allowance == null || allowance.isEmpty()) {
            weight += full;
        } else if (allowance.endsWith("%")) {
            weight += full * ConfigNumbers.parseIntClamped("limits.cpu.allowance",
                    allowance.substring(0, allowance.length() - 1), 0, 100) / 100;
        } else {
            String[] parts = allowance.split("/", 2);
            // Saturating: a huge quota must not wrap into a negative one (which the kernel reads as no limit).
            quotaUs = ConfigNumbers.multiplySaturated(ConfigNumbers.parseLong("limits.cpu.allowance", parts[0].replace("ms", "")),
                    1000);
            periodUs = ConfigNumbers.multiplySaturated(ConfigNumbers.parseLong("limits.cpu.allowance",
                    parts.length < 2 ? "" : parts[1].replace("ms", "")), 1000);
            weight += full;
        }
        // The kernel refuses 0: v1 shares start at 2, v2 weights at 1.
        weight = Math.max(V1 ? 2 : 1, weight);
        Map<String, String> out = new LinkedHashMap<>();
        if (V1) {
            out.put("cpu.shares", Long.toString(weight));
            out.put("cpu.cfs_period_us", Long.toString(periodUs));
            out.put("cpu.cfs_quota_us", Long.toString(quotaUs));
        } else {
            out.put("cpu.weight", Long.toString(weight));
            out.put("cpu.max", (quotaUs < 0 ? "max" : Long.toString(quotaUs)) + " " + periodUs);
        }
        return out;
    }

    private static String memoryLimit(String v1) {
        String t = v1.trim();
        return t.equals("-1") || Long.parseLong(t) >= V1_UNLIMITED_MEMORY ? "max" : t;
    }

    private static void requireKey(String key) {
        if (key == null || key.isEmpty() || key.contains("/") || key.contains("..")) {
            throw new InvalidArgumentException("Invalid cgroup key " + (key == null ? "null" : "\"" + key + "\""));
        }
    }

    private String read(String key) {
        return instance.cgroupRead(key);
    }

    private void write(String key, String value) {
        instance.cgroupWrite(key, value);
    }
}
