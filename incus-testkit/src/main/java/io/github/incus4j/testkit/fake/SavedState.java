package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.InvalidArgumentException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The simulated memory state a stateful stop, a stateful snapshot or a live migration keeps (what CRIU or QEMU's
 * migration stream hold for the real drivers): the counters of the guest. Running commands are not part of it
 * (they are Java threads; a stateful stop ends them with status 137). Text form: {@code key=value} lines.
 */
record SavedState(long cpuNanos, long rxBytes, long txBytes, long loopbackBytes, long execs, long memoryPeak) {
    static final SavedState ZERO = new SavedState(0, 0, 0, 0, 0, 0);

    byte[] encode() {
        return ("format=incus4j-fake-state-1\ncpu_ns=" + cpuNanos + "\nrx_bytes=" + rxBytes + "\ntx_bytes=" + txBytes
                + "\nlo_bytes=" + loopbackBytes + "\nexecs=" + execs + "\nmemory_peak=" + memoryPeak + "\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    static SavedState decode(byte[] bytes) {
        Map<String, String> m = new HashMap<>();
        for (String line : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                m.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        if (!"incus4j-fake-state-1".equals(m.get("format"))) {
            throw new InvalidArgumentException("Invalid saved state: not written by the fake driver");
        }
        try {
            return new SavedState(Long.parseLong(m.get("cpu_ns")), Long.parseLong(m.get("rx_bytes")),
                    Long.parseLong(m.get("tx_bytes")), Long.parseLong(m.get("lo_bytes")),
                    Long.parseLong(m.get("execs")), Long.parseLong(m.get("memory_peak")));
        } catch (NumberFormatException | NullPointerException e) {
            throw new InvalidArgumentException("Invalid saved state: " + e.getMessage(), e);
        }
    }
}
