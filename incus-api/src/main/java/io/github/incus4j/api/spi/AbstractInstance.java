package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.ConsoleTypes;
import io.github.incus4j.api.Hooks;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.ProfileExpansion;
import io.github.incus4j.api.internal.config.LiveUpdates;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.config.DeviceChanges;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.store.BackupYaml;
import io.github.incus4j.api.internal.store.RecordStore;
import io.github.incus4j.api.internal.store.StorageFiles;
import io.github.incus4j.api.internal.sftp.WireSftpClient;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.PowerState;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.InstanceBackup;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.model.RunConfig;
import io.github.incus4j.api.rest.ApiInstance;
import io.github.incus4j.api.rest.ApiInstanceFull;
import io.github.incus4j.api.rest.ApiInstanceSnapshot;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.rest.ApiRenderable;
import io.github.incus4j.api.rest.Render;
import io.github.incus4j.api.rest.RestJson;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.NetworkInterface;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;
import org.apiguardian.api.API;

/**
 * The driver-independent half of an instance, Incus's {@code driver_common.go}: getters, paths, ETag, rendering,
 * volatile keys, templates deferral, and every action's preconditions, error texts and operation locking. A driver
 * extends it and implements the {@code do*} hooks, which run with the preconditions checked and the lock held.
 *
 * <p>A handle stands for an instance or, when {@link #isSnapshot()}, for one of its snapshots. The definition is an
 * immutable {@link InstanceArgs} swapped atomically, so readers never lock; writers serialise on the handle.
 */
@API(status = EXPERIMENTAL)
public abstract class AbstractInstance implements Instance {
    private static final System.Logger LOG = System.getLogger(AbstractInstance.class.getName());

    /** Config keys whose deletion by a user Incus refuses. */
    private static final Set<String> IDMAP_KEYS = Set.of("volatile.idmap.base", "volatile.idmap.current",
            "volatile.idmap.next", "volatile.last_state.idmap");

    private final AbstractInstances<?> owner;
    private final AbstractInstance parent;
    private volatile InstanceArgs args;
    private volatile List<InstanceArgs> snapshotArgs;
    private volatile Map<String, String> expandedConfig;
    private volatile Devices expandedDevices;
    private volatile Operation operation;
    private volatile boolean recordDirty;
    // Set once, under the handle's monitor, when the instance is deleted: every later action on any handle of it
    // fails with NotFoundException instead of recreating a record for a name that no longer exists.
    private volatile boolean deleted;
    private volatile String lastStatusError;
    // Snapshot creations, deletions and renames of one instance queue here (fairly, each bounded by the lock
    // registry's wait) before taking the instance's operation lock, so that parallel snapshots are all made.
    private final ReentrantLock snapshotQueue = new ReentrantLock(true);

    /** A handle for an instance defined by {@code record}. */
    protected AbstractInstance(AbstractInstances<?> owner, InstanceRecord record) {
        this.owner = Objects.requireNonNull(owner);
        this.parent = null;
        setDefinition(record.instance(), record.snapshots());
    }

    /** A handle for the snapshot {@code snapshot} of {@code parent}. */
    protected AbstractInstance(AbstractInstance parent, InstanceArgs snapshot) {
        this.owner = parent.owner;
        this.parent = parent;
        setDefinition(snapshot, List.of());
    }

    // =============================================================================================================
    // Driver hooks: called with preconditions checked and the operation lock held.
    // =============================================================================================================

    /** The state the runtime reports (liblxc state, QMP query-status, the fake's state machine). */
    protected abstract StatusCode driverStatus();

    /** Starts the instance; {@code stateful} restores the saved state. */
    protected abstract void doStart(boolean stateful);

    /** Stops the instance at once; {@code stateful} saves its state first. */
    protected abstract void doStop(boolean stateful);

    /**
     * Asks the instance to shut down and waits at most {@code timeout}.
     *
     * @return whether it stopped in time
     */
    protected abstract boolean doShutdown(Duration timeout);

    protected abstract void doFreeze();

    protected abstract void doUnfreeze();

    /** Starts a command in the running instance. */
    protected abstract Cmd doExec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr);

    /** Attaches to the console ({@code protocol} already checked). */
    protected abstract ConsoleSession doConsole(String protocol);

    /** Copies the root filesystem (and the running state when {@code stateful}) into the new snapshot. */
    protected abstract void doSnapshot(InstanceArgs snapshot, boolean stateful);

    /** Replaces the root filesystem with the snapshot's (the instance is stopped). */
    protected abstract void doRestore(InstanceArgs snapshot);

    /** Removes a snapshot's storage. */
    protected abstract void doDeleteSnapshot(InstanceArgs snapshot);

    /** Removes the instance's storage (the base class then removes its directories and record). */
    protected abstract void doDelete();

    /**
     * Moves the instance's storage from {@code oldFullName} to {@code newFullName} (storage names: {@code name} or
     * {@code project_name}). The default moves the instance directory, snapshots, logs, run and devices dirs.
     */
    protected void doRename(String oldFullName, String newFullName) {
        InstancePaths p = owner.paths();
        StorageFiles.moveIfExists(p.path(type(), oldFullName), p.path(type(), newFullName));
        StorageFiles.moveIfExists(p.snapshotsDir(type()).resolve(oldFullName), p.snapshotsDir(type()).resolve(newFullName));
        StorageFiles.moveIfExists(p.logPath(oldFullName), p.logPath(newFullName));
        StorageFiles.moveIfExists(p.runPath(oldFullName), p.runPath(newFullName));
        StorageFiles.moveIfExists(p.devicesPath(oldFullName), p.devicesPath(newFullName));
    }

    /** Writes the stopped instance as an image (see {@link Instance#export}). */
    protected abstract ImageMetadata doExport(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker);

    /** Recreates the root filesystem from {@code image} (or empty for {@code null}). */
    protected abstract void doRebuild(Image image, Operation op);

    /**
     * Applies changed keys to the running instance ({@code limits.memory}, {@code limits.cpu},
     * {@code limits.processes}...). Only called while running; refused keys were already rejected.
     */
    protected abstract void applyLiveUpdate(Map<String, String> oldExpanded, Map<String, String> newExpanded,
            Set<String> changedKeys);

    /** The live part of the state of a running (or frozen) instance: cpu, memory, network, pid, processes. */
    protected abstract ApiInstanceState runningState(StatusCode status, List<NetworkInterface> hostInterfaces);

    /** Disk usage, reported running or stopped ({@code root} device). */
    protected abstract Map<String, ApiInstanceState.Disk> diskState();

    /** Adds the samples of a running instance to {@code set}. */
    protected abstract void collectMetrics(MetricSet set, List<NetworkInterface> hostInterfaces);

    /** The runtime's init PID, -1 when not running. */
    protected abstract int driverInitPid();

    /** The instance's cgroup. */
    protected abstract CGroup doCgroup();

    /**
     * A raw SFTP connection to the instance's files ({@code fileSftpConn()}); {@code fileSftp()} runs the SDK's own
     * SFTP client over it, so that every driver's files behave alike on the client side.
     */
    protected abstract Connection doFileSftpConn();

    /** Sends the instance over {@code args}' connections (the migrate lock is held). */
    protected abstract void doMigrateSend(MigrateSendArgs args);

    /** Receives an instance into this (new, stopped) one. */
    protected abstract void doMigrateReceive(MigrateReceiveArgs args);

    /** Builds the handle of one of this instance's snapshots. */
    protected abstract AbstractInstance newSnapshotHandle(InstanceArgs snapshot);

    // =============================================================================================================
    // ConfigReader and properties
    // =============================================================================================================

    /** The driver session that owns this instance. */
    protected AbstractInstances<?> owner() {
        return owner;
    }

    /** The current definition. */
    public final InstanceArgs args() {
        return args;
    }

    /** The snapshots' definitions, oldest first (empty for a snapshot handle). */
    protected final List<InstanceArgs> snapshotArgs() {
        return snapshotArgs;
    }

    /** The parent of a snapshot handle. */
    protected final Optional<AbstractInstance> parent() {
        return Optional.ofNullable(parent);
    }

    @Override
    public Project project() {
        return Project.named(args.project());
    }

    @Override
    public InstanceType type() {
        return args.type();
    }

    @Override
    public int architecture() {
        return args.architecture();
    }

    @Override
    public int id() {
        return owner.idFor(AbstractInstances.key(args.project(), args.name()));
    }

    @Override
    public String name() {
        return args.name();
    }

    @Override
    public Map<String, String> expandedConfig() {
        return expandedConfig;
    }

    @Override
    public Devices expandedDevices() {
        return expandedDevices;
    }

    @Override
    public Map<String, String> localConfig() {
        return args.config();
    }

    @Override
    public Devices localDevices() {
        return args.devices();
    }

    @Override
    public Info info() {
        return owner.info();
    }

    @Override
    public boolean isPrivileged() {
        return type() == InstanceType.CONTAINER && ConfigValues.isTrue(expandedConfig.get("security.privileged"));
    }

    @Override
    public boolean isEphemeral() {
        return args.ephemeral();
    }

    @Override
    public boolean isSnapshot() {
        return parent != null;
    }

    @Override
    public boolean isStateful() {
        return args.stateful();
    }

    @Override
    public String location() {
        return args.node().isEmpty() ? owner.node() : args.node();
    }

    @Override
    public String cloudInitId() {
        String id = expandedConfig.get("volatile.cloud-init.instance-id");
        return id == null || id.isEmpty() ? name() : id;
    }

    @Override
    public String description() {
        return args.description();
    }

    @Override
    public Instant creationDate() {
        return args.creationDate();
    }

    @Override
    public Instant lastUsedDate() {
        return args.lastUsedDate() == null ? Instant.EPOCH : args.lastUsedDate();
    }

    @Override
    public List<Profile> profiles() {
        return args.profiles();
    }

    @Override
    public Optional<Instant> expiryDate() {
        return isSnapshot() ? Optional.ofNullable(args.expiryDate()) : Optional.empty();
    }

    @Override
    public String storagePool() {
        for (Map.Entry<String, Device> e : expandedDevices.map().entrySet()) {
            Device d = e.getValue();
            if ("disk".equals(d.type()) && "/".equals(d.get("path"))) {
                String pool = d.get("pool");
                return pool == null ? "default" : pool;
            }
        }
        return "default";
    }

    @Override
    public void setOperation(Operation op) {
        this.operation = op;
    }

    @Override
    public Optional<Operation> operation() {
        return Optional.ofNullable(operation);
    }

    // ---- paths ------------------------------------------------------------------------------------------------

    /** The storage name: {@code name}, or {@code project_name} outside the default project. */
    protected final String fullName() {
        return AbstractInstances.key(args.project(), args.name());
    }

    @Override
    public Path path() {
        return owner.paths().path(type(), fullName());
    }

    @Override
    public Path execOutputPath() {
        return path().resolve("exec-output");
    }

    @Override
    public Path rootfsPath() {
        return path().resolve("rootfs");
    }

    @Override
    public Path templatesPath() {
        return path().resolve("templates");
    }

    @Override
    public Path statePath() {
        return path().resolve("state");
    }

    @Override
    public Path logPath() {
        return owner.paths().logPath(fullName());
    }

    @Override
    public Path logFilePath() {
        return logPath().resolve(type() == InstanceType.VM ? "qemu.log" : "lxc.log");
    }

    @Override
    public Path consoleBufferLogPath() {
        return logPath().resolve("console.log");
    }

    @Override
    public Path runPath() {
        return owner.paths().runPath(fullName());
    }

    @Override
    public Path devicesPath() {
        return owner.paths().devicesPath(fullName());
    }

    // =============================================================================================================
    // Status
    // =============================================================================================================

    @Override
    public StatusCode statusCode() {
        if (isSnapshot()) {
            return StatusCode.STOPPED;
        }
        // Incus short-circuits the runtime query while an action is in flight.
        Optional<InstanceOperation> op = owner.locks().get(args.project(), args.name());
        if (op.isPresent()) {
            String action = op.get().action();
            if (action.equals(OperationLocks.Action.START.value())) {
                return StatusCode.STOPPED;
            }
            if (action.equals(OperationLocks.Action.STOP.value())) {
                return ConfigValues.isTrue(expandedConfig.get("volatile.last_state.ready"))
                        ? StatusCode.READY : StatusCode.RUNNING;
            }
        }
        try {
            return driverStatus();
        } catch (IncusException e) {
            // One broken instance (a runtime that refuses its config, missing storage) must not make the whole root
            // unusable: it shows as Error, with the reason in the log, and the other instances work.
            String reason = e.getMessage();
            if (!Objects.equals(reason, lastStatusError)) {
                lastStatusError = reason;
                LOG.log(System.Logger.Level.WARNING, "Instance " + fullName() + " is in Error status: " + reason, e);
            }
            return StatusCode.ERROR;
        }
    }

    @Override
    public String state() {
        return statusCode().upperText();
    }

    @Override
    public int initPid() {
        return isSnapshot() ? -1 : driverInitPid();
    }

    // =============================================================================================================
    // Lifecycle
    // =============================================================================================================

    @Override
    public void start(boolean stateful) {
        requireInstance("start");
        if (stateful && !ConfigValues.isTrue(expandedConfig.get("migration.stateful"))) {
            throw new InvalidArgumentException(ErrorTexts.statefulStartNeedsMigrationStateful(type()));
        }
        StatusCode status = statusCode();
        if (status == StatusCode.ERROR) {
            throw new InstanceStateException(ErrorTexts.cannotStartIn(status.text()), status);
        }
        if (status != StatusCode.STOPPED) {
            throw new InstanceStateException(ErrorTexts.ALREADY_RUNNING, status);
        }
        if (ConfigValues.isTrue(expandedConfig.get("security.protection.start"))) {
            throw new InstanceStateException(ErrorTexts.STARTUP_PROTECTION, status);
        }
        Optional<InstanceOperation> lock = owner.locks().createWaitGet(args.project(), args.name(), operation,
                OperationLocks.Action.START, Set.of(OperationLocks.Action.RESTART, OperationLocks.Action.RESTORE),
                false, false);
        if (lock.isEmpty()) {
            return;
        }
        runHeld(lock.get(), () -> {
            // Another start may have finished between the check above and this lock: start once only.
            StatusCode current = driverStatus();
            if (current != StatusCode.STOPPED) {
                throw new InstanceStateException(ErrorTexts.ALREADY_RUNNING, current);
            }
            // startCommon loads every device first: a host source gone since the create fails the start.
            for (Map.Entry<String, Device> e : devicesToStart()) {
                String missing = DeviceChanges.missingSource(e.getKey(), e.getValue());
                if (missing != null) {
                    throw new IncusException("Failed start validation for device " + ErrorTexts.quote(e.getKey())
                            + ": " + missing);
                }
            }
            boolean restoreState = stateful && args.stateful();
            doStart(restoreState);
            Instant now = owner.clock().instant();
            mutate(a -> {
                Map<String, String> c = new HashMap<>(a.config());
                c.put("volatile.last_state.power", PowerState.RUNNING);
                return a.toBuilder().config(c).lastUsedDate(now).stateful(false).build();
            }, restoreState);
            LOG.log(System.Logger.Level.DEBUG, "Started {0}", fullName());
        });
    }

    @Override
    public void stop(boolean stateful) {
        requireInstance("stop");
        if (stateful && !ConfigValues.isTrue(expandedConfig.get("migration.stateful"))) {
            throw new InvalidArgumentException(ErrorTexts.statefulStopNeedsMigrationStateful(type()));
        }
        StatusCode status = statusCode();
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.ALREADY_STOPPED, status);
        }
        Optional<InstanceOperation> lock = owner.locks().createWaitGet(args.project(), args.name(), operation,
                OperationLocks.Action.STOP,
                Set.of(OperationLocks.Action.RESTART, OperationLocks.Action.RESTORE, OperationLocks.Action.MIGRATE),
                false, true);
        if (lock.isEmpty()) {
            return;
        }
        InstanceOperation op = lock.get();
        runHeld(op, () -> {
            StatusCode current = driverStatus();
            if (!current.isRunning()) {
                throw new InstanceStateException(ErrorTexts.ALREADY_STOPPED, current);
            }
            doStop(stateful);
            requireStopped(ErrorTexts::failedStopping);
            if (stateful) {
                mutate(a -> a.toBuilder().stateful(true).build(), true);
            }
            onStopped(op);
        });
    }

    @Override
    public void shutdown(Duration timeout) {
        requireInstance("shutdown");
        requireNonNegative(timeout, "shutdown");
        StatusCode status = statusCode();
        if (status == StatusCode.ERROR) {
            throw new InstanceStateException(ErrorTexts.cannotShutdownIn(status.text()), status);
        }
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.ALREADY_STOPPED, status);
        }
        Optional<InstanceOperation> lock = owner.locks().createWaitGet(args.project(), args.name(), operation,
                OperationLocks.Action.STOP, Set.of(OperationLocks.Action.RESTART), true, true);
        if (lock.isEmpty()) {
            return;
        }
        InstanceOperation op = lock.get();
        runHeld(op, () -> {
            if (driverStatus() == StatusCode.FROZEN) {
                doUnfreeze();
            }
            op.setInstanceInitiated(false);
            if (!doShutdown(timeout)) {
                throw new OperationTimeoutException(ErrorTexts.failedShuttingDown(driverStatus().text())
                        + ": the instance did not stop within " + timeout.toMillis() + " ms");
            }
            requireStopped(ErrorTexts::failedShuttingDown);
            onStopped(op);
        });
    }

    @Override
    public void restart(Duration timeout) {
        requireInstance("restart");
        requireNonNegative(timeout, "restart");
        InstanceOperation op = owner.locks().create(args.project(), args.name(), operation,
                OperationLocks.Action.RESTART, false, false);
        runHeld(op, () -> {
            if (timeout.isZero()) {
                stop(false);
            } else {
                if (isFrozen()) {
                    throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, StatusCode.FROZEN);
                }
                shutdown(timeout);
            }
            start(false);
        });
    }

    /** A wait of {@code action}: zero means none, a negative one is a caller's mistake (not "forever"). */
    private static void requireNonNegative(Duration timeout, String action) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new InvalidArgumentException("Invalid " + action + " timeout " + timeout.toMillis()
                    + " ms: must be zero or more");
        }
    }

    @Override
    public void freeze() {
        requireInstance("freeze");
        StatusCode status = statusCode();
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_ISNT_RUNNING, status);
        }
        if (status == StatusCode.FROZEN) {
            if (type() == InstanceType.CONTAINER) {
                throw new InstanceStateException(ErrorTexts.CONTAINER_ALREADY_FROZEN, status);
            }
            return;
        }
        // Safer than Incus, which freezes outside any operation: a freeze racing a stop or a delete could leave a
        // frozen instance behind, so it is refused while another operation holds the instance.
        runHeld(owner.locks().create(args.project(), args.name(), operation, OperationLocks.Action.UPDATE, false,
                false), () -> {
            if (driverStatus() == StatusCode.RUNNING) {
                doFreeze();
            }
        });
    }

    @Override
    public void unfreeze() {
        requireInstance("unfreeze");
        StatusCode status = statusCode();
        boolean container = type() == InstanceType.CONTAINER;
        if (!status.isRunning()) {
            throw new InstanceStateException(container ? ErrorTexts.CONTAINER_ISNT_RUNNING : ErrorTexts.INSTANCE_ISNT_RUNNING,
                    status);
        }
        if (status != StatusCode.FROZEN) {
            if (container) {
                throw new InstanceStateException(ErrorTexts.CONTAINER_ALREADY_RUNNING, status);
            }
            return;
        }
        runHeld(owner.locks().create(args.project(), args.name(), operation, OperationLocks.Action.UPDATE, false,
                false), () -> {
            if (driverStatus() == StatusCode.FROZEN) {
                doUnfreeze();
            }
        });
    }

    @Override
    public void rebuild(Image image, Operation op) {
        requireInstance("rebuild");
        if (isRunning()) {
            throw new InstanceStateException(ErrorTexts.REBUILD_RUNNING, statusCode());
        }
        runHeld(owner.locks().create(args.project(), args.name(), op, OperationLocks.Action.CREATE, false,
                false), () -> {
            doRebuild(image, op);
            mutate(a -> {
                Map<String, String> c = new HashMap<>(a.config());
                c.keySet().removeIf(k -> k.startsWith("image.") || k.equals("volatile.base_image")
                        || k.equals("volatile.idmap.next") || k.equals("volatile.last_state.idmap"));
                if (image != null) {
                    image.properties().forEach((k, v) -> c.put("image." + k, v));
                    c.put("volatile.base_image", image.fingerprint());
                }
                String uuid = c.get("volatile.uuid");
                if (uuid != null) {
                    c.put("volatile.uuid.generation", uuid);
                }
                return a.toBuilder().config(c).build();
            }, true);
        });
    }

    /** Incus's {@code onStop}: records the power state; ephemeral instances go away unless restarting. */
    private void onStopped(InstanceOperation op) {
        boolean restarting = op.actionMatch(OperationLocks.Action.RESTART.value(),
                OperationLocks.Action.RESTORE.value(), OperationLocks.Action.MIGRATE.value());
        volatileSetInternal(Map.of("volatile.last_state.power", PowerState.STOPPED), false);
        if (args.ephemeral() && !restarting) {
            LOG.log(System.Logger.Level.DEBUG, "Deleting ephemeral instance {0} after stop", fullName());
            deleteNow();
        }
    }

    /**
     * For drivers whose instance stopped without an API call (the guest powered off, its init or QEMU died): Incus's
     * stop hook outside any operation. Records {@code volatile.last_state.power=STOPPED} and deletes an ephemeral
     * instance. Does nothing while an operation (stop, restart, restore, migrate, delete...) holds the instance:
     * that operation handles the stop itself.
     *
     * @return whether the stop was handled here (false while an operation holds the instance)
     */
    protected final boolean stoppedByItself() {
        if (deleted || owner.locks().get(args.project(), args.name()).isPresent()) {
            return false;
        }
        volatileSetInternal(Map.of("volatile.last_state.power", PowerState.STOPPED), false);
        if (args.ephemeral()) {
            try {
                delete(true);
            } catch (IncusException busy) {
                LOG.log(System.Logger.Level.DEBUG, "Ephemeral instance {0} not deleted after it stopped: {1}",
                        fullName(), busy.getMessage());
            }
        }
        return true;
    }

    private void requireStopped(java.util.function.Function<String, String> message) {
        StatusCode after = driverStatus();
        if (after != StatusCode.STOPPED) {
            throw new InstanceStateException(message.apply(after.text()), after);
        }
    }

    // =============================================================================================================
    // Snapshots and restore
    // =============================================================================================================

    @Override
    public void snapshot(String name, Instant expiry, boolean stateful) {
        requireInstance("snapshot");
        NameRules.validateSnapshotName(name);
        if (stateful) {
            if (!ConfigValues.isTrue(expandedConfig.get("migration.stateful"))) {
                throw new InvalidArgumentException(ErrorTexts.statefulSnapshotNeedsMigrationStateful(type()));
            }
            if (!isRunning()) {
                throw new InstanceStateException(ErrorTexts.STATEFUL_SNAPSHOT_NOT_RUNNING, statusCode());
            }
        }
        inSnapshotQueue(OperationLocks.Action.CREATE, () -> {
            synchronized (this) {
                String fullSnapName = NameRules.snapshotFullName(name(), name);
                for (InstanceArgs s : snapshotArgs) {
                    if (s.name().equals(fullSnapName)) {
                        throw new BusyException(ErrorTexts.snapshotExists(fullSnapName));
                    }
                }
                InstanceArgs snap = args.toBuilder()
                        .name(fullSnapName)
                        .snapshot(true)
                        .stateful(stateful)
                        .creationDate(owner.clock().instant())
                        .lastUsedDate(Instant.EPOCH)
                        .expiryDate(expiry)
                        .build();
                doSnapshot(snap, stateful);
                List<InstanceArgs> updated = new ArrayList<>(snapshotArgs);
                updated.add(snap);
                setDefinition(args, updated);
                persist();
            }
        });
    }

    /**
     * Runs a snapshot change under this instance's operation lock ({@code action}), after the snapshot changes
     * queued before it: a snapshot is never taken while a restore, rebuild or migration changes the instance.
     */
    private void inSnapshotQueue(OperationLocks.Action action, Runnable body) {
        Duration wait = owner.locks().maxWait();
        try {
            if (!snapshotQueue.tryLock(wait.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new OperationTimeoutException("Timed out after " + wait.toSeconds()
                        + " s waiting for the snapshot operations queued on " + ErrorTexts.quote(name()));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OperationTimeoutException("Interrupted waiting for the snapshot operations queued on "
                    + ErrorTexts.quote(name()));
        }
        try {
            requireExists();
            runHeld(owner.locks().create(args.project(), args.name(), operation, action, false, false), () -> {
                body.run();
            });
        } finally {
            snapshotQueue.unlock();
        }
    }

    @Override
    public List<Instance> snapshots() {
        if (isSnapshot()) {
            return List.of();
        }
        List<Instance> out = new ArrayList<>(snapshotArgs.size());
        for (InstanceArgs s : snapshotArgs) {
            out.add(newSnapshotHandle(s));
        }
        return out;
    }

    /** The snapshot with short name {@code snapName}, if any. */
    Optional<Instance> findSnapshot(String snapName) {
        String full = NameRules.snapshotFullName(name(), snapName);
        for (InstanceArgs s : snapshotArgs) {
            if (s.name().equals(full)) {
                return Optional.of(newSnapshotHandle(s));
            }
        }
        return Optional.empty();
    }

    @Override
    public void restore(Instance source, boolean stateful) {
        requireInstance("restore");
        Objects.requireNonNull(source, "source");
        InstanceArgs snap = null;
        if (source.isSnapshot() && NameRules.parentName(source.name()).equals(name())
                && source.project().name().equals(args.project())) {
            for (InstanceArgs s : snapshotArgs) {
                if (s.name().equals(source.name())) {
                    snap = s;
                }
            }
        }
        if (snap == null) {
            throw new NotFoundException("Snapshot " + ErrorTexts.quote(source.name()) + " of instance "
                    + ErrorTexts.quote(name()) + " not found");
        }
        if (stateful && !snap.stateful()) {
            throw new InvalidArgumentException(ErrorTexts.STATEFUL_RESTORE_STATELESS);
        }
        InstanceArgs from = snap;
        runHeld(owner.locks().create(args.project(), args.name(), operation, OperationLocks.Action.RESTORE, false,
                false), () -> {
            boolean wasRunning = isRunning();
            if (wasRunning) {
                stop(false);
            }
            doRestore(from);
            mutate(a -> {
                // The snapshot's config comes back, but the instance keeps its identity and volatile state.
                Map<String, String> c = new HashMap<>(from.config());
                c.keySet().removeIf(k -> k.startsWith("volatile."));
                a.config().forEach((k, v) -> {
                    if (k.startsWith("volatile.")) {
                        c.put(k, v);
                    }
                });
                String uuid = from.config().get("volatile.uuid.generation");
                if (uuid != null) {
                    c.put("volatile.uuid.generation", uuid);
                }
                return a.toBuilder().config(c).devices(from.devices()).profiles(from.profiles())
                        .ephemeral(from.ephemeral()).description(from.description())
                        .stateful(stateful).build();
            }, true);
            if (stateful || wasRunning) {
                start(stateful);
            }
        });
    }

    @Override
    public List<InstanceBackup> backups() {
        // Backups are made by Incus's REST layer, which incus4j does not have: an instance has none.
        return List.of();
    }

    @Override
    public void updateBackupFile() {
        if (isSnapshot()) {
            parent.updateBackupFile();
            return;
        }
        persist();
    }

    @Override
    public boolean canLiveMigrate() {
        return ConfigValues.isTrue(expandedConfig.get("migration.stateful"));
    }

    @Override
    public String canMigrate() {
        String evacuate = expandedConfig.get("cluster.evacuate");
        if (evacuate != null && !evacuate.isEmpty() && !evacuate.equals("auto")) {
            return evacuate;
        }
        return type() == InstanceType.VM && canLiveMigrate() ? "live-migrate" : "migrate";
    }

    // =============================================================================================================
    // Config handling
    // =============================================================================================================

    @Override
    public void rename(String newName, boolean applyTemplateTrigger) {
        if (isSnapshot()) {
            NameRules.validateSnapshotName(newName);
            String oldSnap = NameRules.snapshotPart(name());
            parent.inSnapshotQueue(OperationLocks.Action.UPDATE, () -> parent.renameSnapshot(oldSnap, newName));
            return;
        }
        NameRules.validateInstanceName(newName, false);
        requireExists();
        if (isRunning()) {
            throw new InstanceStateException(ErrorTexts.RENAME_RUNNING, statusCode());
        }
        if (newName.equals(name())) {
            return;
        }
        InstanceOperation renaming = owner.locks().create(args.project(), args.name(), operation,
                OperationLocks.Action.UPDATE, false, false);
        // The new name is locked too, as a create: no create, rename or delete of that name can run meanwhile.
        InstanceOperation target;
        try {
            target = owner.locks().create(args.project(), newName, operation, OperationLocks.Action.CREATE, false,
                    false);
        } catch (RuntimeException e) {
            renaming.done(e);
            throw e;
        }
        try {
            runHeld(renaming, () -> renameLocked(newName, applyTemplateTrigger));
        } finally {
            target.done(null);
        }
    }

    private void renameLocked(String newName, boolean applyTemplateTrigger) {
        synchronized (this) {
            requireExists();
            String oldName = name();
            String oldFull = fullName();
            String newFull = AbstractInstances.key(args.project(), newName);
            renameInRegistry(oldName, newName);
            try {
                doRename(oldFull, newFull);
            } catch (RuntimeException e) {
                unrenameInRegistry(oldName, newName);
                throw e;
            }
            List<InstanceArgs> snaps = new ArrayList<>();
            for (InstanceArgs s : snapshotArgs) {
                snaps.add(s.toBuilder().name(NameRules.snapshotFullName(newName, NameRules.snapshotPart(s.name())))
                        .build());
            }
            Map<String, String> c = new HashMap<>(args.config());
            c.put("volatile.cloud-init.instance-id", UUID.randomUUID().toString());
            if (applyTemplateTrigger && !c.containsKey("volatile.apply_template")) {
                c.put("volatile.apply_template", TemplateTrigger.RENAME.value());
            }
            setDefinition(args.toBuilder().name(newName).config(c).build(), snaps);
            persist();
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void renameInRegistry(String oldName, String newName) {
        ((AbstractInstances) owner).rename(this, args.project(), oldName, newName);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void unrenameInRegistry(String oldName, String newName) {
        ((AbstractInstances) owner).unrename(this, args.project(), oldName, newName);
    }

    private synchronized void renameSnapshot(String oldSnap, String newSnap) {
        String oldFull = NameRules.snapshotFullName(name(), oldSnap);
        String newFull = NameRules.snapshotFullName(name(), newSnap);
        List<InstanceArgs> snaps = new ArrayList<>();
        boolean found = false;
        for (InstanceArgs s : snapshotArgs) {
            if (s.name().equals(newFull)) {
                throw new BusyException(ErrorTexts.snapshotNameInUse(newFull));
            }
            if (s.name().equals(oldFull)) {
                found = true;
                snaps.add(s.toBuilder().name(newFull).build());
            } else {
                snaps.add(s);
            }
        }
        if (!found) {
            throw new NotFoundException("Snapshot " + ErrorTexts.quote(oldSnap) + " not found");
        }
        StorageFiles.moveIfExists(owner.paths().path(type(), AbstractInstances.key(args.project(), oldFull)),
                owner.paths().path(type(), AbstractInstances.key(args.project(), newFull)));
        setDefinition(args, snaps);
        persist();
    }

    @Override
    public void update(InstanceArgs newArgs, boolean userRequested) {
        requireInstance("update");
        Objects.requireNonNull(newArgs, "args");
        Optional<InstanceOperation> lock = owner.locks().createWaitGet(args.project(), args.name(), operation,
                OperationLocks.Action.UPDATE,
                Set.of(OperationLocks.Action.CREATE, OperationLocks.Action.RESTART, OperationLocks.Action.RESTORE),
                false, false);
        if (lock.isEmpty()) {
            return;
        }
        runHeld(lock.get(), () -> {
            synchronized (this) {
                try {
                    AbstractInstances.validateDefinition(type(), newArgs.config(), newArgs.devices().map(),
                            newArgs.profiles());
                } catch (InvalidArgumentException e) {
                    String msg = e.getMessage();
                    throw new InvalidArgumentException(msg.startsWith("Invalid devices") || msg.startsWith(
                            ErrorTexts.DUPLICATE_PROFILE) ? msg : "Invalid config: " + msg, e);
                }
                if (userRequested) {
                    for (String k : IDMAP_KEYS) {
                        if (args.config().containsKey(k) && !newArgs.config().containsKey(k)) {
                            throw new InvalidArgumentException(ErrorTexts.VOLATILE_IDMAP_DELETE);
                        }
                    }
                }
                Devices newDevices = ProfileExpansion.expandDevices(newArgs.profiles(), newArgs.devices());
                owner.deviceSupport(type()).check(type(), newDevices);
                DeviceChanges devChanges = DeviceChanges.between(expandedDevices, newDevices);
                if (userRequested) {
                    for (Map.Entry<String, Device> e : devChanges.added().entrySet()) {
                        String missing = DeviceChanges.missingSource(e.getKey(), e.getValue());
                        if (missing != null && DeviceChanges.appliesTo(type(), e.getValue())) {
                            throw new InvalidArgumentException("Failed add validation for device "
                                    + ErrorTexts.quote(e.getKey()) + ": " + missing);
                        }
                    }
                }
                Map<String, String> newConfig = new HashMap<>(newArgs.config());
                devChanges.removed().forEach((n, d) -> DeviceChanges.volatileToClear(n, d, devChanges.added().get(n),
                        newConfig).forEach(newConfig::remove));
                DeviceChanges.fillVolatile(type(), newDevices, devChanges.added().keySet(), newConfig);
                InstanceArgs updated = args.toBuilder()
                        .config(newConfig)
                        .devices(newArgs.devices())
                        .profiles(newArgs.profiles())
                        .description(newArgs.description())
                        .ephemeral(newArgs.ephemeral())
                        .architecture(newArgs.architecture() == 0 ? args.architecture() : newArgs.architecture())
                        .expiryDate(newArgs.expiryDate())
                        .build();
                Map<String, String> oldExpanded = expandedConfig;
                Map<String, String> newExpanded = ProfileExpansion.expandConfig(updated.profiles(), updated.config());
                Set<String> changed = new HashSet<>(oldExpanded.keySet());
                changed.addAll(newExpanded.keySet());
                changed.removeIf(k -> Objects.equals(oldExpanded.get(k), newExpanded.get(k)));
                if (isRunning()) {
                    for (String k : changed) {
                        if (!LiveUpdates.canUpdateLive(type(), k)) {
                            throw new InvalidArgumentException(LiveUpdates.liveUpdateError(k));
                        }
                    }
                    Map<String, String> beforeHooks = args.config();
                    applyDeviceChanges(devChanges, newConfig);
                    updated = withHookVolatiles(updated, beforeHooks, args.config(), devChanges);
                    applyLiveUpdate(oldExpanded, newExpanded, changed);
                }
                setDefinition(updated, snapshotArgs);
                persist();
            }
        });
    }

    @Override
    public void delete(boolean force) {
        if (isSnapshot()) {
            parent.inSnapshotQueue(OperationLocks.Action.DELETE, () -> parent.deleteSnapshot(args));
            return;
        }
        requireExists();
        runHeld(owner.locks().create(args.project(), args.name(), operation, OperationLocks.Action.DELETE, false,
                false), () -> {
            StatusCode status = statusCode();
            if (status.isRunning()) {
                throw new InstanceStateException(ErrorTexts.INSTANCE_IS_RUNNING, status);
            }
            if (!force && ConfigValues.isTrue(expandedConfig.get("security.protection.delete"))) {
                throw new InstanceStateException(ErrorTexts.DELETE_PROTECTION, status);
            }
            deleteNow();
        });
    }

    /**
     * Removes storage, forgets the instance, then removes its directories and, last, its record (a crash midway
     * leaves a record that a reopen finds and a delete finishes). Runs under the instance's operation lock, which a
     * create or a rename into this name also needs, so no one can take the name before its directories are gone.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private synchronized void deleteNow() {
        for (InstanceArgs s : snapshotArgs) {
            doDeleteSnapshot(s);
        }
        doDelete();
        deleted = true;
        recordDirty = false;
        ((AbstractInstances) owner).unregister(this);
        owner.removeInstanceDirectories(type(), fullName());
    }

    private synchronized void deleteSnapshot(InstanceArgs snap) {
        List<InstanceArgs> remaining = new ArrayList<>(snapshotArgs);
        if (!remaining.removeIf(s -> s.name().equals(snap.name()))) {
            throw new NotFoundException("Snapshot " + ErrorTexts.quote(NameRules.snapshotPart(snap.name())) + " not found");
        }
        doDeleteSnapshot(snap);
        AbstractInstances.deleteTree(owner.paths().path(type(), AbstractInstances.key(args.project(), snap.name())));
        setDefinition(args, remaining);
        persist();
    }

    @Override
    public ImageMetadata export(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker) {
        Objects.requireNonNull(meta, "meta");
        requireExists();
        if (isRunning()) {
            throw new InstanceStateException(ErrorTexts.EXPORT_RUNNING, statusCode());
        }
        return doExport(meta, rootfs, properties == null ? Map.of() : properties, expiration, tracker);
    }

    // =============================================================================================================
    // Live configuration, files, console, exec
    // =============================================================================================================

    @Override
    public CGroup cgroup() {
        requireInstance("cgroup");
        if (type() == InstanceType.VM) {
            throw new NotSupportedException(NotSupportedException.NOT_IMPLEMENTED);
        }
        return doCgroup();
    }

    @Override
    public void volatileSet(Map<String, String> changes) {
        for (String k : changes.keySet()) {
            if (!k.startsWith("volatile.")) {
                throw new InvalidArgumentException(ErrorTexts.VOLATILE_ONLY);
            }
        }
        volatileSetInternal(changes, true);
    }

    /** Sets volatile keys; {@code durable} writes the record now, else it is written with the next change or close. */
    protected final void volatileSetInternal(Map<String, String> changes, boolean durable) {
        if (isSnapshot()) {
            throw new InvalidArgumentException("Snapshots cannot be modified");
        }
        mutate(a -> {
            Map<String, String> c = new HashMap<>(a.config());
            changes.forEach((k, v) -> {
                if (v == null || v.isEmpty()) {
                    c.remove(k);
                } else {
                    c.put(k, v);
                }
            });
            return a.toBuilder().config(c).build();
        }, durable);
    }

    @Override
    public void deferTemplateApply(TemplateTrigger trigger) {
        if (localConfig().containsKey("volatile.apply_template")) {
            return;
        }
        volatileSet(Map.of("volatile.apply_template", trigger.value()));
    }

    @Override
    public Connection fileSftpConn() {
        requireExists();
        if (type() == InstanceType.VM && !isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, statusCode());
        }
        return doFileSftpConn();
    }

    @Override
    public SftpClient fileSftp() {
        requireExists();
        if (type() == InstanceType.VM && !isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, statusCode());
        }
        return WireSftpClient.open(doFileSftpConn());
    }

    @Override
    public ConsoleSession console(String protocol) {
        requireInstance("console");
        if (type() == InstanceType.CONTAINER && !ConsoleTypes.CONSOLE.equals(protocol)) {
            throw new InvalidArgumentException(ErrorTexts.containerConsoleUnsupported(protocol));
        }
        if (!ConsoleTypes.CONSOLE.equals(protocol) && !ConsoleTypes.VGA.equals(protocol)) {
            throw new InvalidArgumentException(ErrorTexts.unknownConsoleProtocol(protocol));
        }
        StatusCode status = statusCode();
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, status);
        }
        return doConsole(protocol);
    }

    @Override
    public Cmd exec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        requireInstance("exec");
        Objects.requireNonNull(request, "request");
        StatusCode status = statusCode();
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, status);
        }
        if (status == StatusCode.FROZEN) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_FROZEN, status);
        }
        return doExec(request, stdin, stdout, stderr);
    }

    @Override
    public InstanceOperation lockExclusive() {
        requireInstance("lock");
        StatusCode status = statusCode();
        if (status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_IS_RUNNING, status);
        }
        return owner.locks().create(args.project(), args.name(), operation, OperationLocks.Action.CREATE, false,
                false);
    }

    /**
     * {@code updated} with the volatile keys the device hooks recorded meanwhile for the devices added or updated
     * ({@code volatile.<dev>.host_name}...): Incus's {@code VolatileSet} writes the instance's new local config, so
     * they survive the update.
     */
    private static InstanceArgs withHookVolatiles(InstanceArgs updated, Map<String, String> before,
            Map<String, String> after, DeviceChanges changes) {
        Set<String> devs = new HashSet<>(changes.added().keySet());
        devs.addAll(changes.updated().keySet());
        Map<String, String> c = new HashMap<>(updated.config());
        boolean touched = false;
        for (String dev : devs) {
            String prefix = "volatile." + dev + ".";
            Set<String> keys = new HashSet<>(before.keySet());
            keys.addAll(after.keySet());
            for (String k : keys) {
                if (k.startsWith(prefix) && !Objects.equals(before.get(k), after.get(k))) {
                    touched = true;
                    if (after.get(k) == null) {
                        c.remove(k);
                    } else {
                        c.put(k, after.get(k));
                    }
                }
            }
        }
        return touched ? updated.toBuilder().config(c).build() : updated;
    }

    /**
     * Incus's {@code devicesUpdate} on a running instance: removes (in reverse name order), adds (in name order),
     * then updates in place, refusing first what Incus refuses live ({@code CanHotPlug}). A failed step undoes the
     * steps before it, best effort, and the definition stays unchanged.
     */
    private void applyDeviceChanges(DeviceChanges changes, Map<String, String> newConfig) {
        for (Map.Entry<String, Device> e : changes.removed().entrySet()) {
            if (!DeviceChanges.canHotPlug(type(), e.getValue())) {
                throw new InvalidArgumentException(DeviceChanges.hotRemoveError(e.getKey()));
            }
        }
        for (Map.Entry<String, Device> e : changes.added().entrySet()) {
            if (!DeviceChanges.canHotPlug(type(), e.getValue())) {
                throw new InvalidArgumentException(DeviceChanges.hotAddError(e.getKey()));
            }
        }
        Deque<Runnable> undo = new ArrayDeque<>();
        try {
            List<String> removing = new ArrayList<>(new TreeSet<>(changes.removed().keySet()).descendingSet());
            for (String n : removing) {
                Device d = DeviceChanges.withVolatile(n, changes.removed().get(n), localConfig());
                if (DeviceChanges.appliesTo(type(), d) && !"none".equals(d.type())) {
                    deviceRemove(n, d);
                    undo.push(() -> deviceAdd(n, d));
                }
            }
            for (String n : new TreeSet<>(changes.added().keySet())) {
                Device d = DeviceChanges.withVolatile(n, changes.added().get(n), newConfig);
                if (DeviceChanges.appliesTo(type(), d) && !"none".equals(d.type())) {
                    deviceAdd(n, d);
                    undo.push(() -> deviceRemove(n, d));
                }
            }
            for (String n : new TreeSet<>(changes.updated().keySet())) {
                Device old = DeviceChanges.withVolatile(n, expandedDevices.get(n), localConfig());
                Device d = DeviceChanges.withVolatile(n, changes.updated().get(n), newConfig);
                if (DeviceChanges.appliesTo(type(), d)) {
                    deviceUpdate(n, old, d);
                    undo.push(() -> deviceUpdate(n, d, old));
                }
            }
        } catch (RuntimeException e) {
            while (!undo.isEmpty()) {
                try {
                    undo.pop().run();
                } catch (RuntimeException again) {
                    e.addSuppressed(again);
                }
            }
            throw e;
        }
    }

    /**
     * Hot-plugs device {@code name} into this running instance (an update added it). {@code device} is the expanded
     * config, NICs with {@code hwaddr} and {@code name} filled from their volatile keys; {@code none} devices and
     * devices Incus skips on this instance type never come here, nor kinds {@link AbstractInstances#deviceSupport}
     * does not declare, nor what Incus refuses live ({@code CanHotPlug}). The default refuses: a driver that
     * applies devices at start only keeps the update from being recorded but not applied.
     *
     * @throws NotSupportedException by default
     */
    protected void deviceAdd(String name, Device device) {
        throw new NotSupportedException("The " + ErrorTexts.quote(owner.info().name()) + " driver cannot add device "
                + ErrorTexts.quote(name) + " to a running instance");
    }

    /**
     * Unplugs device {@code name} from this running instance (an update removed it, or changed it in a way that
     * is not updatable in place: then {@link #deviceAdd} follows with the new config). Arguments as for
     * {@link #deviceAdd}; the device's volatile keys are cleared by the caller afterwards, as Incus does.
     *
     * @throws NotSupportedException by default
     */
    protected void deviceRemove(String name, Device device) {
        throw new NotSupportedException("The " + ErrorTexts.quote(owner.info().name())
                + " driver cannot remove device " + ErrorTexts.quote(name) + " from a running instance");
    }

    /**
     * Applies in place a change limited to the keys Incus updates live for the device's kind (a disk's
     * {@code limits.*}, a bridged NIC's {@code limits.*}, {@code ipv4.address}...), or re-applies an unchanged device
     * for {@link #reloadDevice} ({@code oldDevice.equals(newDevice)}). The default accepts a reload (Incus's
     * {@code deviceCommon.Update} does nothing) and refuses a real change.
     *
     * @throws NotSupportedException by default, for a real change
     */
    protected void deviceUpdate(String name, Device oldDevice, Device newDevice) {
        if (!oldDevice.equals(newDevice)) {
            throw new NotSupportedException("The " + ErrorTexts.quote(owner.info().name())
                    + " driver cannot update device " + ErrorTexts.quote(name) + " of a running instance");
        }
    }

    /**
     * The devices to apply at start, in Incus's order (by name), as {@link #deviceAdd} receives them: expanded,
     * without {@code none} and without devices Incus skips on this instance type, NICs filled from their volatile
     * keys. Drivers start these and record {@code volatile.<dev>.host_name} and the like with
     * {@link #deviceVolatileSet}.
     */
    protected final List<Map.Entry<String, Device>> devicesToStart() {
        List<Map.Entry<String, Device>> out = new ArrayList<>();
        Map<String, String> local = localConfig();
        for (Map.Entry<String, Device> e : expandedDevices.sorted()) {
            Device d = e.getValue();
            if (d != null && !"none".equals(d.type()) && DeviceChanges.appliesTo(type(), d)) {
                out.add(Map.entry(e.getKey(), DeviceChanges.withVolatile(e.getKey(), d, local)));
            }
        }
        return List.copyOf(out);
    }

    /** A device's volatile keys without their {@code volatile.<dev>.} prefix ({@code deviceVolatileGetFunc}). */
    protected final Map<String, String> deviceVolatile(String devName) {
        String prefix = "volatile." + devName + ".";
        Map<String, String> out = new TreeMap<>();
        localConfig().forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }

    /**
     * Saves a device's volatile keys given without prefix ({@code deviceVolatileSetFunc}); an empty value removes
     * the key. {@code durable} writes the record now.
     */
    protected final void deviceVolatileSet(String devName, Map<String, String> values, boolean durable) {
        Map<String, String> changes = new HashMap<>();
        values.forEach((k, v) -> changes.put("volatile." + devName + "." + k, v));
        volatileSetInternal(changes, durable);
    }

    @Override
    public void reloadDevice(String devName) {
        Device d = expandedDevices.get(devName);
        if (d == null) {
            throw new NotFoundException("Device " + ErrorTexts.quote(devName) + " not found");
        }
        // Incus's ReloadDevice: dev.Update(expandedDevices, true), the device re-applying its current config.
        if (isRunning() && DeviceChanges.appliesTo(type(), d) && !"none".equals(d.type())) {
            Device filled = DeviceChanges.withVolatile(devName, d, localConfig());
            deviceUpdate(devName, filled, filled);
        }
    }

    @Override
    public void registerDevices() {
        // Devices need no host-side registration unless a driver says otherwise.
    }

    @Override
    public void deviceEventHandler(RunConfig runConfig) {
        Objects.requireNonNull(runConfig, "runConfig");
        if (!isRunning()) {
            return;
        }
        runConfig.postHooks().forEach(Runnable::run);
    }

    @Override
    public void onHook(String hookName, Map<String, String> hookArgs) {
        if (type() == InstanceType.VM) {
            throw new NotSupportedException(NotSupportedException.NOT_IMPLEMENTED);
        }
        switch (hookName) {
            case Hooks.START:
            case Hooks.STOP_NS:
                return;
            case Hooks.STOP:
                String target = hookArgs.getOrDefault("target", "stop");
                if (!target.equals("stop") && !target.equals("reboot")) {
                    throw new InvalidArgumentException(ErrorTexts.invalidStopTarget(target));
                }
                return;
            default:
                throw new InvalidArgumentException("Unknown hook " + ErrorTexts.quote(hookName));
        }
    }

    @Override
    public Device fillNetworkDevice(String devName, Device device) {
        if (!"nic".equals(device.type()) && !"infiniband".equals(device.type())) {
            return device;
        }
        Map<String, String> config = new HashMap<>(localConfig());
        DeviceChanges.fillVolatile(type(), expandedDevices.with(devName, device), Set.of(devName), config);
        Map<String, String> volatileChanges = new HashMap<>();
        config.forEach((k, v) -> {
            if (!localConfig().containsKey(k)) {
                volatileChanges.put(k, v);
            }
        });
        if (!volatileChanges.isEmpty()) {
            volatileSet(volatileChanges);
        }
        return DeviceChanges.withVolatile(devName, device, config);
    }

    // =============================================================================================================
    // Rendering and metrics
    // =============================================================================================================

    @Override
    public List<Object> etag() {
        if (isSnapshot()) {
            List<Object> out = new ArrayList<>(1);
            out.add(args.expiryDate() == null ? RestJson.GO_ZERO_TIME : args.expiryDate());
            return out;
        }
        List<String> config = new ArrayList<>();
        args.config().forEach((k, v) -> config.add(k + "=" + v));
        return List.of(Architectures.name(args.architecture()), args.ephemeral(), profileNames(),
                args.devices().sorted(), config);
    }

    private List<String> profileNames() {
        List<String> names = new ArrayList<>(args.profiles().size());
        for (Profile p : args.profiles()) {
            names.add(p.name());
        }
        return names;
    }

    @Override
    public Render<ApiRenderable> render() {
        if (isSnapshot()) {
            return new Render<>(renderSnapshot(-1), etag());
        }
        return new Render<>(renderInstance(statusCode()), etag());
    }

    @Override
    public Render<ApiRenderable> renderWithUsage() {
        if (isSnapshot()) {
            long size = -1;
            ApiInstanceState.Disk root = diskState().get("root");
            if (root != null && root.usage() >= 0) {
                size = root.usage();
            }
            return new Render<>(renderSnapshot(size), etag());
        }
        return render();
    }

    private ApiInstance renderInstance(StatusCode status) {
        return new ApiInstance(Architectures.name(args.architecture()), args.config(), args.devices(),
                args.ephemeral(), profileNames(), args.stateful(), args.description(), args.creationDate(),
                expandedConfig, expandedDevices, name(), status.text(), status.code(), lastUsedDate(), location(),
                type().apiName(), args.project());
    }

    private ApiInstanceSnapshot renderSnapshot(long size) {
        return new ApiInstanceSnapshot(args.expiryDate() == null ? RestJson.GO_ZERO_TIME : args.expiryDate(),
                Architectures.name(args.architecture()), args.config(), args.creationDate(), args.description(),
                args.devices(), args.ephemeral(), expandedConfig, expandedDevices, lastUsedDate(),
                NameRules.snapshotPart(name()), profileNames(), args.stateful(), size);
    }

    @Override
    public Render<ApiInstanceFull> renderFull(List<NetworkInterface> hostInterfaces) {
        if (isSnapshot()) {
            throw new InvalidArgumentException(type() == InstanceType.VM
                    ? "RenderFull doesn't work with snapshots" : "RenderFull only works with containers");
        }
        StatusCode status = statusCode();
        List<ApiInstanceSnapshot> snaps = new ArrayList<>();
        for (Instance s : snapshots()) {
            snaps.add((ApiInstanceSnapshot) s.render().value());
        }
        ApiInstanceFull full = new ApiInstanceFull(renderInstance(status), backups(), renderState(hostInterfaces),
                snaps);
        return new Render<>(full, etag());
    }

    @Override
    public ApiInstanceState renderState(List<NetworkInterface> hostInterfaces) {
        StatusCode status = statusCode();
        if (status == StatusCode.ERROR) {
            return new ApiInstanceState(status.text(), status.code(), Map.of(), null, Map.of(), 0, 0, null, null,
                    null);
        }
        if (!status.isRunning()) {
            return new ApiInstanceState(status.text(), status.code(), diskState(), null, Map.of(), 0,
                    type() == InstanceType.VM ? -1 : 0, null, null, null);
        }
        ApiInstanceState live = runningState(status, hostInterfaces == null ? List.of() : hostInterfaces);
        return new ApiInstanceState(status.text(), status.code(), diskState(), live.memory(), live.network(),
                live.pid(), live.processes(), live.cpu(), live.startedAt(), live.osInfo());
    }

    @Override
    public MetricSet metrics(List<NetworkInterface> hostInterfaces) {
        requireInstance("metrics");
        StatusCode status = statusCode();
        if (!status.isRunning()) {
            throw new InstanceStateException(ErrorTexts.ALREADY_STOPPED, status);
        }
        MetricSet set = MetricSet.forInstance(args.project(), name(), type().apiName());
        collectMetrics(set, hostInterfaces == null ? List.of() : hostInterfaces);
        return set;
    }

    // =============================================================================================================
    // Migration
    // =============================================================================================================

    @Override
    public void migrateSend(MigrateSendArgs sendArgs) {
        requireInstance("migrate");
        Objects.requireNonNull(sendArgs, "args");
        if (sendArgs.common().live() && !canLiveMigrate()) {
            throw new InvalidArgumentException(ErrorTexts.LIVE_MIGRATION_NEEDS_STATEFUL);
        }
        InstanceOperation op;
        try {
            op = owner.locks().create(args.project(), args.name(), operation, OperationLocks.Action.MIGRATE, false,
                    true);
        } catch (BusyException e) {
            throw new BusyException(ErrorTexts.ALREADY_MIGRATING, e);
        }
        runHeld(op, () -> doMigrateSend(sendArgs));
    }

    @Override
    public void migrateReceive(MigrateReceiveArgs receiveArgs) {
        requireInstance("migrate");
        Objects.requireNonNull(receiveArgs, "args");
        // Refusals before anything is received tell the source at once (it waits for the target's answer).
        if (isRunning()) {
            throw io.github.incus4j.api.internal.migration.MigrationWire.abandon(receiveArgs.common(),
                    new InstanceStateException(ErrorTexts.INSTANCE_IS_RUNNING, statusCode()));
        }
        if (receiveArgs.instanceOperation() != null) {
            doMigrateReceive(receiveArgs);
            return;
        }
        InstanceOperation op;
        try {
            op = owner.locks().create(args.project(), args.name(), operation, OperationLocks.Action.CREATE, false,
                    false);
        } catch (IncusException e) {
            throw io.github.incus4j.api.internal.migration.MigrationWire.abandon(receiveArgs.common(), e);
        }
        runHeld(op, () -> doMigrateReceive(receiveArgs));
    }

    /**
     * Replaces this (target) instance's definition with one received from a migration source: config, devices,
     * profiles and snapshots, keeping this instance's name and project.
     */
    protected final synchronized void adoptDefinition(InstanceRecord received) {
        InstanceArgs src = received.instance();
        InstanceArgs merged = args.toBuilder().config(src.config()).devices(src.devices()).profiles(src.profiles())
                .description(src.description()).ephemeral(src.ephemeral()).architecture(src.architecture())
                .stateful(src.stateful()).build();
        List<InstanceArgs> snaps = new ArrayList<>();
        for (InstanceArgs s : received.snapshots()) {
            snaps.add(s.toBuilder().project(args.project())
                    .name(NameRules.snapshotFullName(name(), NameRules.snapshotPart(s.name()))).build());
        }
        setDefinition(merged, snaps);
        persist();
    }

    /** The {@code PATH} of a command whose environment does not set one (Incus's default). */
    public static final String DEFAULT_EXEC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /**
     * The whole environment of a command, as Incus builds it: the {@code environment.*} keys, the request's
     * variables over them, then {@code PATH}, {@code HOME} and {@code USER} (for root) and {@code LANG} where unset.
     */
    protected final Map<String, String> execEnvironment(ExecRequest request) {
        Map<String, String> env = new java.util.TreeMap<>();
        expandedConfig.forEach((k, v) -> {
            if (k.startsWith("environment.")) {
                env.put(k.substring("environment.".length()), v);
            }
        });
        env.putAll(request.environment());
        env.putIfAbsent("PATH", DEFAULT_EXEC_PATH);
        if (request.user() == 0) {
            env.putIfAbsent("HOME", "/root");
            env.putIfAbsent("USER", "root");
        }
        env.putIfAbsent("LANG", "C.UTF-8");
        return env;
    }

    /** A command's working directory: the request's, else {@code HOME} of {@code env}, else {@code /}. */
    protected static String execCwd(ExecRequest request, Map<String, String> env) {
        return request.cwd().isEmpty() ? env.getOrDefault("HOME", "/") : request.cwd();
    }

    /**
     * Runs {@code read} under Incus's {@code console_retrieve} lock (taking over a restart, restore or migration in
     * flight), as a VM's console log is read.
     */
    protected final <T> T withConsoleRetrieveLock(java.util.function.Supplier<T> read) {
        Optional<InstanceOperation> lock = owner.locks().createWaitGet(args.project(), args.name(), operation,
                OperationLocks.Action.CONSOLE_RETRIEVE, Set.of(OperationLocks.Action.RESTART,
                        OperationLocks.Action.RESTORE, OperationLocks.Action.MIGRATE), false, true);
        try {
            return read.get();
        } finally {
            lock.ifPresent(InstanceOperation::close);
        }
    }

    /** This instance's durable record. */
    public final InstanceRecord record() {
        return new InstanceRecord(args, snapshotArgs);
    }

    // =============================================================================================================
    // State plumbing
    // =============================================================================================================

    /**
     * Runs {@code body} under {@code op} and ends the operation with its outcome, so that callers waiting on the
     * same action see the failure (try-with-resources would end it as a success before a catch block runs).
     */
    protected static void runLocked(InstanceOperation op, Runnable body) {
        try {
            body.run();
        } catch (RuntimeException | Error e) {
            op.done(e);
            throw e;
        }
        op.done(null);
    }

    /**
     * {@link #runLocked} after checking that {@code op} still covers this instance: it was not deleted, nor renamed
     * while the caller waited for the lock of its old name.
     */
    private void runHeld(InstanceOperation op, Runnable body) {
        runLocked(op, () -> {
            requireExists();
            if (!owner.locks().covers(op, args.project(), args.name())) {
                throw new NotFoundException(ErrorTexts.INSTANCE_NOT_FOUND);
            }
            body.run();
        });
    }

    /** Applies {@code change} to the definition; {@code durable} writes the record now. */
    protected final synchronized void mutate(UnaryOperator<InstanceArgs> change, boolean durable) {
        requireExists();
        setDefinition(change.apply(args), snapshotArgs);
        if (durable) {
            persist();
        } else {
            recordDirty = true;
        }
    }

    /** Writes the record atomically ({@code Path()/backup.yaml}). */
    protected final synchronized void persist() {
        if (isSnapshot()) {
            parent.persist();
            return;
        }
        requireExists();
        RecordStore.writeAtomically(owner.paths().recordFile(type(), fullName()),
                BackupYaml.write(new InstanceRecord(args, snapshotArgs)), owner.syncRecords());
        recordDirty = false;
    }

    /** Writes the record if a non-durable change is pending. */
    final synchronized void flushRecord() {
        if (recordDirty && !deleted) {
            persist();
        }
    }

    private void setDefinition(InstanceArgs newArgs, List<InstanceArgs> snapshots) {
        this.args = newArgs;
        this.snapshotArgs = List.copyOf(snapshots);
        this.expandedConfig = ProfileExpansion.expandConfig(newArgs.profiles(), newArgs.config());
        this.expandedDevices = ProfileExpansion.expandDevices(newArgs.profiles(), newArgs.devices());
    }

    private void requireInstance(String action) {
        if (isSnapshot()) {
            throw new InvalidArgumentException("Snapshots cannot be used for " + action + ": "
                    + ErrorTexts.quote(name()));
        }
        requireExists();
    }

    /** Fails with Incus's 404 text once the instance (or, for a snapshot handle, its parent) was deleted. */
    protected final void requireExists() {
        if ((parent == null ? this : parent).deleted) {
            throw new NotFoundException(ErrorTexts.INSTANCE_NOT_FOUND);
        }
    }


    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + args.project() + "/" + name() + "]";
    }
}
