package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The simulated memory state a stateful stop, a stateful snapshot or a live migration keeps (what CRIU or QEMU's
 * migration stream hold for the real drivers): the counters of the guest and its tmpfs ({@code /dev/shm}, see
 * {@link Tmpfs}; {@code null} when none was saved). Running commands are not part of it (they are Java threads; a
 * stateful stop ends them with status 137). Text form: {@code key=value} lines.
 */
record SavedState(long cpuNanos, long rxBytes, long txBytes, long loopbackBytes, long execs, long memoryPeak,
        Dir shm) {
    static final SavedState ZERO = new SavedState(0, 0, 0, 0, 0, 0, null);

    /** This state with {@code tmpfs} as the guest's {@code /dev/shm}. */
    SavedState withShm(Dir tmpfs) {
        return new SavedState(cpuNanos, rxBytes, txBytes, loopbackBytes, execs, memoryPeak, tmpfs);
    }

    byte[] encode() {
        StringBuilder s = new StringBuilder("format=incus4j-fake-state-1\ncpu_ns=" + cpuNanos + "\nrx_bytes=" + rxBytes
                + "\ntx_bytes=" + txBytes + "\nlo_bytes=" + loopbackBytes + "\nexecs=" + execs + "\nmemory_peak="
                + memoryPeak + "\n");
        if (shm != null) {
            for (String line : Tmpfs.encode(shm)) {
                s.append("shm=").append(line).append('\n');
            }
        }
        return s.toString().getBytes(StandardCharsets.UTF_8);
    }

    static SavedState decode(byte[] bytes) {
        Map<String, String> m = new HashMap<>();
        List<String> shm = new ArrayList<>();
        for (String line : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                if (line.startsWith("shm=")) {
                    shm.add(line.substring(eq + 1));
                } else {
                    m.put(line.substring(0, eq), line.substring(eq + 1));
                }
            }
        }
        if (!"incus4j-fake-state-1".equals(m.get("format"))) {
            throw new InvalidArgumentException("Invalid saved state: not written by the fake driver");
        }
        try {
            return new SavedState(Long.parseLong(m.get("cpu_ns")), Long.parseLong(m.get("rx_bytes")),
                    Long.parseLong(m.get("tx_bytes")), Long.parseLong(m.get("lo_bytes")),
                    Long.parseLong(m.get("execs")), Long.parseLong(m.get("memory_peak")), Tmpfs.decode(shm));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new InvalidArgumentException("Invalid saved state: " + e.getMessage(), e);
        }
    }
}
