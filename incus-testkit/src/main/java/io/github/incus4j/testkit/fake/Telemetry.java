package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.rest.ApiInstanceState;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a running fake instance reports: its live state ({@code renderState}) and its metrics, both derived from the
 * {@link Guest}'s counters and the config ({@code limits.*}, NIC devices), so that equal inputs give equal numbers.
 */
final class Telemetry {
    private Telemetry() {
    }

    /**
     * The guest's network interfaces besides {@code lo}: one per NIC device it was given (name and MAC from the
     * device or its volatile keys, host side from {@code volatile.<dev>.host_name}), none without a NIC.
     */
    private static List<String[]> interfaces(FakeInstance i) {
        List<String[]> out = new ArrayList<>();
        for (Map.Entry<String, Device> e : i.devices().nics()) {
            Device d = e.getValue();
            String ifname = d.get("name") == null || d.get("name").isEmpty() ? "eth" + out.size() : d.get("name");
            String mac = d.get("hwaddr") == null || d.get("hwaddr").isEmpty() ? mac(i, ifname) : d.get("hwaddr");
            String host = i.localConfig().getOrDefault("volatile." + e.getKey() + ".host_name", "");
            String mtu = d.get("mtu") == null || d.get("mtu").isEmpty() ? "1500" : d.get("mtu");
            out.add(new String[] {ifname, mac, host, mtu});
        }
        return out;
    }

    /** A stable MAC in Incus's {@code 10:66:6a} range, from the instance and interface names. */
    private static String mac(FakeInstance i, String ifname) {
        int h = (i.name() + "/" + ifname).hashCode();
        return String.format("10:66:6a:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
    }

    /** The live part of a running instance's state ({@code g} null: it stopped meanwhile). */
    static ApiInstanceState state(FakeInstance i, Guest g, StatusCode st) {
        if (g == null) {
            return new ApiInstanceState(st.text(), st.code(), Map.of(), null, Map.of(), 0, 0, null, null, null);
        }
        long now = i.clockMillis();
        long usage = i.limits().memoryUsage(g, now);
        ApiInstanceState.Memory memory = new ApiInstanceState.Memory(usage, g.memoryPeak.get(), i.limits().memoryTotal(), 0, 0);
        ApiInstanceState.Cpu cpu = new ApiInstanceState.Cpu(g.cpuNanos(now), i.limits().cpuCount() * 1_000_000_000L);
        Map<String, ApiInstanceState.Network> net = new TreeMap<>();
        int index = 0;
        for (String[] nic : interfaces(i)) {
            long rx = g.rxBytes(now) >> index;
            long tx = g.txBytes(now) >> index;
            int h = Math.floorMod((i.name() + nic[0]).hashCode(), 250) + 2;
            net.put(nic[0], new ApiInstanceState.Network(List.of(
                    new ApiInstanceState.NetworkAddress("inet", "10.42." + (index + 1) + "." + h, "24", "global"),
                    new ApiInstanceState.NetworkAddress("inet6", linkLocal(nic[1]), "64", "link")),
                    counters(rx, tx), nic[1], nic[2], (int) Math.min(Long.parseLong(nic[3]), Integer.MAX_VALUE), "up", "broadcast"));
            index++;
        }
        long lo = g.loopbackBytes();
        net.put("lo", new ApiInstanceState.Network(List.of(
                new ApiInstanceState.NetworkAddress("inet", "127.0.0.1", "8", "local"),
                new ApiInstanceState.NetworkAddress("inet6", "::1", "128", "local")),
                counters(lo, lo), "", "", 65536, "up", "loopback"));
        ApiInstanceState.OsInfo os = i.type() == InstanceType.VM
                ? new ApiInstanceState.OsInfo("Fake Linux", "1.0", i.kernelRelease(), i.name(), i.name()) : null;
        return new ApiInstanceState(st.text(), st.code(), Map.of(), memory, net, g.pid, g.processes(), cpu,
                g.startedAt, os);
    }

    /** The EUI-64 link-local address of a MAC ({@code fe80::1266:6aff:feab:cdef}). */
    private static String linkLocal(String mac) {
        String[] b = mac.split(":");
        if (b.length != 6) {
            return "fe80::1";
        }
        int first = Integer.parseInt(b[0], 16) ^ 0x02;
        return String.format("fe80::%02x%s:%sff:fe%s:%s%s", first, b[1], b[2], b[3], b[4], b[5]);
    }

    private static String pidTag(Guest g, int index) {
        return Integer.toHexString(g.pid * 16 + index);
    }

    private static ApiInstanceState.NetworkCounters counters(long rx, long tx) {
        return new ApiInstanceState.NetworkCounters(rx, tx, (rx + 599) / 600, (tx + 599) / 600, 0, 0, 0, 0);
    }

    /** Adds a running instance's samples to {@code set} ({@code g} null: it stopped meanwhile, nothing to add). */
    static void metrics(FakeInstance i, Guest g, MetricSet set) {
        if (g == null) {
            return;
        }
        long now = i.clockMillis();
        int cpus = i.limits().cpuCount();
        double seconds = g.cpuNanos(now) / 1e9;
        for (int cpu = 0; cpu < cpus; cpu++) {
            set.add(MetricType.CPU_SECONDS_TOTAL,
                    Sample.of(seconds * 0.7 / cpus, "cpu", Integer.toString(cpu), "mode", "user"),
                    Sample.of(seconds * 0.3 / cpus, "cpu", Integer.toString(cpu), "mode", "system"));
        }
        set.add(MetricType.CPUS, Sample.of(cpus));
        long bytes = i.fsView().get().bytes();
        long size = i.limits().rootDiskSize() > 0 ? i.limits().rootDiskSize() : Math.max(10L << 30, bytes);
        String[] fsLabels = {"device", "root", "fstype", "tmpfs", "mountpoint", "/"};
        set.add(MetricType.FILESYSTEM_AVAIL_BYTES, Sample.of(size - bytes, fsLabels));
        set.add(MetricType.FILESYSTEM_FREE_BYTES, Sample.of(size - bytes, fsLabels));
        set.add(MetricType.FILESYSTEM_SIZE_BYTES, Sample.of(size, fsLabels));
        long total = i.limits().memoryTotal();
        long usage = i.limits().memoryUsage(g, now);
        long cache = i.limits().pageCache();
        long anon = usage - cache;
        set.add(MetricType.MEMORY_ACTIVE_ANON_BYTES, Sample.of(anon / 2));
        set.add(MetricType.MEMORY_ACTIVE_FILE_BYTES, Sample.of(cache / 2));
        set.add(MetricType.MEMORY_ACTIVE_BYTES, Sample.of(anon / 2 + cache / 2));
        set.add(MetricType.MEMORY_CACHED_BYTES, Sample.of(cache));
        set.add(MetricType.MEMORY_DIRTY_BYTES, Sample.of(0));
        set.add(MetricType.MEMORY_INACTIVE_ANON_BYTES, Sample.of(anon - anon / 2));
        set.add(MetricType.MEMORY_INACTIVE_FILE_BYTES, Sample.of(cache - cache / 2));
        set.add(MetricType.MEMORY_INACTIVE_BYTES, Sample.of(anon - anon / 2 + cache - cache / 2));
        set.add(MetricType.MEMORY_MAPPED_BYTES, Sample.of(cache / 4));
        set.add(MetricType.MEMORY_MEM_AVAILABLE_BYTES, Sample.of(total - usage + cache));
        set.add(MetricType.MEMORY_MEM_FREE_BYTES, Sample.of(total - usage));
        set.add(MetricType.MEMORY_MEM_TOTAL_BYTES, Sample.of(total));
        set.add(MetricType.MEMORY_RSS_BYTES, Sample.of(anon));
        set.add(MetricType.MEMORY_SHMEM_BYTES, Sample.of(0));
        set.add(MetricType.MEMORY_SWAP_BYTES, Sample.of(0));
        set.add(MetricType.MEMORY_UNEVICTABLE_BYTES, Sample.of(0));
        set.add(MetricType.MEMORY_WRITEBACK_BYTES, Sample.of(0));
        set.add(MetricType.MEMORY_OOM_KILLS_TOTAL, Sample.of(0));
        int index = 0;
        for (String[] nic : interfaces(i)) {
            network(set, nic[0], g.rxBytes(now) >> index, g.txBytes(now) >> index);
            index++;
        }
        network(set, "lo", g.loopbackBytes(), g.loopbackBytes());
        set.add(MetricType.PROCS_TOTAL, Sample.of(g.processes()));
        set.add(MetricType.BOOT_TIME_SECONDS, Sample.of(g.startMillis / 1000.0));
        set.add(MetricType.TIME_SECONDS, Sample.of(now / 1000.0));
    }

    private static void network(MetricSet set, String dev, long rx, long tx) {
        set.add(MetricType.NETWORK_RECEIVE_BYTES_TOTAL, Sample.of(rx, "device", dev));
        set.add(MetricType.NETWORK_RECEIVE_DROP_TOTAL, Sample.of(0, "device", dev));
        set.add(MetricType.NETWORK_RECEIVE_ERRS_TOTAL, Sample.of(0, "device", dev));
        set.add(MetricType.NETWORK_RECEIVE_PACKETS_TOTAL, Sample.of((rx + 599) / 600, "device", dev));
        set.add(MetricType.NETWORK_TRANSMIT_BYTES_TOTAL, Sample.of(tx, "device", dev));
        set.add(MetricType.NETWORK_TRANSMIT_DROP_TOTAL, Sample.of(0, "device", dev));
        set.add(MetricType.NETWORK_TRANSMIT_ERRS_TOTAL, Sample.of(0, "device", dev));
        set.add(MetricType.NETWORK_TRANSMIT_PACKETS_TOTAL, Sample.of((tx + 599) / 600, "device", dev));
    }

}
