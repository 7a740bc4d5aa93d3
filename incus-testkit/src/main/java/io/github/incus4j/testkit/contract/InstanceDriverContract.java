package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Tag;

/**
 * The driver contract: what every incus4j driver must do the way Incus does it, in the style of Micrometer's
 * {@code MeterRegistryCompatibilityKit}. A driver's test extends this class and supplies its {@link DriverUnderTest}:
 *
 * <pre>{@code
 * class LxcDriverContractTest extends InstanceDriverContract {
 *     protected DriverUnderTest driver() {
 *         return new DriverUnderTest() {
 *             public Instances open(Path root) { return new LxcDriver().open(root); }
 *             public Set<Capability> capabilities() { return EnumSet.of(CONTAINERS, EXEC, FILES); }
 *             public InstanceSource source(InstanceType type) { return InstanceSource.template("busybox", Map.of()); }
 *         };
 *     }
 * }
 * }</pre>
 *
 * The tests come in {@code @Nested} groups. Lifecycle, state and rendering, config and validation, snapshots,
 * concurrency and bad input bind every driver; the other groups name the {@link Capability} they need and are
 * reported as skipped, with that reason, for a driver that does not declare it. Type-dependent tests run once per
 * instance type of the driver ({@link ForEachInstanceType}) and are reported as skipped, naming the type, for each
 * type the driver does not run; type-specific ones are skipped for a driver without the type. Each test works on a fresh root with unique instance names, and error texts are compared with Incus's.
 */
@API(status = EXPERIMENTAL)
public abstract class InstanceDriverContract extends ContractSupport {
    /** For subclasses. */
    protected InstanceDriverContract() {
    }

    // =================================================================================================================
    // Lifecycle
    // =================================================================================================================

    /** Start, stop, shutdown, restart, delete, rename and their refusals. */
    @Nested
    @Tag("lifecycle")
    class Lifecycle extends LifecycleGroup {
        Lifecycle() {
            super(InstanceDriverContract.this);
        }
    }

    /** Freeze and unfreeze, with the container driver's own refusals. */
    @Nested
    @Tag("freeze")
    @RequiresCapability(Capability.FREEZE)
    class Freezing extends FreezingGroup {
        Freezing() {
            super(InstanceDriverContract.this);
        }
    }

    /**
     * Stateful stop, start and snapshots (CRIU, QEMU state files). What comes back is checked in the guest's memory:
     * a file in {@code /dev/shm}, a tmpfs (RAM for CRIU's dump and for QEMU's state alike), which a boot starts
     * empty, so that a "stateful" start that really boots cold cannot pass.
     */
    @Nested
    @Tag("stateful")
    @RequiresCapability(Capability.STATEFUL)
    class Stateful extends StatefulGroup {
        Stateful() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // State and render
    // =================================================================================================================

    /** {@code render}, {@code renderState}, {@code renderFull}, ETags, and records that survive a reopen. */
    @Nested
    @Tag("render")
    class StateAndRender extends StateAndRenderGroup {
        StateAndRender() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Config and validation
    // =================================================================================================================

    /** {@code update}, Incus's key validation, profiles, volatile keys and template deferral. */
    @Nested
    @Tag("config")
    class ConfigAndValidation extends ConfigAndValidationGroup {
        ConfigAndValidation() {
            super(InstanceDriverContract.this);
        }
    }

    /** Changes applied to running instances ({@code limits.*}). */
    @Nested
    @Tag("live-update")
    @RequiresCapability(Capability.LIVE_UPDATE)
    class LiveUpdate extends LiveUpdateGroup {
        LiveUpdate() {
            super(InstanceDriverContract.this);
        }
    }

    /** The container cgroup handle. */
    @Nested
    @Tag("cgroups")
    @RequiresCapability(Capability.CGROUPS)
    class CGroups extends CGroupsGroup {
        CGroups() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Snapshots
    // =================================================================================================================

    /** Snapshot creation, listing, expiry, restore, rename and delete. */
    @Nested
    @Tag("snapshots")
    class Snapshots extends SnapshotsGroup {
        Snapshots() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Exec
    // =================================================================================================================

    /** Commands in running instances: exit codes, streams, environment, signals and refusals. */
    @Nested
    @Tag("exec")
    @RequiresCapability(Capability.EXEC)
    class Exec extends ExecGroup {
        Exec() {
            super(InstanceDriverContract.this);
        }
    }

    /** Commands on a terminal: its size and resizes, the echo of what is typed, the status. */
    @Nested
    @Tag("exec")
    @RequiresCapability(Capability.INTERACTIVE_EXEC)
    class InteractiveExec extends InteractiveExecGroup {
        InteractiveExec() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Files
    // =================================================================================================================

    /** File access over SFTP, confined to the instance. */
    @Nested
    @Tag("files")
    @RequiresCapability(Capability.FILES)
    class FileAccess extends FileAccessGroup {
        FileAccess() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Console
    // =================================================================================================================

    /** Attaching to the text console. */
    @Nested
    @Tag("console")
    @RequiresCapability(Capability.CONSOLE)
    class Console extends ConsoleGroup {
        Console() {
            super(InstanceDriverContract.this);
        }
    }

    /** The console log. */
    @Nested
    @Tag("console-log")
    @RequiresCapability(Capability.CONSOLE_LOG)
    class ConsoleLog extends ConsoleLogGroup {
        ConsoleLog() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Export and import
    // =================================================================================================================

    /** Images written by {@code export} and instances created from them. */
    @Nested
    @Tag("export")
    @RequiresCapability(Capability.EXPORT_IMPORT)
    class ExportImport extends ExportImportGroup {
        ExportImport() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Migration
    // =================================================================================================================

    /** Moving an instance from one root to another through {@link DriverUnderTest#migrationPipe()}. */
    @Nested
    @Tag("migration")
    @RequiresCapability(Capability.MIGRATION)
    class Migration extends MigrationGroup {
        Migration() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Metrics
    // =================================================================================================================

    /** OpenMetrics text of running instances. */
    @Nested
    @Tag("metrics")
    @RequiresCapability(Capability.METRICS)
    class Metrics extends MetricsGroup {
        Metrics() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Concurrency
    // =================================================================================================================

    /** Operation locks: concurrent actions serialise or fail as Incus's do, never corrupting an instance. */
    @Nested
    @Tag("concurrency")
    class Concurrency extends ConcurrencyGroup {
        Concurrency() {
            super(InstanceDriverContract.this);
        }
    }

    // =================================================================================================================
    // Bad input
    // =================================================================================================================

    /**
     * Devices: validation texts, expansion and {@code none}, volatile keys, hot plug, NIC state, proxies, shared
     * folders. The tests live in {@link DevicesGroup}.
     */
    @Nested
    @Tag("devices")
    class DeviceGroup extends DevicesGroup {
        DeviceGroup() {
            super(InstanceDriverContract.this);
        }
    }

    /** Refusals with Incus's texts, leaving nothing behind. */
    @Nested
    @Tag("bad-input")
    class BadInput extends BadInputGroup {
        BadInput() {
            super(InstanceDriverContract.this);
        }
    }
}
