package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.internal.config.ConfigNumbers;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.util.Set;

/**
 * A fake container's cgroup v2 view: limits derived from the config ({@code limits.memory} → {@code memory.max},
 * {@code limits.processes} → {@code pids.max}, {@code limits.cpu.allowance} in time form → {@code cpu.max},
 * {@code limits.cpu} → {@code cpuset.cpus}), usage from the simulated guest, and values written with
 * {@link #set} (until the config key behind them changes or the container stops). Limits are reported, not
 * enforced.
 */
final class FakeCgroup implements CGroup {
    private static final Set<String> WRITABLE = Set.of("memory.max", "memory.high", "memory.low", "memory.min",
            "memory.swap.max", "pids.max", "cpu.max", "cpu.weight", "cpuset.cpus");

    private final FakeInstance instance;

    FakeCgroup(FakeInstance instance) {
        this.instance = instance;
    }

    @Override
    public String get(String key) {
        Guest g = instance.guest();
        if (g == null) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, instance.statusCode());
        }
        String written = g.cgroupWrites.get(key);
        if (written != null) {
            return written;
        }
        long now = instance.clockMillis();
        switch (key) {
            case "memory.max": {
                long limit = instance.limits().memoryLimitOrZero();
                return limit > 0 ? Long.toString(limit) : "max";
            }
            case "memory.high":
            case "memory.swap.max":
                return "max";
            case "memory.low":
            case "memory.min":
            case "memory.swap.current":
                return "0";
            case "memory.current":
                return Long.toString(instance.limits().memoryUsage(g, now));
            case "memory.peak":
                return Long.toString(Math.max(g.memoryPeak.get(), instance.limits().memoryUsage(g, now)));
            case "memory.stat": {
                long usage = instance.limits().memoryUsage(g, now);
                long file = instance.limits().pageCache();
                return "anon " + (usage - file) + "\nfile " + file + "\nshmem 0\nfile_mapped " + file / 4
                        + "\nfile_dirty 0\nfile_writeback 0\nactive_anon " + (usage - file) / 2 + "\ninactive_anon "
                        + (usage - file) / 2 + "\nactive_file " + file / 2 + "\ninactive_file " + file / 2
                        + "\nunevictable 0\n";
            }
            case "memory.events":
                return "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n";
            case "pids.max": {
                String v = instance.expandedConfig().get("limits.processes");
                return v == null || v.isEmpty() ? "max" : v;
            }
            case "pids.current":
                return Integer.toString(g.processes());
            case "cpu.max":
                return cpuMax(instance.expandedConfig().get("limits.cpu.allowance"));
            case "cpu.weight":
                return "100";
            case "cpu.stat": {
                long usec = g.cpuNanos(now) / 1000;
                return "usage_usec " + usec + "\nuser_usec " + usec * 7 / 10 + "\nsystem_usec " + (usec - usec * 7 / 10)
                        + "\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n";
            }
            case "cpuset.cpus":
            case "cpuset.cpus.effective":
                return "0-" + (instance.limits().cpuCount() - 1);
            default:
                throw new NotFoundException("Cgroup file " + ErrorTexts.quote(key) + " not found");
        }
    }

    /** Incus's hard CPU limit: {@code 25ms/100ms} → {@code 25000 100000}; percentages are soft (weight). */
    private static String cpuMax(String allowance) {
        if (allowance != null && allowance.contains("/")) {
            String[] parts = allowance.split("/");
            try {
                long quota = ConfigNumbers.multiplySaturated(
                        ConfigNumbers.parseLong("limits.cpu.allowance", parts[0].replace("ms", "")), 1000);
                long period = ConfigNumbers.multiplySaturated(
                        ConfigNumbers.parseLong("limits.cpu.allowance", parts[1].replace("ms", "")), 1000);
                return quota + " " + period;
            } catch (InvalidArgumentException e) {
                return "max 100000";
            }
        }
        return "max 100000";
    }

    @Override
    public void set(String key, String value) {
        Guest g = instance.guest();
        if (g == null) {
            throw new InstanceStateException(ErrorTexts.CGROUP_STOPPED, instance.statusCode());
        }
        if (!WRITABLE.contains(key)) {
            get(key); // unknown keys: not found
            throw new InvalidArgumentException("Cgroup file " + ErrorTexts.quote(key) + " is read-only");
        }
        String v = value == null ? "" : value.trim();
        if (!valid(key, v)) {
            throw new InvalidArgumentException("Invalid value " + ErrorTexts.quote(v) + " for cgroup file "
                    + ErrorTexts.quote(key));
        }
        g.cgroupWrites.put(key, v);
    }

    private static boolean valid(String key, String v) {
        switch (key) {
            case "cpu.max":
                return v.matches("(max|\\d+)( \\d+)?");
            case "cpu.weight":
                return v.matches("\\d+") && Long.parseLong(v) >= 1 && Long.parseLong(v) <= 10000;
            case "cpuset.cpus":
                return v.matches("[0-9,\\-]*");
            default:
                return v.equals("max") || v.matches("\\d{1,18}");
        }
    }
}
