package io.github.incus4j.lxc;

import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.api.rest.ApiInstanceState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;

/**
 * What a running container reports, read from its cgroup and its init's {@code /proc} entries: the state Incus
 * renders (memory, CPU time, network, processes, start time) and the metrics ({@link LxcMetrics} for the cgroup's,
 * plus network, processes and boot time). A value that cannot be read counts as 0, as the container may stop while
 * it is read.
 */
final class LxcRunningState {
    private final LxcContainerInstance instance;

    LxcRunningState(LxcContainerInstance instance) {
        this.instance = instance;
    }

    ApiInstanceState state(StatusCode status) {
        int pid = instance.driverInitPid();
        if (pid <= 0) {
            return new ApiInstanceState(status.text(), status.code(), Map.of(), null, Map.of(), 0, 0, null, null,
                    null);
        }
        CGroup cg = instance.doCgroup();
        long usage = safeLong(cg::memoryUsage);
        long peak = Math.max(usage, parseOrZero(safeGet(cg, "memory.peak")));
        long limit = parseOrZero(safeGet(cg, "memory.max"));
        ApiInstanceState.Memory memory = new ApiInstanceState.Memory(usage, peak,
                limit > 0 ? limit : LxcLimits.hostMemory(), 0, 0);
        ApiInstanceState.Cpu cpu = new ApiInstanceState.Cpu(cpuNanos(), 0);
        return new ApiInstanceState(status.text(), status.code(), Map.of(), memory,
                NetnsState.read(Path.of("/proc", Integer.toString(pid)), LxcNics.hostNames(instance.expandedDevices(),
                        instance.localConfig())), pid,
                safeLong(cg::processes), cpu, startedAt(pid), null);
    }

    void collectMetrics(MetricSet set) {
        int pid = instance.driverInitPid();
        if (pid <= 0) {
            return;
        }
        CGroup cg = instance.doCgroup();
        long limit = parseOrZero(safeGet(cg, "memory.max"));
        new LxcMetrics(instance).collect(set, limit > 0 ? limit : LxcLimits.hostMemory(), safeLong(cg::memoryUsage));
        for (Map.Entry<String, long[]> e : NetnsState.netDev(Path.of("/proc", Integer.toString(pid))).entrySet()) {
            String dev = e.getKey();
            long[] f = e.getValue();
            set.add(MetricType.NETWORK_RECEIVE_BYTES_TOTAL, Sample.of(f[0], "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_PACKETS_TOTAL, Sample.of(f[1], "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_ERRS_TOTAL, Sample.of(f[2], "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_DROP_TOTAL, Sample.of(f[3], "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_BYTES_TOTAL, Sample.of(f[8], "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_PACKETS_TOTAL, Sample.of(f[9], "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_ERRS_TOTAL, Sample.of(f[10], "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_DROP_TOTAL, Sample.of(f[11], "device", dev));
        }
        set.add(MetricType.PROCS_TOTAL, Sample.of(safeLong(cg::processes)));
        Instant started = startedAt(pid);
        if (started != null) {
            set.add(MetricType.BOOT_TIME_SECONDS, Sample.of(started.toEpochMilli() / 1000.0));
        }
        set.add(MetricType.TIME_SECONDS, Sample.of(System.currentTimeMillis() / 1000.0));
    }

    private long cpuNanos() {
        return LxcCgroup.isV1() ? cgroupLong("cpuacct.usage") : parseStat(safeGet(instance.doCgroup(), "cpu.stat"),
                "usage_usec") * 1000;
    }

    private long cgroupLong(String key) {
        try {
            return Long.parseLong(instance.cgroupRead(key).trim());
        } catch (RuntimeException e) {
            return 0;
        }
    }

    private static long parseStat(String stat, String key) {
        for (String line : stat.split("\n")) {
            String[] kv = line.trim().split("\\s+");
            if (kv.length == 2 && kv[0].equals(key)) {
                return Long.parseLong(kv[1]);
            }
        }
        return 0;
    }

    private static String safeGet(CGroup cg, String key) {
        try {
            return cg.get(key);
        } catch (RuntimeException e) {
            return "";
        }
    }

    private static long parseOrZero(String v) {
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static long safeLong(java.util.function.LongSupplier s) {
        try {
            return s.getAsLong();
        } catch (RuntimeException e) {
            return 0;
        }
    }

    /** When the process {@code pid} started: boot time plus its start tick from {@code /proc/<pid>/stat}. */
    private static Instant startedAt(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long ticks = Long.parseLong(fields[19]); // field 22, starttime
            long btime = 0;
            for (String line : Trees.lines(Path.of("/proc/stat"))) {
                if (line.startsWith("btime ")) {
                    btime = Long.parseLong(line.substring(6).trim());
                }
            }
            // USER_HZ is 100 on every Linux ABI the JDK runs on.
            return Instant.ofEpochMilli(btime * 1000 + ticks * 10);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
