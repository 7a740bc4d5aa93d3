package io.github.incus4j.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * What a running VM looks like from outside: its state (QEMU's memory and CPU time from {@code /proc}, the guest's OS
 * and network as its agent reports them, else the host's view of the NICs) and Incus's QEMU-side metrics (vCPU time
 * per vCPU thread, memory, the disks' block statistics, NIC counters). Reads only: QMP queries, the guest agent and
 * {@code /proc}. Made for one call from the VM's current config and its machine.
 */
final class VmStateView {
    // The messages keep the logger of QemuVm, whose code this was.
    private static final System.Logger LOG = System.getLogger(QemuVm.class.getName());
    private static final Duration AGENT_RETRY = Duration.ofSeconds(10);

    private final QemuVm vm;
    private final Machine m;
    private final long memoryBytes;

    /** {@code memoryBytes}: the VM's {@code limits.memory} in bytes. */
    VmStateView(QemuVm vm, Machine m, long memoryBytes) {
        this.vm = vm;
        this.m = m;
        this.memoryBytes = memoryBytes;
    }

    ApiInstanceState state(StatusCode status) {
        int pid = m.process.pid();
        long rss = procStatusKb(pid, "VmRSS") * 1024;
        ApiInstanceState.Memory memory = new ApiInstanceState.Memory(rss, 0, memoryBytes, 0, 0);
        ApiInstanceState.Cpu cpu = new ApiInstanceState.Cpu(processCpuNanos(pid), 0);
        GuestAgentClient agent = stateAgent();
        ApiInstanceState.OsInfo os = null;
        Map<String, ApiInstanceState.Network> network = null;
        if (agent != null && status == StatusCode.RUNNING) {
            try {
                os = GuestInfo.osInfo(agent);
                network = GuestInfo.network(agent);
            } catch (IncusException e) {
                LOG.log(System.Logger.Level.DEBUG, "Agent of {0} did not answer: {1}", vm.name(), e.getMessage());
            }
        }
        Map<String, Device> devices = vm.expandedDevices().map();
        network = network == null || network.isEmpty() ? VmNics.hostView(devices, k -> vm.localConfig().get(k))
                : VmNics.guestView(network, devices, k -> vm.localConfig().get(k));
        return new ApiInstanceState(status.text(), status.code(), Map.of(), memory, network, pid, -1, cpu,
                m.startedAt, os);
    }

    /**
     * The agent for the state and metrics: the connected one, else a connection attempt (bounded by
     * {@code Machine}'s probe, 2 s) at most every {@link #AGENT_RETRY}, so that the guest's view shows without an
     * exec first and a guest without an agent does not slow every call down.
     */
    private GuestAgentClient stateAgent() {
        GuestAgentClient a = m.connectedAgent();
        if (a != null || System.nanoTime() - m.nextAgentProbe < 0) {
            return a;
        }
        try {
            return m.agent(Duration.ZERO);
        } catch (IncusException e) {
            m.nextAgentProbe = System.nanoTime() + AGENT_RETRY.toNanos();
            return null;
        }
    }

    /**
     * Incus's QEMU-side metrics: vCPU time per vCPU thread, memory from QEMU's RSS against the limit, the root
     * disk's block statistics, the NIC (its counters when the agent reports them), procs 0, boot and current time.
     */
    void metrics(MetricSet set) {
        int pid = m.process.pid();
        int cpuIndex = 0;
        for (JsonNode c : m.qmp.execute("query-cpus-fast")) {
            long[] t = threadTimes(pid, c.path("thread-id").asInt());
            String cpu = Integer.toString(c.path("cpu-index").asInt(cpuIndex++));
            set.add(MetricType.CPU_SECONDS_TOTAL, Sample.of(Math.max(0, t[0] - t[2]) / 100.0, "cpu", cpu, "mode",
                    "user"));
            set.add(MetricType.CPU_SECONDS_TOTAL, Sample.of(t[1] / 100.0, "cpu", cpu, "mode", "system"));
        }
        set.add(MetricType.CPUS, Sample.of(VmCommandLine.cpus(vm.expandedConfig())));
        long total = memoryBytes;
        long rss = procStatusKb(pid, "VmRSS") * 1024;
        set.add(MetricType.MEMORY_MEM_TOTAL_BYTES, Sample.of(total));
        set.add(MetricType.MEMORY_MEM_FREE_BYTES, Sample.of(Math.max(0, total - rss)));
        set.add(MetricType.MEMORY_MEM_AVAILABLE_BYTES, Sample.of(Math.max(0, total - rss)));
        set.add(MetricType.MEMORY_RSS_BYTES, Sample.of(rss));
        for (JsonNode b : m.qmp.execute("query-blockstats")) {
            JsonNode s = b.path("stats");
            String dev = b.path("qdev").asText("root");
            java.util.regex.Matcher dm = java.util.regex.Pattern.compile("dev-incus_([^/]+)").matcher(dev);
            dev = dm.find() ? dm.group(1) : dev; // Incus labels a disk with its device's name ("root")
            set.add(MetricType.DISK_READ_BYTES_TOTAL, Sample.of(s.path("rd_bytes").asLong(), "device", dev));
            set.add(MetricType.DISK_READS_COMPLETED_TOTAL, Sample.of(s.path("rd_operations").asLong(), "device",
                    dev));
            set.add(MetricType.DISK_WRITTEN_BYTES_TOTAL, Sample.of(s.path("wr_bytes").asLong(), "device", dev));
            set.add(MetricType.DISK_WRITES_COMPLETED_TOTAL, Sample.of(s.path("wr_operations").asLong(), "device",
                    dev));
        }
        Map<String, Device> devices = vm.expandedDevices().map();
        Map<String, ApiInstanceState.Network> nics = null;
        GuestAgentClient agent = stateAgent();
        if (agent != null) {
            try {
                nics = VmNics.guestView(GuestInfo.network(agent), devices, k -> vm.localConfig().get(k));
            } catch (IncusException e) {
                LOG.log(System.Logger.Level.DEBUG, "Agent of {0} did not answer: {1}", vm.name(), e.getMessage());
            }
        }
        if (nics == null) {
            nics = VmNics.hostView(devices, k -> vm.localConfig().get(k));
        }
        nics.forEach((dev, nic) -> {
            ApiInstanceState.NetworkCounters n = nic.counters();
            set.add(MetricType.NETWORK_RECEIVE_BYTES_TOTAL, Sample.of(n.bytesReceived(), "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_PACKETS_TOTAL, Sample.of(n.packetsReceived(), "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_ERRS_TOTAL, Sample.of(n.errorsReceived(), "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_DROP_TOTAL, Sample.of(n.packetsDroppedInbound(), "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_BYTES_TOTAL, Sample.of(n.bytesSent(), "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_PACKETS_TOTAL, Sample.of(n.packetsSent(), "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_ERRS_TOTAL, Sample.of(n.errorsSent(), "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_DROP_TOTAL, Sample.of(n.packetsDroppedOutbound(), "device", dev));
        });
        set.add(MetricType.PROCS_TOTAL, Sample.of(0));
        set.add(MetricType.BOOT_TIME_SECONDS, Sample.of(m.startedAt.toEpochMilli() / 1000.0));
        set.add(MetricType.TIME_SECONDS, Sample.of(System.currentTimeMillis() / 1000.0));
    }

    /** utime, stime and guest_time (ticks) of one thread of {@code pid}. */
    private static long[] threadTimes(int pid, int tid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "task", Integer.toString(tid),
                    "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return new long[] {Long.parseLong(f[11]), Long.parseLong(f[12]), Long.parseLong(f[40])};
        } catch (IOException | RuntimeException e) {
            return new long[3];
        }
    }

    /** The process's user+system CPU time in nanoseconds (USER_HZ is 100 on Linux). */
    private static long processCpuNanos(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    private static long procStatusKb(int pid, String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Integer.toString(pid), "status"))) {
                if (line.startsWith(key + ":")) {
                    return Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
