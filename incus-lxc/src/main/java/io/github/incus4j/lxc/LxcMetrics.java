package io.github.incus4j.lxc;

import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A running container's metrics under Incus's names, from its cgroup (v1 or v2 files, read through liblxc) and the
 * filesystem of its rootfs, as Incus's lxc driver gathers them: CPU time per CPU and mode, effective CPUs, the
 * {@code memory.stat} breakdown with total/free/available against the limit, swap, OOM kills, block I/O per device,
 * and the root filesystem's size. Missing files (a controller not mounted, an older kernel) leave their metrics out.
 */
final class LxcMetrics {
    /** {@code memory.stat} keys, as Incus normalises them across v1 ({@code total_*}) and v2, to metric types. */
    private static final Map<String, MetricType> MEMORY = Map.ofEntries(
            Map.entry("active_anon", MetricType.MEMORY_ACTIVE_ANON_BYTES),
            Map.entry("active_file", MetricType.MEMORY_ACTIVE_FILE_BYTES),
            Map.entry("inactive_anon", MetricType.MEMORY_INACTIVE_ANON_BYTES),
            Map.entry("inactive_file", MetricType.MEMORY_INACTIVE_FILE_BYTES),
            Map.entry("unevictable", MetricType.MEMORY_UNEVICTABLE_BYTES),
            Map.entry("writeback", MetricType.MEMORY_WRITEBACK_BYTES),
            Map.entry("dirty", MetricType.MEMORY_DIRTY_BYTES),
            Map.entry("mapped", MetricType.MEMORY_MAPPED_BYTES),
            Map.entry("rss", MetricType.MEMORY_RSS_BYTES),
            Map.entry("shmem", MetricType.MEMORY_SHMEM_BYTES),
            Map.entry("cache", MetricType.MEMORY_CACHED_BYTES));
    /** v2's names for the keys v1 (and Incus) call otherwise. */
    private static final Map<String, String> V2_NAMES = Map.of("anon", "rss", "file", "cache", "file_mapped",
            "mapped", "file_dirty", "dirty", "file_writeback", "writeback");

    private final LxcContainerInstance container;
    private final boolean v1 = LxcCgroup.isV1();

    LxcMetrics(LxcContainerInstance container) {
        this.container = container;
    }

    void collect(MetricSet set, long memoryLimit, long memoryUsage) {
        cpu(set);
        read(v1 ? "cpuset.effective_cpus" : "cpuset.cpus.effective")
                .ifPresentOrElse(cpus -> set.add(MetricType.CPUS, Sample.of(countCpus(cpus))),
                        () -> set.add(MetricType.CPUS, Sample.of(Runtime.getRuntime().availableProcessors())));
        memory(set, memoryLimit, memoryUsage);
        disk(set);
        filesystem(set);
    }

    private void cpu(MetricSet set) {
        Optional<String> perCpu = v1 ? read("cpuacct.usage_all") : Optional.empty();
        if (perCpu.isPresent()) {
            // "cpu user system" then one line of nanoseconds per CPU.
            for (String line : perCpu.get().split("\n")) {
                String[] f = line.trim().split("\\s+");
                if (f.length == 3 && f[0].matches("\\d+")) {
                    set.add(MetricType.CPU_SECONDS_TOTAL, Sample.of(Long.parseLong(f[1]) / 1e9, "cpu", f[0], "mode",
                            "user"));
                    set.add(MetricType.CPU_SECONDS_TOTAL, Sample.of(Long.parseLong(f[2]) / 1e9, "cpu", f[0], "mode",
                            "system"));
                }
            }
            return;
        }
        Map<String, Long> stat = keyValues(read(v1 ? "cpuacct.stat" : "cpu.stat").orElse(""));
        // v1's cpuacct.stat counts USER_HZ ticks (100 a second on every Linux ABI), v2's cpu.stat microseconds.
        double unit = v1 ? 100 : 1e6;
        String user = v1 ? "user" : "user_usec";
        String system = v1 ? "system" : "system_usec";
        if (stat.containsKey(user)) {
            set.add(MetricType.CPU_SECONDS_TOTAL, Sample.of(stat.get(user) / unit, "cpu", "0", "mode", "user"));
            set.add(MetricType.CPU_SECONDS_TOTAL, Sample.of(stat.getOrDefault(system, 0L) / unit, "cpu", "0",
                    "mode", "system"));
        }
    }

    private void memory(MetricSet set, long limit, long usage) {
        Map<String, Long> raw = keyValues(read("memory.stat").orElse(""));
        Map<String, Long> stats = new HashMap<>();
        raw.forEach((k, v) -> {
            String key = v1 ? (k.startsWith("total_") ? k.substring(6) : null) : V2_NAMES.getOrDefault(k, k);
            if (key != null) {
                stats.put(key.equals("mapped_file") ? "mapped" : key, v);
            }
        });
        MEMORY.forEach((key, type) -> {
            Long v = stats.get(key);
            if (v != null) {
                set.add(type, Sample.of(v));
            }
        });
        if (stats.containsKey("active_anon") || stats.containsKey("active_file")) {
            set.add(MetricType.MEMORY_ACTIVE_BYTES, Sample.of(stats.getOrDefault("active_anon", 0L)
                    + stats.getOrDefault("active_file", 0L)));
            set.add(MetricType.MEMORY_INACTIVE_BYTES, Sample.of(stats.getOrDefault("inactive_anon", 0L)
                    + stats.getOrDefault("inactive_file", 0L)));
        }
        set.add(MetricType.MEMORY_MEM_TOTAL_BYTES, Sample.of(limit));
        set.add(MetricType.MEMORY_MEM_FREE_BYTES, Sample.of(Math.max(0, limit - usage)));
        set.add(MetricType.MEMORY_MEM_AVAILABLE_BYTES, Sample.of(Math.max(0, limit - usage
                + stats.getOrDefault("cache", 0L))));
        if (v1) {
            read("memory.memsw.usage_in_bytes").ifPresent(memsw -> set.add(MetricType.MEMORY_SWAP_BYTES,
                    Sample.of(Math.max(0, Long.parseLong(memsw.trim()) - usage))));
        } else {
            read("memory.swap.current").ifPresent(s -> set.add(MetricType.MEMORY_SWAP_BYTES,
                    Sample.of(Long.parseLong(s.trim()))));
        }
        Map<String, Long> oom = keyValues(read(v1 ? "memory.oom_control" : "memory.events").orElse(""));
        if (oom.containsKey("oom_kill")) {
            set.add(MetricType.MEMORY_OOM_KILLS_TOTAL, Sample.of(oom.get("oom_kill")));
        }
    }

    /** Bytes and operations per block device: v1 blkio's recursive throttle counters, v2's {@code io.stat}. */
    private void disk(MetricSet set) {
        Map<String, long[]> perDevice = new TreeMap<>(); // read bytes, reads, written bytes, writes
        if (v1) {
            blkio(read("blkio.throttle.io_service_bytes_recursive").orElse(""), perDevice, 0);
            blkio(read("blkio.throttle.io_serviced_recursive").orElse(""), perDevice, 1);
        } else {
            for (String line : read("io.stat").orElse("").split("\n")) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 2) {
                    continue;
                }
                Map<String, Long> kv = new HashMap<>();
                for (int i = 1; i < f.length; i++) {
                    String[] p = f[i].split("=", 2);
                    if (p.length == 2 && p[1].matches("\\d+")) {
                        kv.put(p[0], Long.parseLong(p[1]));
                    }
                }
                perDevice.put(f[0], new long[] {kv.getOrDefault("rbytes", 0L), kv.getOrDefault("rios", 0L),
                    kv.getOrDefault("wbytes", 0L), kv.getOrDefault("wios", 0L)});
            }
        }
        perDevice.forEach((majorMinor, n) -> {
            String device = deviceName(majorMinor);
            set.add(MetricType.DISK_READ_BYTES_TOTAL, Sample.of(n[0], "device", device));
            set.add(MetricType.DISK_READS_COMPLETED_TOTAL, Sample.of(n[1], "device", device));
            set.add(MetricType.DISK_WRITTEN_BYTES_TOTAL, Sample.of(n[2], "device", device));
            set.add(MetricType.DISK_WRITES_COMPLETED_TOTAL, Sample.of(n[3], "device", device));
        });
    }

    /** Lines {@code major:minor Read|Write|... N} into slot {@code offset} (bytes) or {@code offset} (ops) + 2. */
    private static void blkio(String text, Map<String, long[]> into, int offset) {
        for (String line : text.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 3 && f[0].contains(":") && f[2].matches("\\d+")) {
                long[] n = into.computeIfAbsent(f[0], k -> new long[4]);
                if (f[1].equals("Read")) {
                    n[offset] += Long.parseLong(f[2]);
                } else if (f[1].equals("Write")) {
                    n[offset + 2] += Long.parseLong(f[2]);
                }
            }
        }
    }

    /** The kernel's name of a block device ({@code DEVNAME} of its uevent), else its {@code major:minor}. */
    private static String deviceName(String majorMinor) {
        for (String line : Trees.lines(Path.of("/sys/dev/block", majorMinor, "uevent"))) {
            if (line.startsWith("DEVNAME=")) {
                return line.substring(8);
            }
        }
        return majorMinor;
    }

    /** The root disk: the filesystem holding the rootfs (Incus: the storage volume mounted at {@code /}). */
    private void filesystem(MetricSet set) {
        try {
            FileStore fs = Files.getFileStore(container.rootfsPath());
            String[] labels = {"device", fs.name(), "fstype", fs.type(), "mountpoint", "/"};
            set.add(MetricType.FILESYSTEM_SIZE_BYTES, Sample.of(fs.getTotalSpace(), labels));
            set.add(MetricType.FILESYSTEM_AVAIL_BYTES, Sample.of(fs.getUsableSpace(), labels));
            set.add(MetricType.FILESYSTEM_FREE_BYTES, Sample.of(fs.getUnallocatedSpace(), labels));
        } catch (IOException e) {
            System.getLogger(LxcMetrics.class.getName()).log(System.Logger.Level.DEBUG,
                    "No filesystem metrics for " + container.name(), e);
        }
    }

    /** {@code 0-3,6} → 5. */
    static int countCpus(String list) {
        int n = 0;
        for (String part : list.trim().split(",")) {
            if (part.isEmpty()) {
                continue;
            }
            int dash = part.indexOf('-');
            n += dash < 0 ? 1 : Integer.parseInt(part.substring(dash + 1)) - Integer.parseInt(part.substring(0, dash))
                    + 1;
        }
        return n;
    }

    /** {@code key value} lines (memory.stat, cpu.stat, memory.events...). */
    private static Map<String, Long> keyValues(String text) {
        Map<String, Long> out = new HashMap<>();
        for (String line : text.split("\n")) {
            String[] kv = line.trim().split("\\s+");
            if (kv.length == 2 && kv[1].matches("\\d+")) {
                out.put(kv[0], Long.parseLong(kv[1]));
            }
        }
        return out;
    }

    private Optional<String> read(String file) {
        try {
            return Optional.of(container.cgroupRead(file));
        } catch (RuntimeException absent) {
            return Optional.empty();
        }
    }
}
