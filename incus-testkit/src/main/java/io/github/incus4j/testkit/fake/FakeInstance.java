package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.ConsoleTypes;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.PowerState;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.api.internal.sftp.FileBackends;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.sftp.SftpServer;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.NetworkInterface;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * An instance of the in-memory {@code fake} driver. Everything Incus decides (names, config, preconditions, locks,
 * status codes, error texts, records, rendering) comes from {@link AbstractInstance}, as for the real drivers; this
 * class only simulates what a kernel or hypervisor would do:
 * <ul>
 *   <li>a runtime: status, an init PID, start time, the commands running, and counters (CPU, memory, network) that
 *       are functions of uptime by the driver's clock, commands run and bytes moved, so that a fixed clock gives
 *       fixed numbers;
 *   <li>a root filesystem in memory: an immutable tree, so a snapshot keeps a root (O(1)) and a restore swaps
 *       roots; idle instances share the base trees;
 *   <li>commands run by {@link FakeCommands}, a console with a getty and a bounded log, a cgroup view, state and
 *       metrics, image export, migration between fake drivers.
 * </ul>
 *
 * <p>Durability: the record ({@code backup.yaml}) is written by the base class; the filesystem lives in memory and
 * is written to {@code Path()/rootfs.tar} (snapshots: their {@code Path()/rootfs.tar}) when the driver is closed,
 * and read back lazily after a reopen; instances come back stopped, as after a host reboot. {@code /dev/shm} is a
 * tmpfs ({@link Tmpfs}): emptied by every boot and stop. A state saved by a stateful stop or a stateful snapshot
 * (the guest's counters and its tmpfs; running commands are not kept) is held in memory
 * and written to {@link #statePath()} (a file here, CRIU's directory for liblxc) at close. Start and stop write
 * nothing to disk.
 *
 * <p>{@link #rootfsPath()} names no directory: the files are in memory; reach them with {@link #fileSftp()}, the SFTP
 * protocol on {@link #fileSftpConn()}, or {@code exec}.
 *
 * <p>Test hooks: {@link #crash(boolean)} and {@link #ignoreShutdown(boolean)}; driver-wide
 * {@link FakeInstances#faults()} and {@link FakeInstances#commands()}.
 *
 * <p>This class keeps the template's hooks and delegates each job to a package-private part: the power state and
 * runtime to {@code FakePower}, the trees and saved states to {@code FakeDisk}, the image's files and templates to
 * {@code FakeImage}, devices to {@code FakeDevices}, limits and resource figures to {@code FakeLimits}, starting
 * commands to {@code FakeExec}, the console to {@code FakeTty}, state and metrics to {@code Telemetry}, migration
 * to {@code Migration}.
 */
@API(status = EXPERIMENTAL)
public abstract sealed class FakeInstance extends AbstractInstance permits FakeContainer, FakeVm {
    /** Metadata and template files of the image an instance was made from. */
    record ImageFiles(ImageMetadata metadata, Map<String, byte[]> templates) {
        static final ImageFiles NONE = new ImageFiles(null, Map.of());
    }

    private final FakeInstances driver;
    private final FakeDisk disk = new FakeDisk(this);
    private final FakeImage image = new FakeImage(this);
    private final FakeDevices devices = new FakeDevices(this);
    private final FakeLimits limits = new FakeLimits(this);
    private final FakePower power = new FakePower(this);
    private final FakeTty tty = new FakeTty(this);

    FakeInstance(FakeInstances owner, InstanceRecord record) {
        super(owner, record);
        this.driver = owner;
    }

    FakeInstance(FakeInstance parent, InstanceArgs snapshot) {
        super(parent, snapshot);
        this.driver = parent.driver;
    }

    @Override
    protected FakeInstance newSnapshotHandle(InstanceArgs snapshot) {
        return this instanceof FakeVm vm ? new FakeVm(vm, snapshot) : new FakeContainer((FakeContainer) this, snapshot);
    }

    // =============================================================================================================
    // Test hooks
    // =============================================================================================================

    /**
     * Kills the instance as if its init (or QEMU) died: a container's commands end with status 137, a VM's fail with
     * {@code InstanceStateException} ({@value ErrorTexts#COMMAND_LOST_VM_DIED}, as the qemu driver's), consoles detach. With
     * {@code leaveInError} it stays in status {@code Error} (only deleting it helps, as with a wedged runtime); else
     * it is {@code Stopped}, recorded as such, and deleted if ephemeral, as Incus's stop hook does.
     *
     * @throws InstanceStateException {@code Instance is not running}
     */
    public void crash(boolean leaveInError) {
        requireInstanceHandle();
        power.crash(leaveInError);
        if (!leaveInError) {
            stoppedByItself();
        }
    }

    /**
     * Makes the guest ignore (or again honour) clean shutdown requests: {@code shutdown(timeout)} then waits the
     * timeout (at most the driver's lock wait) and fails, as Incus does with a guest that does not power off.
     */
    public void ignoreShutdown(boolean ignore) {
        requireInstanceHandle();
        power.ignoreShutdown(ignore);
    }

    /** The number of commands running in the instance (0 when stopped). */
    public int runningCommands() {
        Guest g = power.guest();
        return g == null ? 0 : g.tasks.size();
    }

    /**
     * Registers {@code service} as the server listening on TCP {@code port} inside this instance, as a service
     * enabled in it would (it stays across restarts); a {@code proxy} device whose {@code connect} names the port
     * forwards its host connections to it while the instance runs. Closing the handle unregisters it.
     *
     * @throws InvalidArgumentException for a port outside 1-65535
     */
    public AutoCloseable listen(int port, FakeService service) {
        return devices.listen(port, service);
    }

    /**
     * The host port a running proxy device listens on (the one the system chose when {@code listen} names port 0).
     *
     * @throws io.github.incus4j.api.NotFoundException when no proxy device of that name runs
     */
    public int proxyPort(String device) {
        return devices.proxyPort(device);
    }

    // =============================================================================================================
    // Lifecycle
    // =============================================================================================================

    @Override
    protected StatusCode driverStatus() {
        return power.status();
    }

    @Override
    protected int driverInitPid() {
        Guest g = power.guest();
        return g == null ? -1 : g.pid;
    }

    @Override
    protected void doStart(boolean stateful) {
        driver.faults().hit("start");
        disk.root();
        SavedState restored = stateful ? disk.takeSavedState() : SavedState.ZERO;
        image.applyAtStart();
        mountShm(restored);
        devices.startAll();
        Guest g = power.run(restored);
        console().print((stateful ? "[    0.000000] Restoring saved state\r\n"
                : "[    0.000000] Linux version " + kernelRelease() + " (incus4j fake)\r\n")
                + "[    0.000001] " + (type() == InstanceType.VM ? "Virtual machine" : "Container") + " " + name()
                + " started, init pid " + g.pid + "\r\n\r\nWelcome to Fake Linux (incus4j)\r\n");
        console().booted();
        onStarted();
    }

    /** A boot mounts an empty tmpfs; only a restored state brings its content back. */
    private void mountShm(SavedState state) {
        Dir shm = state.shm();
        disk.setTree(r -> Tmpfs.mount(r, shm != null ? shm : Tmpfs.empty(clockMillis()), clockMillis()));
    }

    /** What a type adds once running (a container records its id map). */
    void onStarted() {
    }

    @Override
    protected void doStop(boolean stateful) {
        driver.faults().hit("stop");
        Guest g = power.guest();
        if (stateful && g != null) {
            disk.keepState(saveState(g));
        }
        power.powerOff(stateful ? "Checkpointed and stopped\r\n" : "reboot: Power down\r\n");
    }

    @Override
    protected boolean doShutdown(Duration timeout) {
        driver.faults().hit("shutdown");
        return power.shutdown(timeout);
    }

    @Override
    public void restart(Duration timeout) {
        if (!isSnapshot()) {
            driver.faults().hit("restart");
        }
        super.restart(timeout);
    }

    @Override
    protected void doFreeze() {
        driver.faults().hit("freeze");
        power.setFrozen(true);
    }

    @Override
    protected void doUnfreeze() {
        driver.faults().hit("unfreeze");
        power.setFrozen(false);
    }

    /** The runtime, {@code null} when not running. */
    Guest guest() {
        return power.guest();
    }

    /** The host went down (driver closed): the runtime ends without any record change. */
    void hostShutdown() {
        power.powerOff(null);
    }

    /** What the guest's memory holds: its counters and its tmpfs. */
    private SavedState saveState(Guest g) {
        return g.save(clockMillis()).withShm(Tmpfs.take(disk.root(), clockMillis()));
    }

    // =============================================================================================================
    // Exec and console
    // =============================================================================================================

    @Override
    protected Cmd doExec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        driver.faults().hit("exec");
        Guest g = power.guest();
        if (g == null) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, power.status());
        }
        Map<String, String> env = execEnvironment(request);
        return FakeExec.start(this, g, request, env, execCwd(request, env), stdin, stdout, stderr);
    }

    FakeCommands commands() {
        return driver.commands();
    }

    FakeInstances driver() {
        return driver;
    }

    int nextPid() {
        return driver.nextPid();
    }

    @Override
    protected ConsoleSession doConsole(String protocol) {
        if (!ConsoleTypes.CONSOLE.equals(protocol)) {
            throw new NotSupportedException(ErrorTexts.SPICE_UNSUPPORTED);
        }
        return console().attach();
    }

    /** The console (kept across stops, like the ring buffer it holds). */
    FakeConsole console() {
        return tty.console();
    }

    FakeTty tty() {
        return tty;
    }

    String kernelRelease() {
        return type() == InstanceType.VM ? Builtins.VM_KERNEL : System.getProperty("os.version", "6.8.0");
    }

    // =============================================================================================================
    // Files
    // =============================================================================================================

    FakeDisk disk() {
        return disk;
    }

    /** The tree, read back from disk on first use after a reopen. */
    Dir root() {
        return disk.root();
    }

    /** The file-system view of this handle: the instance's tree, or (read-only) a snapshot's. */
    MemSftp.FsRoot fsView() {
        return disk.view();
    }

    /**
     * A raw SFTP connection: one end of an in-memory pipe pair whose other end {@link SftpServer} serves, over the
     * instance's tree, on a driver thread; {@link #fileSftp()} is the SDK's SFTP client over it, as in every driver. The session (and its thread) ends when the caller closes
     * the connection, or with the driver.
     */
    @Override
    protected Connection doFileSftpConn() {
        return SftpServer.open(FileBackends.of(devices.files("/", 0, 0)), driver::execute);
    }

    // =============================================================================================================
    // Snapshots, restore, delete, rebuild, rename
    // =============================================================================================================

    @Override
    protected void doSnapshot(InstanceArgs snapshot, boolean stateful) {
        driver.faults().hit("snapshot");
        Guest g = power.guest();
        disk.snapshot(NameRules.snapshotPart(snapshot.name()), stateful && g != null ? saveState(g) : null);
    }

    @Override
    protected void doRestore(InstanceArgs snapshot) {
        driver.faults().hit("restore");
        disk.restore(NameRules.snapshotPart(snapshot.name()));
    }

    @Override
    protected void doDeleteSnapshot(InstanceArgs snapshot) {
        disk.deleteSnapshot(NameRules.snapshotPart(snapshot.name()));
    }

    @Override
    public void delete(boolean force) {
        if (!isSnapshot()) {
            driver.faults().hit("delete");
        }
        super.delete(force);
    }

    @Override
    protected void doDelete() {
        disk.delete();
        image.clear();
    }

    @Override
    public void rename(String newName, boolean applyTemplateTrigger) {
        if (!isSnapshot()) {
            super.rename(newName, applyTemplateTrigger);
            return;
        }
        FakeInstance parent = parentInstance();
        synchronized (parent) {
            String old = NameRules.snapshotPart(name());
            parent.disk.snapState(old);
            super.rename(newName, applyTemplateTrigger);
            parent.disk.renameSnapshot(old, newName);
        }
    }

    @Override
    public void update(InstanceArgs args, boolean userRequested) {
        if (!isSnapshot()) {
            driver.faults().hit("update");
        }
        super.update(args, userRequested);
    }

    /** A snapshot's directory, by its short name. */
    Path snapshotPath(String snap) {
        return owner().paths().path(type(), NameRules.snapshotFullName(storageName(), snap));
    }

    @Override
    protected void doRebuild(Image from, Operation op) {
        Dir tree;
        ImageFiles files;
        if (from == null) {
            tree = FakeInstances.withHostname(MemFs.MINIMAL, name(), clockMillis());
            files = ImageFiles.NONE;
        } else {
            if (from.source() == null) {
                throw new InvalidArgumentException("Image " + ErrorTexts.quote(from.fingerprint())
                        + " has no tarball to unpack");
            }
            FakeInstances.Unpacked u = driver.unpack(from.source());
            tree = u.tree();
            files = u.files();
        }
        disk.replace(tree, null);
        image.write(files);
    }

    // =============================================================================================================
    // Image files
    // =============================================================================================================

    /** Sets up a new instance's storage (called while it is created, before its record is first written). */
    void initStorage(Dir tree, ImageFiles files, Map<String, String> config, int architecture) {
        disk.replace(tree, null);
        if (files.metadata() != null) {
            image.write(files);
        } else {
            image.clear();
        }
        Map<String, String> extra = new HashMap<>(config);
        extra.putAll(createConfig());
        mutate(a -> {
            Map<String, String> c = new HashMap<>(a.config());
            extra.forEach(c::putIfAbsent);
            InstanceArgs.Builder b = a.toBuilder().config(c);
            if (architecture != Architectures.UNKNOWN) {
                b.architecture(architecture);
            }
            String base = c.get("volatile.base_image");
            return b.baseImage(base == null ? a.baseImage() : base).build();
        }, false);
    }

    /** Volatile keys a type sets at creation (a container's id map). */
    Map<String, String> createConfig() {
        return Map.of();
    }

    /** The image's metadata and templates, kept as Incus keeps them: {@code metadata.yaml}, {@code templates}. */
    ImageFiles imageFiles() {
        return image.files();
    }

    // =============================================================================================================
    // Export and migration
    // =============================================================================================================

    @Override
    protected ImageMetadata doExport(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker) {
        driver.faults().hit("export");
        Dir tree = fsView().get();
        ImageFiles files = (isSnapshot() ? parentInstance() : this).imageFiles();
        ImageMetadata md = ImageLayout.exportMetadata(files.metadata(), Architectures.name(architecture()), properties,
                expiration, owner().clock());
        ImageLayout.RootfsWriter writer = (w, prefix) -> FsTar.write(tree, w, prefix);
        if (rootfs == null) {
            ImageLayout.writeUnified(meta, md, files.templates(), writer, tracker);
        } else {
            ImageLayout.writeSplit(meta, rootfs, md, files.templates(), writer, tracker);
        }
        return md;
    }

    @Override
    protected void doMigrateSend(MigrateSendArgs args) {
        driver.faults().hit("migrate");
        Migration.send(this, args, driver.lockWait());
    }

    @Override
    protected void doMigrateReceive(MigrateReceiveArgs args) {
        driver.faults().hit("migrate");
        Migration.receive(this, args, driver.lockWait());
    }

    List<InstanceArgs> snapshotDefinitions() {
        return snapshotArgs();
    }

    /** Takes the received definition (migration target). */
    void adopt(InstanceRecord received) {
        adoptDefinition(received);
    }

    /** Installs what a migration brought: trees, snapshots' trees, image files. */
    void installMigrated(Dir tree, Map<String, Dir> snapshotTrees, ImageFiles files) {
        disk.installMigrated(tree, snapshotTrees);
        image.write(files);
    }

    /** Ends a live migration on the target: the instance runs on with the state it brought. */
    void startMigrated(SavedState state) {
        mountShm(state);
        Guest g = power.run(state);
        console().print("[    0.000000] Resumed after live migration, init pid " + g.pid + "\r\n");
        Instant now = owner().clock().instant();
        mutate(a -> {
            Map<String, String> c = new HashMap<>(a.config());
            c.put("volatile.last_state.power", PowerState.RUNNING);
            return a.toBuilder().config(c).lastUsedDate(now).stateful(false).build();
        }, false);
        onStarted();
    }

    /** The running state for a live migration. */
    SavedState liveState() {
        Guest g = power.guest();
        return g == null ? null : saveState(g);
    }

    // =============================================================================================================
    // Live update, limits, devices, state, metrics
    // =============================================================================================================

    @Override
    protected void applyLiveUpdate(Map<String, String> oldExpanded, Map<String, String> newExpanded,
            Set<String> changedKeys) {
        Guest g = power.guest();
        if (g != null) {
            FakeLimits.applyLiveUpdate(g, newExpanded, changedKeys);
        }
    }

    long clockMillis() {
        return owner().clock().millis();
    }

    /** The instance's resources as its limits give them. */
    FakeLimits limits() {
        return limits;
    }

    FakeDevices devices() {
        return devices;
    }

    /** The devices to start, expanded and filled from their volatile keys, in name order. */
    List<Map.Entry<String, Device>> startableDevices() {
        return devicesToStart();
    }

    /** Sets a device's volatile keys (not durable: the record is written with the next change). */
    void setDeviceVolatile(String device, Map<String, String> values) {
        deviceVolatileSet(device, values, false);
    }

    /** Sets volatile keys (not durable). */
    void setVolatile(Map<String, String> changes) {
        volatileSetInternal(changes, false);
    }

    @Override
    protected void deviceAdd(String name, Device device) {
        driver.faults().hit("deviceAdd");
        devices.start(name, device);
    }

    @Override
    protected void deviceRemove(String name, Device device) {
        driver.faults().hit("deviceRemove");
        devices.stop(name, device);
    }

    @Override
    protected void deviceUpdate(String name, Device oldDevice, Device newDevice) {
        // What is updatable in place (limits, addresses) has no effect in the simulation beyond the new config.
        driver.faults().hit("deviceUpdate");
    }

    @Override
    protected ApiInstanceState runningState(StatusCode st, List<NetworkInterface> hostInterfaces) {
        return Telemetry.state(this, power.guest(), st);
    }

    @Override
    protected Map<String, ApiInstanceState.Disk> diskState() {
        return Map.of("root", new ApiInstanceState.Disk(fsView().get().bytes(), limits.rootDiskSize()));
    }

    @Override
    protected void collectMetrics(MetricSet set, List<NetworkInterface> hostInterfaces) {
        Telemetry.metrics(this, power.guest(), set);
    }

    @Override
    protected CGroup doCgroup() {
        return new FakeCgroup(this);
    }

    // =============================================================================================================
    // Driver plumbing
    // =============================================================================================================

    /** The storage name of this instance ({@code name} or {@code project_name}). */
    String storageName() {
        return project().instanceStorageName(name());
    }

    FakeInstance parentInstance() {
        return (FakeInstance) parent().orElseThrow();
    }

    private void requireInstanceHandle() {
        if (isSnapshot()) {
            throw new InvalidArgumentException("Not available on a snapshot: " + ErrorTexts.quote(name()));
        }
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + project().name() + "/" + name() + " "
                + ErrorTexts.quote(statusCode().text()) + "]";
    }
}
