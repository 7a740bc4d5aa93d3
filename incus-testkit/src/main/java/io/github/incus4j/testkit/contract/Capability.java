package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InstanceType;
import org.apiguardian.api.API;

/**
 * What a driver under test can do, in the manner of Guava testlib's feature flags: each optional group of
 * {@link InstanceDriverContract} names the capability it needs, and a driver that does not declare it sees that group
 * reported as skipped (with the reason), never as passed. Lifecycle, rendering, config validation, snapshots, bad
 * input and locking are not optional: every driver runs them.
 */
@API(status = EXPERIMENTAL)
public enum Capability {
    /** Creates and runs containers ({@code InstanceType.CONTAINER}). */
    CONTAINERS,
    /** Creates and runs virtual machines ({@code InstanceType.VM}). */
    VIRTUAL_MACHINES,
    /** Stateful stop/start and stateful snapshots (CRIU for containers, a QEMU state file for VMs). */
    STATEFUL,
    /** Runs commands ({@code Instance.exec}) with the busybox applets the contract uses. */
    EXEC,
    /**
     * Runs interactive commands ({@code ExecRequest.interactive}) on a terminal: {@code tty} and {@code stty} see one,
     * of the requested size, {@code Cmd.windowResize} changes it, and what is typed is echoed.
     */
    INTERACTIVE_EXEC,
    /** File access over {@code Instance.fileSftp}. */
    FILES,
    /** Attaches to the text console ({@code Instance.console}). */
    CONSOLE,
    /** Reads and clears the console log ({@code Container.consoleLog}, {@code VM.consoleLog}). */
    CONSOLE_LOG,
    /** Exports stopped instances as Incus images and creates instances from image tarballs. */
    EXPORT_IMPORT,
    /** Moves instances between roots with {@code migrateSend}/{@code migrateReceive}. */
    MIGRATION,
    /** OpenMetrics samples of running instances ({@code Instance.metrics}). */
    METRICS,
    /**
     * Reads and writes the cgroup of a container ({@code Instance.cgroup}); a matter of containers only, so a driver
     * that runs no containers does not need it (see {@link #concernsOnly()}).
     */
    CGROUPS(InstanceType.CONTAINER),
    /** Freezes and unfreezes running instances. */
    FREEZE,
    /** Applies {@code limits.*} changes to a running instance. */
    LIVE_UPDATE,
    /**
     * Applies the NIC {@link DriverUnderTest#nicDevice} gives: its volatile keys, an interface in the state and the
     * metrics (and nothing else but {@code lo}), {@code volatile.<dev>.host_name} while running (unless
     * {@link DriverUnderTest#nicHasHostInterface} says the NIC has no host side).
     */
    NIC_DEVICES,
    /** Shares host directories into instances ({@code disk} devices with a host {@code source}). */
    DISK_DEVICES,
    /**
     * Forwards TCP from the host into instances with {@code proxy} devices; the driver under test starts servers
     * with {@link DriverUnderTest#startHttpServer}.
     */
    PROXY_DEVICES,
    /** Adds and removes the devices it applies on running instances, where Incus allows it. */
    DEVICE_HOTPLUG;

    private final InstanceType concernsOnly;

    Capability() {
        this(null);
    }

    Capability(InstanceType concernsOnly) {
        this.concernsOnly = concernsOnly;
    }

    /**
     * The one instance type this capability is about, or null when it is about every type. A driver that runs no
     * instance of that type cannot lack it: the tests needing it are about that type only and do not run for it.
     */
    public InstanceType concernsOnly() {
        return concernsOnly;
    }
}
