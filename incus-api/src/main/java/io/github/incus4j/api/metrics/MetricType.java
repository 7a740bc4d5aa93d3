package io.github.incus4j.api.metrics;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * The instance metrics Incus exposes ({@code metrics.MetricType}), in Incus's order, with their exposition names and
 * HELP texts. The TYPE line follows Incus's rule: {@code gauge} for a few counts ({@link #CPUS},
 * {@link #PROCS_TOTAL}), else {@code counter} for names ending {@code _total} or {@code _seconds}, else {@code gauge}
 * for {@code _bytes}.
 */
@API(status = EXPERIMENTAL)
public enum MetricType {
    CPU_SECONDS_TOTAL("incus_cpu_seconds_total", "The total number of CPU time used in seconds."),
    CPUS("incus_cpu_effective_total", "The total number of effective CPUs."),
    DISK_READ_BYTES_TOTAL("incus_disk_read_bytes_total", "The total number of bytes read."),
    DISK_READS_COMPLETED_TOTAL("incus_disk_reads_completed_total", "The total number of completed reads."),
    DISK_WRITTEN_BYTES_TOTAL("incus_disk_written_bytes_total", "The total number of bytes written."),
    DISK_WRITES_COMPLETED_TOTAL("incus_disk_writes_completed_total", "The total number of completed writes."),
    FILESYSTEM_AVAIL_BYTES("incus_filesystem_avail_bytes", "The number of available space in bytes."),
    FILESYSTEM_FREE_BYTES("incus_filesystem_free_bytes", "The number of free space in bytes."),
    FILESYSTEM_SIZE_BYTES("incus_filesystem_size_bytes", "The size of the filesystem in bytes."),
    MEMORY_ACTIVE_ANON_BYTES("incus_memory_Active_anon_bytes", "The amount of anonymous memory on active LRU list."),
    MEMORY_ACTIVE_FILE_BYTES("incus_memory_Active_file_bytes", "The amount of file-backed memory on active LRU list."),
    MEMORY_ACTIVE_BYTES("incus_memory_Active_bytes", "The amount of memory on active LRU list."),
    MEMORY_CACHED_BYTES("incus_memory_Cached_bytes", "The amount of cached memory."),
    MEMORY_DIRTY_BYTES("incus_memory_Dirty_bytes", "The amount of memory waiting to get written back to the disk."),
    MEMORY_HUGEPAGES_FREE_BYTES("incus_memory_HugepagesFree_bytes", "The amount of free memory for hugetlbfs."),
    MEMORY_HUGEPAGES_TOTAL_BYTES("incus_memory_HugepagesTotal_bytes", "The amount of used memory for hugetlbfs."),
    MEMORY_INACTIVE_ANON_BYTES("incus_memory_Inactive_anon_bytes",
            "The amount of anonymous memory on inactive LRU list."),
    MEMORY_INACTIVE_FILE_BYTES("incus_memory_Inactive_file_bytes",
            "The amount of file-backed memory on inactive LRU list."),
    MEMORY_INACTIVE_BYTES("incus_memory_Inactive_bytes", "The amount of memory on inactive LRU list."),
    MEMORY_MAPPED_BYTES("incus_memory_Mapped_bytes", "The amount of mapped memory."),
    MEMORY_MEM_AVAILABLE_BYTES("incus_memory_MemAvailable_bytes", "The amount of available memory."),
    MEMORY_MEM_FREE_BYTES("incus_memory_MemFree_bytes", "The amount of free memory."),
    MEMORY_MEM_TOTAL_BYTES("incus_memory_MemTotal_bytes", "The amount of used memory."),
    MEMORY_RSS_BYTES("incus_memory_RSS_bytes", "The amount of anonymous and swap cache memory."),
    MEMORY_SHMEM_BYTES("incus_memory_Shmem_bytes", "The amount of cached filesystem data that is swap-backed."),
    MEMORY_SWAP_BYTES("incus_memory_Swap_bytes", "The amount of used swap memory."),
    MEMORY_UNEVICTABLE_BYTES("incus_memory_Unevictable_bytes", "The amount of unevictable memory."),
    MEMORY_WRITEBACK_BYTES("incus_memory_Writeback_bytes", "The amount of memory queued for syncing to disk."),
    MEMORY_OOM_KILLS_TOTAL("incus_memory_OOM_kills_total", "The number of out of memory kills."),
    NETWORK_RECEIVE_BYTES_TOTAL("incus_network_receive_bytes_total",
            "The amount of received bytes on a given interface."),
    NETWORK_RECEIVE_DROP_TOTAL("incus_network_receive_drop_total",
            "The amount of received dropped bytes on a given interface."),
    NETWORK_RECEIVE_ERRS_TOTAL("incus_network_receive_errs_total",
            "The amount of received errors on a given interface."),
    NETWORK_RECEIVE_PACKETS_TOTAL("incus_network_receive_packets_total",
            "The amount of received packets on a given interface."),
    NETWORK_TRANSMIT_BYTES_TOTAL("incus_network_transmit_bytes_total",
            "The amount of transmitted bytes on a given interface."),
    NETWORK_TRANSMIT_DROP_TOTAL("incus_network_transmit_drop_total",
            "The amount of transmitted dropped bytes on a given interface."),
    NETWORK_TRANSMIT_ERRS_TOTAL("incus_network_transmit_errs_total",
            "The amount of transmitted errors on a given interface."),
    NETWORK_TRANSMIT_PACKETS_TOTAL("incus_network_transmit_packets_total",
            "The amount of transmitted packets on a given interface."),
    PROCS_TOTAL("incus_procs_total", "The number of running processes."),
    BOOT_TIME_SECONDS("incus_boot_time_seconds", "The boot time of the instance in seconds since the epoch."),
    TIME_SECONDS("incus_time_seconds", "The current time of the instance in seconds since the epoch.");

    private final String metricName;
    private final String help;

    MetricType(String metricName, String help) {
        this.metricName = metricName;
        this.help = help;
    }

    /** The exposition name, e.g. {@code incus_cpu_seconds_total}. */
    public String metricName() {
        return metricName;
    }

    /** The HELP text. */
    public String help() {
        return help;
    }

    /** The TYPE Incus declares for it: {@code gauge}, {@code counter}, or empty. */
    public String promType() {
        if (this == CPUS || this == PROCS_TOTAL) {
            return "gauge";
        }
        if (metricName.endsWith("_total") || metricName.endsWith("_seconds")) {
            return "counter";
        }
        if (metricName.endsWith("_bytes")) {
            return "gauge";
        }
        return "";
    }

    /** The type named {@code name}, or {@code null}. */
    public static MetricType byName(String name) {
        for (MetricType t : values()) {
            if (t.metricName.equals(name)) {
                return t;
            }
        }
        return null;
    }
}
