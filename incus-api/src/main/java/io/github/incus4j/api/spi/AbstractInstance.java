package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.ProfileExpansion;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.config.DeviceChanges;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.config.VolatileKeys;
import io.github.incus4j.api.internal.store.BackupYaml;
import io.github.incus4j.api.internal.store.RecordStore;
import io.github.incus4j.api.internal.store.StorageFiles;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.PowerState;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.TemplateTrigger;
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
import io.github.incus4j.api.rest.ApiInstanceFull;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.rest.ApiRenderable;
import io.github.incus4j.api.rest.Render;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.NetworkInterface;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.apiguardian.api.API;

/**
 * The driver-independent half of an instance, Incus's {@code driver_common.go}: getters, paths, status, the
 * lifecycle (every action's preconditions, error texts and operation locking), volatile keys and the durable record.
 * A driver extends it and implements the {@code do*} hooks, which run with the preconditions checked and the lock
 * held. Snapshots ({@code InstanceSnapshots}), config and device updates ({@code InstanceUpdate}), renames
 * ({@code InstanceRename}), rendering and metrics ({@code InstanceRendering}), migration and export
 * ({@code InstanceTransfer}) and exec, console and files ({@code InstanceAccess}) are delegated, each to a class of
 * its own.
 *
 * <p>A handle stands for an instance or, when {@link #isSnapshot()}, for one of its snapshots. The definition is an
 * immutable {@link InstanceArgs} swapped atomically, so readers never lock; writers serialise on the handle.
 */
@API(status = EXPERIMENTAL)
public abstract class AbstractInstance implements Instance {
    private static final System.Logger LOG = System.getLogger(AbstractInstance.class.getName());

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
    // The jobs the template delegates, each on this instance (see their class comments).
    private final InstanceSnapshots snapshots = new InstanceSnapshots(this);
    private final InstanceUpdate updates = new InstanceUpdate(this);
    private final InstanceRename renames = new InstanceRename(this);
    private final InstanceRendering rendering = new InstanceRendering(this);
    private final InstanceTransfer transfers = new InstanceTransfer(this);
    private final InstanceAccess access = new InstanceAccess(this);

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
            mutate(a -> a.toBuilder().config(VolatileKeys.afterRebuild(a.config(), image)).build(), true);
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
        snapshots.take(name, expiry, stateful);
    }

    @Override
    public List<Instance> snapshots() {
        return isSnapshot() ? List.of() : snapshots.handles();
    }

    /** The snapshot with short name {@code snapName}, if any. */
    Optional<Instance> findSnapshot(String snapName) {
        return snapshots.find(snapName);
    }

    @Override
    public void restore(Instance source, boolean stateful) {
        snapshots.restore(source, stateful);
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
            parent.snapshots.inQueue(OperationLocks.Action.UPDATE, () -> parent.snapshots.rename(oldSnap, newName));
            return;
        }
        renames.rename(newName, applyTemplateTrigger);
    }

    @Override
    public void update(InstanceArgs newArgs, boolean userRequested) {
        updates.update(newArgs, userRequested);
    }

    @Override
    public void delete(boolean force) {
        if (isSnapshot()) {
            parent.snapshots.inQueue(OperationLocks.Action.DELETE, () -> parent.snapshots.delete(args));
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

    @Override
    public ImageMetadata export(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker) {
        return transfers.export(meta, rootfs, properties, expiration, tracker);
    }

    // =============================================================================================================
    // Live configuration, files, console, exec
    // =============================================================================================================

    @Override
    public CGroup cgroup() {
        return access.cgroup();
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
        mutate(a -> a.toBuilder().config(VolatileKeys.withChanges(a.config(), changes)).build(), durable);
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
        return access.fileSftpConn();
    }

    @Override
    public SftpClient fileSftp() {
        return access.fileSftp();
    }

    @Override
    public ConsoleSession console(String protocol) {
        return access.console(protocol);
    }

    @Override
    public Cmd exec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        return access.exec(request, stdin, stdout, stderr);
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
        return updates.devicesToStart();
    }

    /** A device's volatile keys without their {@code volatile.<dev>.} prefix ({@code deviceVolatileGetFunc}). */
    protected final Map<String, String> deviceVolatile(String devName) {
        return VolatileKeys.ofDevice(localConfig(), devName);
    }

    /**
     * Saves a device's volatile keys given without prefix ({@code deviceVolatileSetFunc}); an empty value removes
     * the key. {@code durable} writes the record now.
     */
    protected final void deviceVolatileSet(String devName, Map<String, String> values, boolean durable) {
        volatileSetInternal(VolatileKeys.forDevice(devName, values), durable);
    }

    @Override
    public void reloadDevice(String devName) {
        updates.reloadDevice(devName);
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
        access.onHook(hookName, hookArgs);
    }

    @Override
    public Device fillNetworkDevice(String devName, Device device) {
        return updates.fillNetworkDevice(devName, device);
    }

    // =============================================================================================================
    // Rendering and metrics
    // =============================================================================================================

    @Override
    public List<Object> etag() {
        return rendering.etag();
    }

    @Override
    public Render<ApiRenderable> render() {
        return rendering.render();
    }

    @Override
    public Render<ApiRenderable> renderWithUsage() {
        return rendering.renderWithUsage();
    }

    @Override
    public Render<ApiInstanceFull> renderFull(List<NetworkInterface> hostInterfaces) {
        return rendering.renderFull(hostInterfaces);
    }

    @Override
    public ApiInstanceState renderState(List<NetworkInterface> hostInterfaces) {
        return rendering.renderState(hostInterfaces);
    }

    @Override
    public MetricSet metrics(List<NetworkInterface> hostInterfaces) {
        return rendering.metrics(hostInterfaces);
    }

    // =============================================================================================================
    // Migration
    // =============================================================================================================

    @Override
    public void migrateSend(MigrateSendArgs sendArgs) {
        transfers.send(sendArgs);
    }

    @Override
    public void migrateReceive(MigrateReceiveArgs receiveArgs) {
        transfers.receive(receiveArgs);
    }

    /**
     * Replaces this (target) instance's definition with one received from a migration source: config, devices,
     * profiles and snapshots, keeping this instance's name and project.
     */
    protected final synchronized void adoptDefinition(InstanceRecord received) {
        transfers.adopt(received);
    }

    /** The {@code PATH} of a command whose environment does not set one (Incus's default). */
    public static final String DEFAULT_EXEC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /**
     * The whole environment of a command, as Incus builds it: the {@code environment.*} keys, the request's
     * variables over them, then {@code PATH}, {@code HOME} and {@code USER} (for root) and {@code LANG} where unset.
     */
    protected final Map<String, String> execEnvironment(ExecRequest request) {
        return ExecEnvironment.of(expandedConfig, request);
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
        return access.withConsoleRetrieveLock(read);
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
    final void runHeld(InstanceOperation op, Runnable body) {
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

    final void setDefinition(InstanceArgs newArgs, List<InstanceArgs> snapshots) {
        this.args = newArgs;
        this.snapshotArgs = List.copyOf(snapshots);
        this.expandedConfig = ProfileExpansion.expandConfig(newArgs.profiles(), newArgs.config());
        this.expandedDevices = ProfileExpansion.expandDevices(newArgs.profiles(), newArgs.devices());
    }

    final void requireInstance(String action) {
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
