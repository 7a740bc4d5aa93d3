package io.github.incus4j.api.rest;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import io.github.incus4j.api.internal.Immutable;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The live state of an instance ({@code api.InstanceState}): status, CPU time in nanoseconds, memory in bytes,
 * network interfaces with counters, disks, PID of init (0 when stopped), process count (-1 when unknown), start
 * time and, for VMs with an agent, the guest OS.
 */
@JsonPropertyOrder({"status", "status_code", "disk", "memory", "network", "pid", "processes", "cpu", "started_at",
    "os_info"})
@API(status = EXPERIMENTAL)
public record ApiInstanceState(
        @JsonProperty("status") String status,
        @JsonProperty("status_code") int statusCode,
        @JsonProperty("disk") Map<String, Disk> disk,
        @JsonProperty("memory") Memory memory,
        @JsonProperty("network") Map<String, Network> network,
        @JsonProperty("pid") long pid,
        @JsonProperty("processes") long processes,
        @JsonProperty("cpu") Cpu cpu,
        @JsonProperty("started_at") Instant startedAt,
        @JsonProperty("os_info") OsInfo osInfo) {

    public ApiInstanceState {
        disk = Immutable.sortedMap(disk);
        network = Immutable.sortedMap(network);
        memory = memory == null ? Memory.ZERO : memory;
        cpu = cpu == null ? Cpu.ZERO : cpu;
    }

    /** {@code api.InstanceStateDisk}: bytes used and total. */
    public record Disk(@JsonProperty("usage") long usage, @JsonProperty("total") long total) {
    }

    /** {@code api.InstanceStateCPU}: {@code usage} in ns; {@code allocated_time} in ns per second. */
    public record Cpu(@JsonProperty("usage") long usage, @JsonProperty("allocated_time") long allocatedTime) {
        public static final Cpu ZERO = new Cpu(0, 0);
    }

    /** {@code api.InstanceStateMemory}, in bytes. */
    public record Memory(
            @JsonProperty("usage") long usage,
            @JsonProperty("usage_peak") long usagePeak,
            @JsonProperty("total") long total,
            @JsonProperty("swap_usage") long swapUsage,
            @JsonProperty("swap_usage_peak") long swapUsagePeak) {
        public static final Memory ZERO = new Memory(0, 0, 0, 0, 0);
    }

    /** {@code api.InstanceStateNetwork}. */
    @JsonPropertyOrder({"addresses", "counters", "hwaddr", "host_name", "mtu", "state", "type"})
    public record Network(
            @JsonProperty("addresses") List<NetworkAddress> addresses,
            @JsonProperty("counters") NetworkCounters counters,
            @JsonProperty("hwaddr") String hwaddr,
            @JsonProperty("host_name") String hostName,
            @JsonProperty("mtu") int mtu,
            @JsonProperty("state") String state,
            @JsonProperty("type") String type) {
        public Network {
            addresses = Immutable.list(addresses);
        }
    }

    /** {@code api.InstanceStateNetworkAddress}. */
    public record NetworkAddress(
            @JsonProperty("family") String family,
            @JsonProperty("address") String address,
            @JsonProperty("netmask") String netmask,
            @JsonProperty("scope") String scope) {
    }

    /** {@code api.InstanceStateNetworkCounters}. */
    public record NetworkCounters(
            @JsonProperty("bytes_received") long bytesReceived,
            @JsonProperty("bytes_sent") long bytesSent,
            @JsonProperty("packets_received") long packetsReceived,
            @JsonProperty("packets_sent") long packetsSent,
            @JsonProperty("errors_received") long errorsReceived,
            @JsonProperty("errors_sent") long errorsSent,
            @JsonProperty("packets_dropped_outbound") long packetsDroppedOutbound,
            @JsonProperty("packets_dropped_inbound") long packetsDroppedInbound) {
    }

    /** {@code api.InstanceStateOSInfo}. */
    public record OsInfo(
            @JsonProperty("os") String os,
            @JsonProperty("os_version") String osVersion,
            @JsonProperty("kernel_version") String kernelVersion,
            @JsonProperty("hostname") String hostname,
            @JsonProperty("fqdn") String fqdn) {
    }
}
