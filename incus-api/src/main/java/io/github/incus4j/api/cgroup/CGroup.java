package io.github.incus4j.api.cgroup;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.OptionalLong;
import org.apiguardian.api.API;

/**
 * A running instance's cgroup ({@code cgroup.CGroup}), addressed with cgroup v2 file names ({@code memory.max},
 * {@code cpu.max}, {@code pids.max}, {@code memory.current}...) whatever the host runs; drivers translate for v1
 * hosts. Setting on a stopped container fails with {@code Can't set cgroups on a stopped container}.
 */
@API(status = EXPERIMENTAL)
public interface CGroup {
    /** Reads a cgroup file, e.g. {@code get("memory.max")} gives {@code "max"} or a byte count. */
    String get(String key);

    /** Writes a cgroup file. */
    void set(String key, String value);

    /** {@code memory.max} in bytes, empty for no limit. */
    default OptionalLong memoryLimit() {
        return parseLimit(get("memory.max"));
    }

    /** Sets {@code memory.max} ({@code -1} removes the limit). */
    default void setMemoryLimit(long bytes) {
        set("memory.max", bytes < 0 ? "max" : Long.toString(bytes));
    }

    /** {@code memory.current} in bytes. */
    default long memoryUsage() {
        return Long.parseLong(get("memory.current").trim());
    }

    /** {@code pids.max}, empty for no limit. */
    default OptionalLong maxProcesses() {
        return parseLimit(get("pids.max"));
    }

    /** Sets {@code pids.max} ({@code -1} removes the limit). */
    default void setMaxProcesses(long max) {
        set("pids.max", max < 0 ? "max" : Long.toString(max));
    }

    /** {@code pids.current}. */
    default long processes() {
        return Long.parseLong(get("pids.current").trim());
    }

    private static OptionalLong parseLimit(String v) {
        String s = v.trim();
        return s.equals("max") ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(s));
    }
}
