package io.github.incus4j.api.internal.text;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InstanceType;
import java.math.BigDecimal;
import java.time.Duration;
import org.apiguardian.api.API;

/**
 * Incus's error texts, kept in one place so that every driver answers with the same words as Incus
 * ({@code driver_common.go}, {@code driver_lxc.go}, {@code driver_qemu.go}). Where the LXC and QEMU drivers word a
 * message differently, the method takes the instance type.
 */
@API(status = INTERNAL)
public final class ErrorTexts {
    public static final String ALREADY_RUNNING = "The instance is already running";
    public static final String ALREADY_STOPPED = "The instance is already stopped";
    public static final String INSTANCE_IS_RUNNING = "Instance is running";
    public static final String INSTANCE_NOT_RUNNING = "Instance is not running";
    public static final String INSTANCE_FROZEN = "Instance is frozen";
    public static final String INSTANCE_ISNT_RUNNING = "The instance isn't running";
    public static final String CONTAINER_ISNT_RUNNING = "The container isn't running";
    public static final String CONTAINER_ALREADY_FROZEN = "The container is already frozen";
    public static final String CONTAINER_ALREADY_RUNNING = "The container is already running";
    public static final String STARTUP_PROTECTION = "Instance has startup protection enabled";
    public static final String DELETE_PROTECTION = "Instance has delete protection enabled";
    public static final String RENAME_RUNNING = "Renaming of running instance not allowed";
    public static final String EXPORT_RUNNING = "Cannot export a running instance as an image";
    public static final String REBUILD_RUNNING = "Instance must be stopped to be rebuilt";
    public static final String VOLATILE_ONLY = "Only volatile keys can be modified with VolatileSet";
    public static final String COMMAND_NOT_FOUND = "Command not found";
    /**
     * A command whose VM died under it: nobody knows how it ended, so it fails instead of reporting a made-up status
     * ("Disconnected" is Incus's word for a lost exec).
     */
    public static final String COMMAND_LOST_VM_DIED = "Disconnected: the VM died while the command ran (QEMU exited)";
    /** An instance that does not exist (any more): Incus's 404. */
    public static final String INSTANCE_NOT_FOUND = "Instance not found";
    public static final String COMMAND_NOT_EXECUTABLE = "Command not executable";
    public static final String STATEFUL_SNAPSHOT_NOT_RUNNING =
            "Unable to create a stateful snapshot. The instance isn't running";
    public static final String STATEFUL_RESTORE_STATELESS =
            "Stateful snapshot restore requested but snapshot is stateless";
    public static final String LIVE_MIGRATION_NEEDS_STATEFUL =
            "Live migration requires migration.stateful to be set to true";
    public static final String ALREADY_MIGRATING = "The instance is already being migrated";
    public static final String DUPLICATE_PROFILE = "Duplicate profile found in request";
    public static final String VOLATILE_IDMAP_DELETE = "Volatile idmap keys can't be deleted by the user";
    public static final String CGROUP_STOPPED = "Can't set cgroups on a stopped container";
    public static final String VM_AGENT_OFFLINE = "VM agent isn't currently running";
    public static final String SPICE_UNSUPPORTED = "SPICE is not supported by the host";
    /** An instance type other than container or virtual-machine ({@code instancetype.New}). */
    public static final String INVALID_INSTANCE_TYPE = "Invalid instance type";

    private ErrorTexts() {
    }

    /** {@code The instance cannot be started as in Error status}. */
    public static String cannotStartIn(String status) {
        return "The instance cannot be started as in " + status + " status";
    }

    /** {@code The instance cannot be cleanly shutdown as in Error status}. */
    public static String cannotShutdownIn(String status) {
        return "The instance cannot be cleanly shutdown as in " + status + " status";
    }

    /** {@code Failed shutting down instance, status is "Running"}. */
    public static String failedShuttingDown(String status) {
        return "Failed shutting down instance, status is " + quote(status);
    }

    /** {@code Failed stopping instance, status is "Running"}. */
    public static String failedStopping(String status) {
        return "Failed stopping instance, status is " + quote(status);
    }

    /** The stateful-start refusal, worded as each Incus driver words it. */
    public static String statefulStartNeedsMigrationStateful(InstanceType type) {
        return type == InstanceType.VM
                ? "Stateful start requires migration.stateful to be set to true"
                : "Stateful start requires that the instance migration.stateful be set to true";
    }

    /** The stateful-stop refusal, worded as each Incus driver words it. */
    public static String statefulStopNeedsMigrationStateful(InstanceType type) {
        return type == InstanceType.VM
                ? "Stateful stop requires migration.stateful to be set to true"
                : "Stateful stop requires the instance to have migration.stateful be set to true";
    }

    /** The stateful-snapshot refusal, worded as each Incus driver words it. */
    public static String statefulSnapshotNeedsMigrationStateful(InstanceType type) {
        return type == InstanceType.VM
                ? "Stateful snapshot requires migration.stateful to be set to true"
                : "Stateful snapshots require that the instance has migration.stateful be set to true";
    }

    /** {@code Container instances don't support "vga" output}. */
    public static String containerConsoleUnsupported(String protocol) {
        return "Container instances don't support " + quote(protocol) + " output";
    }

    /** {@code Unknown protocol "x"}. */
    public static String unknownConsoleProtocol(String protocol) {
        return "Unknown protocol " + quote(protocol);
    }

    /** {@code Instance "c1" already exists} (creation conflict). */
    public static String instanceExists(String name) {
        return "Instance " + quote(name) + " already exists";
    }

    /** {@code Name "c2" already in use} (rename conflict). */
    public static String nameInUse(String name) {
        return "Name " + quote(name) + " already in use";
    }

    /** {@code Snapshot "c1/snap0" already exists}: the full name, as {@code instance.CreateInternal} says it. */
    public static String snapshotExists(String fullName) {
        return "Snapshot " + quote(fullName) + " already exists";
    }

    /** {@code Name 'c1/snap1' already in use} (snapshot rename conflict; {@code instance_snapshot.go} quotes so). */
    public static String snapshotNameInUse(String fullName) {
        return "Name '" + fullName + "' already in use";
    }

    /**
     * {@code The command is still running after 200ms}: a bounded wait for a command that did not end. Incus's exec
     * has no bounded wait, so the words are incus4j's, the same on every driver.
     */
    public static String commandStillRunning(Duration timeout) {
        return "The command is still running after " + duration(timeout);
    }

    /** {@code Invalid stop target "x"}. */
    public static String invalidStopTarget(String target) {
        return "Invalid stop target " + quote(target);
    }

    /** Whether {@code s} holds a UTF-16 surrogate without its partner (it has no UTF-8 form). */
    public static boolean hasUnpairedSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return true;
            }
        }
        return false;
    }

    /** Go's {@code %q}: the quoting Incus's messages use around names and values. */
    public static String quote(String s) {
        return GoStrings.quote(s);
    }

    /** Go's {@code time.Duration} text, to the millisecond: {@code 0s}, {@code 500ms}, {@code 1.5s}, {@code 10m0s}. */
    public static String duration(Duration d) {
        long ms = d.toMillis();
        if (ms == 0) {
            return "0s";
        }
        if (ms < 1000) {
            return ms + "ms";
        }
        long s = ms / 1000;
        StringBuilder b = new StringBuilder();
        if (s >= 3600) {
            b.append(s / 3600).append('h');
        }
        if (s >= 60) {
            b.append(s % 3600 / 60).append('m');
        }
        return b.append(BigDecimal.valueOf(ms % 60_000, 3).stripTrailingZeros().toPlainString()).append('s').toString();
    }
}
