package io.github.incus4j.testkit.fake;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The few kernel files a test reads to see what the guest has, generated from the running guest (not from the
 * instance's config): {@code /proc/meminfo} and {@code /sys/devices/system/cpu/online}. A VM's memory and CPUs
 * change only when a live update is applied to the guest, so a test reading these sees whether it was.
 */
final class ProcFs {
    private ProcFs() {
    }

    /** The content of the kernel file at {@code path} (relative to {@code cwd}), or {@code null} for other paths. */
    static byte[] read(FakeInstance instance, String cwd, String path) {
        String canonical = "/" + String.join("/", MemFs.split(cwd, path));
        Guest g = instance.guest();
        if (g == null) {
            return null;
        }
        switch (canonical) {
            case "/proc/meminfo": {
                long totalKb = instance.limits().memoryTotal() / 1024;
                long usedKb = instance.limits().memoryUsage(g, instance.clockMillis()) / 1024;
                long cacheKb = instance.limits().pageCache() / 1024;
                return utf8(String.join("\n", List.of(
                        row("MemTotal", totalKb), row("MemFree", Math.max(0, totalKb - usedKb - cacheKb)),
                        row("MemAvailable", Math.max(0, totalKb - usedKb)), row("Buffers", 0),
                        row("Cached", cacheKb), row("SwapCached", 0), row("SwapTotal", 0), row("SwapFree", 0),
                        row("Shmem", Tmpfs.take(instance.root(), 0).bytes() / 1024))) + "\n");
            }
            case "/sys/devices/system/cpu/online":
                return utf8(g.cpus <= 1 ? "0\n" : "0-" + (g.cpus - 1) + "\n");
            default:
                return null;
        }
    }

    private static String row(String key, long kb) {
        return String.format("%-16s%8d kB", key + ":", kb);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
