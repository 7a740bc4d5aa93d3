package io.github.incus4j.lxc;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.config.ProfileExpansion;
import io.github.incus4j.api.internal.config.VolatileIdmaps;
import io.github.incus4j.api.internal.sftp.SftpServer;
import io.github.incus4j.api.internal.store.StorageFiles;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.model.ConsoleLogOptions;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.spi.ContainerDefaults;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.lxc.binding.LxcContainer;
import io.github.incus4j.lxc.binding.RootDirectory;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.NetworkInterface;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * A container of the {@code lxc} driver (or one of its snapshots). The liblxc container is named after the storage
 * name ({@code name}, or {@code project_name}) in the driver's private lxcpath; its {@code config} is written by the
 * driver from the record (name, paths, id map, limits) before every start, on top of {@code base.conf} (the template's
 * own settings). The root filesystem is {@link #rootfsPath()}, stored with host ids (shifted by the id map for an
 * unprivileged container).
 *
 * <p>This class holds the instance template's hooks and delegates each job to a class of its own: storage
 * ({@link LxcStorage}), liblxc's config ({@link LxcConfigFile}, {@link LxcLimits}), status ({@link LxcStatus}),
 * processes ({@link LxcPower}), devices ({@link LxcLiveDevices}, {@link LxcNicLifecycle}), the file API
 * ({@link LxcLiveRoot}), state and metrics ({@link LxcRunningState}) and migration ({@link LxcMigrationSend},
 * {@link LxcMigrationReceive}).
 */
@API(status = EXPERIMENTAL)
public final class LxcContainerInstance extends AbstractInstance implements ContainerDefaults {
    /** The status the driver's {@link StatusWatcher} keeps current; null when it does not (ask liblxc). */
    volatile StatusCode watchedStatus;
    /** Serializes status queries with their recording, so that an older answer never replaces a newer one. */
    final Object statusLock = new Object();
    static final String NO_ALLOCATION =
            "No uid/gid allocation configured. In this mode, only privileged containers are supported";

    private final LxcInstances driver;
    /** The running container's proxy devices (forwarders on driver threads). */
    private final LxcProxies proxies = new LxcProxies(fullName());
    /** The file API's root, pinned to the running container's init. */
    private final LxcLiveRoot liveRoot = new LxcLiveRoot(this);
    private final LxcLiveDevices devices = new LxcLiveDevices(this, proxies);
    private final LxcStatus status;
    private final LxcPower power;
    private final LxcStorage storage;
    private final LxcNicLifecycle nics;

    LxcContainerInstance(LxcInstances driver, InstanceRecord record) {
        super(driver, record);
        this.driver = driver;
        this.status = new LxcStatus(this, driver);
        this.power = new LxcPower(this, driver, status, proxies);
        this.storage = new LxcStorage(this, driver);
        this.nics = new LxcNicLifecycle(this, driver);
    }

    private LxcContainerInstance(LxcContainerInstance parent, InstanceArgs snapshot) {
        super(parent, snapshot);
        this.driver = parent.driver;
        this.status = new LxcStatus(this, driver);
        this.power = new LxcPower(this, driver, status, proxies);
        this.storage = new LxcStorage(this, driver);
        this.nics = new LxcNicLifecycle(this, driver);
    }

    @Override
    protected LxcContainerInstance newSnapshotHandle(InstanceArgs snapshot) {
        return new LxcContainerInstance(this, snapshot);
    }

    // ---- liblxc plumbing, and the template's members the package's helpers need ---------------------------------

    /** The liblxc container name: the storage name, unique on the host as cgroup names must be. */
    String lxcName() {
        return fullName();
    }

    /** liblxc's directory of this container: {@code base.conf} and {@code config}. */
    Path lxcDir() {
        return driver.lxcpath().resolve(lxcName());
    }

    LxcContainer open() {
        return driver.liblxc().open(lxcName(), driver.lxcpath());
    }

    boolean privileged() {
        return ConfigValues.isTrue(expandedConfig().get("security.privileged"));
    }

    /** Records volatile keys (an empty value removes one); see {@link #volatileSetInternal}. */
    void recordVolatiles(Map<String, String> changes, boolean durable) {
        volatileSetInternal(changes, durable);
    }

    /** The snapshots' definitions. */
    List<InstanceArgs> snapshotDefinitions() {
        return snapshotArgs();
    }

    /** Replaces the definition with {@code record}'s (a migration's); see {@link #adoptDefinition}. */
    void adopt(InstanceRecord record) {
        adoptDefinition(record);
    }

    /** The status asked of liblxc now, and the freezer (for the {@link StatusWatcher}). */
    LxcStatus status() {
        return status;
    }

    // ---- creation and definition ----------------------------------------------------------------------------------

    /** Makes the root filesystem from {@code source}, shifted to the id map, and the liblxc configuration. */
    void createStorage(InstanceSource source) {
        LxcStorage.Created created = storage.create(source);
        Map<String, String> fromImage = created.imageConfig();
        mutate(a -> {
            Map<String, String> c = new HashMap<>(LxcStorage.withIdmap(a, created.diskMap()).config());
            fromImage.forEach(c::putIfAbsent);
            String fingerprint = fromImage.get("volatile.base_image");
            return a.toBuilder().config(c).baseImage(fingerprint == null ? a.baseImage() : fingerprint).build();
        }, false);
        LxcConfigFile.write(this);
    }

    /**
     * Driver checks on top of Incus's config validation: {@code raw.idmap} is refused (the root filesystem is shifted
     * with one generated map, which this driver cannot merge extra entries into), and a user's change to the volatile
     * id map keys may not map host root into an unprivileged container.
     */
    static void checkDefinition(Map<String, String> oldLocal, List<Profile> profiles, Map<String, String> local,
            boolean userRequested) {
        Map<String, String> expanded = ProfileExpansion.expandConfig(profiles, local);
        String rawIdmap = expanded.get("raw.idmap");
        if (rawIdmap != null && !rawIdmap.isEmpty()) {
            throw new NotSupportedException("raw.idmap is not supported by the lxc driver (value "
                    + ErrorTexts.quote(rawIdmap) + "): its containers use one generated id map");
        }
        if (userRequested) {
            VolatileIdmaps.checkUserChange(oldLocal, local, ConfigValues.isTrue(expanded.get("security.privileged")));
        }
    }

    @Override
    public void update(InstanceArgs newArgs, boolean userRequested) {
        if (newArgs != null && !isSnapshot()) {
            checkDefinition(localConfig(), newArgs.profiles(), newArgs.config(), userRequested);
            LxcNics.check(ProfileExpansion.expandDevices(newArgs.profiles(), newArgs.devices()));
        }
        super.update(newArgs, userRequested);
    }

    // ---- devices ----------------------------------------------------------------------------------------------------

    /**
     * Applies a device added to the running container, as Incus hot-plugs them: a proxy starts forwarding, a disk is
     * mounted and a device node made and mounted into the container's mount namespace (with its cgroup rule). For the
     * device hooks of the shared device model; other types are left to their owners.
     */
    void deviceAdded(String devName, Device device) {
        devices.added(devName, device);
    }

    /** Removes a device from the running container: a proxy stops, a disk or device node is unmounted. */
    void deviceRemoved(String devName, Device device) {
        devices.removed(devName, device);
    }

    /**
     * The update hook for a device added to the running container: NICs through {@link LxcNicLifecycle}, disks,
     * device nodes and proxies through {@link #deviceAdded}.
     */
    @Override
    protected void deviceAdd(String devName, Device device) {
        if ("nic".equals(device.type())) {
            nics.attach(devName, device);
        } else {
            deviceAdded(devName, device);
        }
    }

    /** The update hook for a device removed from the running container (or changed in a way not updatable). */
    @Override
    protected void deviceRemove(String devName, Device device) {
        if ("nic".equals(device.type())) {
            nics.detach(devName, device);
        } else {
            deviceRemoved(devName, device);
        }
    }

    /**
     * Adds the expanded device {@code dev} (a {@code nic}) to the running container (see {@link LxcNicLifecycle}).
     *
     * @throws InstanceStateException when the container is not running
     * @throws NotFoundException when the device is not one of the container's
     */
    void attachNic(String dev) {
        nics.attach(dev);
    }

    /** Stops the proxies and lets the file API's init go (the container stopped, or the driver closes). */
    void closeDevices() {
        proxies.closeAll();
        liveRoot.drop();
    }

    /** The names of the proxy devices forwarding now. */
    Set<String> runningProxies() {
        return proxies.names();
    }

    // ---- status and lifecycle ----------------------------------------------------------------------------------

    /**
     * For the driver's stop watcher: whether the container is found stopped without an API call, and Incus's stop
     * hook has run for it (not while an operation holds the instance).
     */
    boolean stoppedOnItsOwn() {
        if (driverStatus() != StatusCode.STOPPED) {
            return false;
        }
        proxies.closeAll();
        if (!stoppedByItself()) {
            return false;
        }
        if (!isEphemeral()) { // an ephemeral one is gone
            nics.clearVolatiles();
        }
        return true;
    }

    /** From memory while the driver's watcher keeps it (see {@link StatusWatcher}), else asked of liblxc. */
    @Override
    protected StatusCode driverStatus() {
        StatusCode known = watchedStatus;
        if (known != null) {
            return known;
        }
        if (isSnapshot()) {
            return StatusCode.STOPPED;
        }
        return driver.statusWatcher().refresh(this);
    }

    /** The state renders what liblxc says now, not what the watcher last saw. */
    @Override
    public ApiInstanceState renderState(List<NetworkInterface> hostInterfaces) {
        if (!isSnapshot()) {
            driver.statusWatcher().refresh(this);
        }
        return super.renderState(hostInterfaces);
    }

    @Override
    protected int driverInitPid() {
        if (!Files.exists(lxcDir().resolve("config"))) {
            return -1;
        }
        try (LxcContainer c = open()) {
            return c.initPid();
        }
    }

    @Override
    protected void doStart(boolean stateful) {
        if (stateful) {
            driver.criu().require("Failed to restore container state");
        }
        if (!privileged()) {
            power.requireSearchableParents(rootfsPath());
        }
        if (!stateful) {
            String pending = localConfig().get("volatile.apply_template");
            LxcStartTemplates.apply(this, pending);
            if (pending != null && !pending.isEmpty()) {
                volatileSetInternal(Map.of("volatile.apply_template", ""), false);
            }
        }
        LxcConfigFile.write(this, nics.start(), devices.startLines());
        try {
            Files.createDirectories(logPath());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + logPath(), e);
        }
        try {
            power.launch(stateful);
        } catch (RuntimeException e) {
            nics.clearVolatiles();
            throw e;
        }
        try {
            proxies.startAll(expandedDevices().map(), driverInitPid());
        } catch (RuntimeException e) {
            // As Incus: a device that cannot start fails the start, and the container does not stay up without it.
            try (LxcContainer c = open()) {
                c.stop();
            }
            stoppedByUs();
            throw e;
        }
        status.changed();
        driver.watchForStop(this);
        // The saved state is used once: a plain start discards it, as a stateful one consumes it.
        AbstractInstances.deleteTree(statePath());
        String next = localConfig().get("volatile.idmap.next");
        if (next != null && !next.equals(localConfig().get("volatile.idmap.current"))) {
            volatileSetInternal(Map.of("volatile.idmap.current", next, "volatile.last_state.idmap", next), false);
        }
    }

    @Override
    protected void doStop(boolean stateful) {
        try {
            power.stop(stateful);
        } finally {
            stoppedByUs();
        }
    }

    /** After a stop or shutdown of ours: the status is asked anew, and a stopped container's NICs are gone. */
    private void stoppedByUs() {
        status.changed();
        if (driverStatus() == StatusCode.STOPPED) {
            nics.clearVolatiles();
        }
    }

    /** Sends the halt signal until the container stops or {@code timeout} passes (see {@link LxcPower#shutdown}). */
    @Override
    protected boolean doShutdown(Duration timeout) {
        try {
            return power.shutdown(timeout);
        } finally {
            stoppedByUs();
        }
    }

    @Override
    protected void doFreeze() {
        try {
            power.freeze();
        } finally {
            status.changed();
        }
    }

    @Override
    protected void doUnfreeze() {
        try {
            power.unfreeze();
        } finally {
            status.changed();
        }
    }

    // ---- exec ---------------------------------------------------------------------------------------------------

    @Override
    protected Cmd doExec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        Map<String, String> env = execEnvironment(request);
        String cwd = execCwd(request, env);
        if (request.interactive()) {
            // One terminal for output and errors, as Incus: stderr is not used.
            return AttachCmd.startInteractive(driver.liblxc(), driver.lxcpath().toString(), lxcName(),
                    request.command(), env, cwd, request.user(), request.group(), request.width(), request.height(),
                    stdin, stdout, driver::execute);
        }
        return AttachCmd.start(driver.liblxc().attachProgram(), driver.lxcpath().toString(), lxcName(),
                request.command(), env, cwd, request.user(), request.group(), stdin, stdout, stderr, driver::execute);
    }

    @Override
    protected ConsoleSession doConsole(String protocol) {
        return LxcConsole.attach(driver.liblxc(), driver.lxcpath().toString(), lxcName(), driver::execute);
    }

    // ---- snapshots, restore, delete, rename, export, rebuild -----------------------------------------------------

    @Override
    protected void doSnapshot(InstanceArgs snapshot, boolean stateful) {
        if (stateful) {
            driver.criu().require("Unable to create a stateful snapshot");
        }
        storage.snapshot(snapshot, stateful ? power : null);
    }

    @Override
    protected void doRestore(InstanceArgs snapshot) {
        storage.restore(snapshot);
    }

    @Override
    protected void doDeleteSnapshot(InstanceArgs snapshot) {
        storage.deleteSnapshot(snapshot);
    }

    @Override
    protected void doDelete() {
        driver.statusWatcher().forget(this);
        liveRoot.drop();
        LxcConfigFile.remove(lxcDir());
        AbstractInstances.deleteTree(lxcDir());
        driver.forgetStaticLeases(lxcName());
    }

    @Override
    protected void doRename(String oldFullName, String newFullName) {
        driver.statusWatcher().forget(this); // tracked under the old name until now
        super.doRename(oldFullName, newFullName);
        driver.forgetStaticLeases(oldFullName);
        // The config names the old paths and name: it is written again, for the new name, at the next start. It goes
        // before the move, so that a status read meanwhile never finds a config whose include has moved away.
        LxcConfigFile.remove(driver.lxcpath().resolve(oldFullName));
        StorageFiles.moveIfExists(driver.lxcpath().resolve(oldFullName),
                driver.lxcpath().resolve(newFullName));
    }

    /**
     * Incus's export: {@code metadata.yaml} (the source image's, when the container came from one, updated), its
     * templates, and the root filesystem with ids as inside the container (unshifted by the disk id map).
     */
    @Override
    protected ImageMetadata doExport(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker) {
        LxcContainerInstance owner = isSnapshot() ? (LxcContainerInstance) parent().orElseThrow() : this;
        return LxcStorage.export(this, owner, meta, rootfs, properties, expiration, tracker, driver.clock());
    }

    @Override
    protected void doRebuild(Image image, Operation op) {
        storage.rebuild(image);
    }

    // ---- live config, state, metrics ---------------------------------------------------------------------------

    @Override
    protected void applyLiveUpdate(Map<String, String> oldExpanded, Map<String, String> newExpanded,
            Set<String> changedKeys) {
        LxcLimits.applyLive(this, newExpanded, changedKeys);
    }

    @Override
    protected CGroup doCgroup() {
        return new LxcCgroup(this);
    }

    /** A cgroup file of the running container, through liblxc. */
    String cgroupRead(String key) {
        try (LxcContainer c = open()) {
            return c.getCgroupItem(key).orElseThrow(() -> new IncusException(c.isRunning()
                    ? "Cannot read cgroup key " + ErrorTexts.quote(key) + " of " + ErrorTexts.quote(name())
                    : "Can't get cgroups on a stopped container"));
        }
    }

    /** Writes a cgroup file of the running container, through liblxc. */
    void cgroupWrite(String key, String value) {
        try (LxcContainer c = open()) {
            c.setCgroupItem(key, value);
        }
    }

    @Override
    protected ApiInstanceState runningState(StatusCode status, List<NetworkInterface> hostInterfaces) {
        return new LxcRunningState(this).state(status);
    }

    @Override
    protected Map<String, ApiInstanceState.Disk> diskState() {
        return Map.of("root", new ApiInstanceState.Disk(Trees.usage(rootfsPath()), 0));
    }

    @Override
    protected void collectMetrics(MetricSet set, List<NetworkInterface> hostInterfaces) {
        new LxcRunningState(this).collectMetrics(set);
    }

    /**
     * A raw SFTP connection: one end of a pipe pair whose other end {@link SftpServer} serves on a driver thread,
     * confined by the kernel (see {@link LxcLiveRoot}): the running container's root with its mounts, else its root
     * filesystem. The session ends when the caller closes the connection.
     */
    @Override
    protected Connection doFileSftpConn() {
        return SftpServer.open(fileBackend(), driver::execute);
    }

    /** What the file API serves: the running container's root with its mounts, else the root filesystem. */
    RootDirectory fileBackend() {
        return liveRoot.fileBackend();
    }

    // ---- migration ----------------------------------------------------------------------------------------------

    /** Sends the container over the migration wire (see {@link LxcMigrationSend}), live with CRIU when asked. */
    @Override
    protected void doMigrateSend(MigrateSendArgs sendArgs) {
        new LxcMigrationSend(this, driver, storage, status, power).send(sendArgs);
    }

    /** Receives a container into this empty one (see {@link LxcMigrationReceive}). */
    @Override
    protected void doMigrateReceive(MigrateReceiveArgs receiveArgs) {
        LxcMigrationReceive.receive(this, driver, storage, status, power, receiveArgs);
    }

    // ---- Container (id maps, seccomp devices, devpts and idmapped storage: ContainerDefaults) ----------------------

    /**
     * The running container's console ring buffer ({@code lxc.console.buffer.size} of the config), through liblxc.
     * As Incus, a clear with {@code writeToLogFile} appends what was read to {@code console.log} first.
     */
    @Override
    public String consoleLog(ConsoleLogOptions options) {
        Objects.requireNonNull(options, "options");
        String msg;
        try (LxcContainer c = open()) {
            if (!c.isRunning()) {
                // The ring buffer lives in the container's monitor; a stopped container has none.
                throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, statusCode());
            }
            msg = c.consoleLog(options.clearLog(), options.readLog(), options.readMax());
        }
        if (options.writeToLogFile() && options.clearLog() && !msg.isEmpty()) {
            try {
                Files.writeString(consoleBufferLogPath(), msg, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot append to " + consoleBufferLogPath(), e);
            }
        }
        return msg;
    }

    /**
     * Makes the device node a seccomp-intercepted {@code mknod} of process {@code pid} asked for, as Incus does: the
     * node is made on the host with the caller's ids (shifted into the container), bind-mounted at {@code path}
     * (relative to the caller's working directory unless absolute) in the caller's mount namespace, and the host
     * node removed (the mount keeps it).
     *
     * @param device {@code type} (unix-char or unix-block), {@code major}, {@code minor}, {@code mode} (octal, file
     *     type bits allowed), {@code path}
     */
    @Override
    public void insertSeccompUnixDevice(String prefix, Device device, int pid) {
        devices.insertSeccompUnixDevice(prefix, device, pid);
    }

    /**
     * A descriptor on the running container's {@code /dev/pts}, from liblxc's {@code devpts_fd} (the monitor passes
     * it over its command socket); close it when done.
     *
     * @throws InstanceStateException when the container is not running
     */
    @Override
    public io.github.incus4j.api.io.NativeFd devptsFd() {
        int fd;
        try (LxcContainer c = open()) {
            if (!c.isRunning()) {
                throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, statusCode());
            }
            fd = c.devptsFd();
        }
        return new io.github.incus4j.lxc.binding.OwnedFd(fd);
    }

    @Override
    public String toString() {
        return "LxcContainerInstance[" + project().name() + "/" + name() + "]";
    }
}
