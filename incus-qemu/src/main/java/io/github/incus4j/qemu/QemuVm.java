package io.github.incus4j.qemu;

import static io.github.incus4j.qemu.QemuHost.deleteQuietly;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.PowerState;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.VM;
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
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.sftp.SftpServer;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.NetworkInterface;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;
import org.apiguardian.api.API;

/**
 * A virtual machine of the {@code qemu} driver (or one of its snapshots). Its disk is {@code Path()/root.img}
 * (qcow2), its snapshots internal qcow2 snapshots of that file (a snapshot's directory holds the tag in
 * {@code qcow2-snapshot}, so that renaming a snapshot renames nothing inside the image). QEMU runs as a daemon with
 * its monitor, agent and console sockets and pidfile in the run directory (see {@link #runDir()}).
 *
 * <p>Boot: the disk boots through SeaBIOS (a bootable disk image, e.g. syslinux on FAT); {@code raw.qemu} adds
 * arguments as Incus does (e.g. {@code -kernel ... -initrd ... -append ...}). UEFI (OVMF), the config drive and
 * Incus's own agent are not used: exec and files go through the QEMU guest agent ({@code qemu-ga}) on the
 * virtio-serial port {@code org.qemu.guest_agent.0}, and interactive exec (a pty) over SSH to the guest's port 22,
 * forwarded from a loopback port of the host ({@link GuestSsh}).
 *
 * <p>This class holds the hooks of the instance template and delegates: the command line to {@link VmCommandLine},
 * the disk and its snapshots to {@link VmDisk}, the running QEMU to {@link VmRunner}, changes to a running VM to
 * {@link VmLiveChanges}, state and metrics to {@link VmStateView}, console log, screenshots and memory dumps to
 * {@link VmConsole}, saved states to {@link QemuState} and migration to {@link QemuMigration}.
 */
@API(status = EXPERIMENTAL)
public final class QemuVm extends AbstractInstance implements VM {
    private static final System.Logger LOG = System.getLogger(QemuVm.class.getName());

    private final QemuInstances driver;
    private final VmRunner runner;
    /** The figures of this VM's last live migration as its source (null: none yet). */
    volatile QemuPrecopy.Figures lastMigration;
    /** Set while a live migration's target starts: its root drive is this overlay over the disk. */
    private volatile Path incomingOverlay;

    QemuVm(QemuInstances driver, InstanceRecord record) {
        super(driver, record);
        this.driver = driver;
        this.runner = newRunner();
    }

    private QemuVm(QemuVm parent, InstanceArgs snapshot) {
        super(parent, snapshot);
        this.driver = parent.driver;
        this.runner = newRunner();
    }

    private VmRunner newRunner() {
        return new VmRunner(driver, this, this::uuid, run -> releaseHostDevices(run, null), this::stoppedByItself);
    }

    @Override
    protected QemuVm newSnapshotHandle(InstanceArgs snapshot) {
        return new QemuVm(this, snapshot);
    }

    // ---- storage -------------------------------------------------------------------------------------------------

    /** The qcow2 disk of the instance (a snapshot's handle names its parent's: the snapshot lives inside it). */
    Path disk() {
        return instanceDir().resolve(VmDisk.DISK);
    }

    /** The directory holding the disk, the kept image files and the templates (the parent's, for a snapshot). */
    private Path instanceDir() {
        return owner().paths().path(type(), isSnapshot() ? parentFullName() : fullName());
    }

    private String parentFullName() {
        return Project.storageName(project().name(), parent().orElseThrow().name());
    }

    private VmDisk storage() {
        return new VmDisk(driver.host(), disk(), instanceDir(), path(), templatesPath(), name());
    }

    /** Makes {@code root.img} from {@code source}; an image's properties go to the config. */
    void createStorage(InstanceSource source) {
        ImageSources.Image u = storage().create(source, rootSize());
        if (u != null) {
            mutate(a -> {
                Map<String, String> c = new HashMap<>(a.config());
                u.metadata().properties().forEach((k, v) -> c.putIfAbsent("image." + k, v));
                c.put("volatile.base_image", u.fingerprint());
                return a.toBuilder().config(c).baseImage(u.fingerprint()).build();
            }, false);
        }
    }

    private String rootSize() {
        for (Device d : expandedDevices().map().values()) {
            if ("disk".equals(d.type()) && "/".equals(d.get("path")) && d.get("size") != null) {
                return d.get("size");
            }
        }
        return VmDisk.DEFAULT_ROOT_SIZE;
    }

    // ---- the run directory and the command line ----------------------------------------------------------------

    /**
     * Where the sockets and pidfile go: {@link #runPath()}, or a short directory when a socket path there would be
     * too long (see {@link Machine.RunDir#of}); {@code runPath()/short} then links to it.
     */
    Machine.RunDir runDir() {
        return Machine.RunDir.of(runPath());
    }

    private long memoryBytes() {
        return VmCommandLine.memoryBytes(expandedConfig().get("limits.memory"), driver.settings().defaultMemory());
    }

    private String uuid() {
        String u = localConfig().get("volatile.uuid");
        if (u == null || u.isEmpty()) {
            u = UUID.randomUUID().toString();
            volatileSetInternal(Map.of("volatile.uuid", u), false);
        }
        return u;
    }

    // ---- status ----------------------------------------------------------------------------------------------

    @Override
    protected StatusCode driverStatus() {
        return runner.status();
    }

    /** The state renders what QEMU says now, not what the last event said. */
    @Override
    public ApiInstanceState renderState(List<NetworkInterface> hostInterfaces) {
        Machine m = runner.current();
        if (m != null) {
            runner.refreshStatus(m);
        }
        return super.renderState(hostInterfaces);
    }

    /** The status kept from QMP's events, null when none is (stopped, monitor gone): for tests. */
    StatusCode keptStatus() {
        Machine m = runner.current();
        return m == null ? null : m.status;
    }

    /** The current machine (null when stopped): for tests. */
    Machine machineForTest() {
        return runner.current();
    }

    @Override
    protected int driverInitPid() {
        try {
            return runner.find().map(m -> m.process.pid()).orElse(-1);
        } catch (IncusException e) {
            return -1;
        }
    }

    /**
     * Reads the run state again after the driver paused and resumed QEMU itself (a migration's send): the events'
     * listener may not have caught up when the call returns.
     */
    void refreshStatus() {
        runner.refreshStatus();
    }

    // ---- lifecycle -------------------------------------------------------------------------------------------

    @Override
    protected void doStart(boolean stateful) {
        Path state = statePath();
        if (stateful && !Files.isRegularFile(state)) {
            throw new InstanceStateException("No saved state to start " + name() + " from", StatusCode.STOPPED);
        }
        startMachine(stateful, qmp -> QemuState.load(qmp, state));
        // The saved state is consumed by a stateful start and discarded by a plain one, as Incus does.
        deleteQuietly(state);
    }

    /**
     * Starts QEMU waiting for an incoming live migration, its root drive {@code overlay} over the disk;
     * {@code incoming} runs the migration into it (returning once QEMU has loaded it), then the guest runs.
     */
    void startIncoming(Path overlay, Consumer<QmpClient> incoming) {
        incomingOverlay = overlay;
        try {
            startMachine(true, incoming);
        } finally {
            incomingOverlay = null;
        }
    }

    /** The running VM's monitor, null when it is stopped. */
    QmpClient qmpOrNull() {
        return runner.find().map(m -> m.qmp).orElse(null);
    }

    /** Plans the devices, makes their host side (taps, shares) and has {@link VmRunner} launch QEMU. */
    private void startMachine(boolean incoming, Consumer<QmpClient> load) {
        Machine.RunDir run = runDir();
        VmRunner.prepare(run, runPath(), logPath(), name());
        Map<String, Device> devices = expandedDevices().map();
        VmNics nics = VmNics.plan(devices, k -> localConfig().get(k));
        VmDisks disks = VmDisks.plan(devices);
        List<String> cmd = VmCommandLine.build(this, driver, run, uuid(), memoryBytes(), incomingOverlay, nics,
                disks);
        if (incoming) {
            cmd.addAll(QemuState.INCOMING);
        }
        Map<String, String> vol = new HashMap<>(nics.volatileChanges);
        try {
            vol.putAll(nics.createTaps());
            if (!vol.isEmpty()) {
                volatileSetInternal(vol, false);
            }
            disks.startHost(run.dir(), logPath());
        } catch (RuntimeException e) {
            releaseHostDevices(run, disks);
            throw e;
        }
        try {
            runner.launch(cmd, run, logPath(), incoming ? load : null, disks);
        } catch (RuntimeException e) {
            releaseHostDevices(run, disks);
            throw e;
        }
    }

    /**
     * Removes what a start made on the host for the devices: the bridged NICs' taps (named in
     * {@code volatile.<dev>.host_name}, cleared), the read-only bind mounts and sockets of the shares ({@code started}:
     * the plan of a start that failed, whose virtiofsd are killed; null to plan them again from the devices).
     */
    private void releaseHostDevices(Machine.RunDir run, VmDisks started) {
        Map<String, Device> devices = expandedDevices().map();
        try {
            Map<String, String> clear = VmNics.removeTaps(devices, k -> localConfig().get(k));
            if (!clear.isEmpty()) {
                volatileSetInternal(clear, false);
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "Taps of {0}: {1}", name(), e.getMessage());
        }
        try {
            (started != null ? started : VmDisks.plan(devices)).stopHost(run.dir());
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "Shares of {0}: {1}", name(), e.getMessage());
        }
    }

    /**
     * QEMU ended on its own (the guest powered off, QEMU crashed or was killed), unless the driver is stopping the VM
     * itself: as Incus's {@code onStop}, the VM is recorded stopped and an ephemeral VM is deleted.
     */
    private void stoppedByItself(Machine m) {
        if (m.stopping || owner().locks().get(project().name(), name()).isPresent()) {
            return; // an action of ours is under way and records the outcome
        }
        LOG.log(System.Logger.Level.DEBUG, "VM {0} stopped by itself", name());
        try {
            volatileSetInternal(Map.of("volatile.last_state.power", PowerState.STOPPED), false);
            if (isEphemeral()) {
                delete(true);
            }
        } catch (IncusException | UncheckedIOException e) { // the latter from the shared record and tree code
            LOG.log(System.Logger.Level.DEBUG, "After the stop of {0}: {1}", name(), e.getMessage());
        }
    }

    /** Releases the monitor and agent without touching QEMU (the session closes). */
    void detach() {
        runner.detach();
    }

    /**
     * Refuses to save the running state of a VM whose devices changed live: a new QEMU started from the current
     * devices would lay them out differently (each behind its own root port in name order), and QEMU cannot load a
     * state into another layout.
     */
    private void requireStartLayout(String action) {
        Machine m = runner.current();
        if (m != null && m.devicesChanged) {
            throw new NotSupportedException("The qemu driver cannot " + action + " of VM " + ErrorTexts.quote(name())
                    + ": devices were added or removed while it runs, and its saved state would not fit the device"
                    + " layout of its next start; stop and start it first");
        }
    }

    /** Incus's stop: {@code quit}, a wait for the monitor to go (30 s), then SIGKILL. */
    @Override
    protected void doStop(boolean stateful) {
        if (stateful) {
            QemuState.checkStorage(expandedDevices().map(), memoryBytes());
            requireStartLayout("save the state");
        }
        Machine m;
        try {
            m = runner.find().orElse(null);
        } catch (IncusException e) {
            m = null;
        }
        if (m == null) {
            if (stateful) {
                throw new InstanceStateException("Cannot save the state of " + name() + ": its monitor is"
                        + " unreachable", StatusCode.ERROR);
            }
            runner.killUnreachable();
            return;
        }
        m.stopping = true;
        console().save(m);
        if (stateful) {
            try {
                QemuState.save(m.qmp, statePath());
            } catch (RuntimeException e) {
                m.stopping = false;
                throw e;
            }
        } else {
            runner.syncGuest(m);
        }
        runner.quit(m);
    }

    /**
     * Incus's shutdown: ACPI power button ({@code system_powerdown}), repeated every second (a guest still booting
     * has no handler yet and loses the press), until QEMU ends or {@code timeout} passes.
     */
    @Override
    protected boolean doShutdown(Duration timeout) {
        Machine m = runner.require();
        m.stopping = true;
        console().save(m);
        return runner.powerdown(m, timeout);
    }

    @Override
    protected void doFreeze() {
        Machine m = runner.require();
        m.qmp.execute("stop");
        runner.refreshStatus(m); // the STOP event's listener may not have run yet
    }

    @Override
    protected void doUnfreeze() {
        Machine m = runner.require();
        m.qmp.execute("cont");
        runner.refreshStatus(m);
    }

    // ---- devices and config of a running VM --------------------------------------------------------------------

    private VmLiveChanges live() {
        return new VmLiveChanges(this, runner, driver.settings(), vol -> volatileSetInternal(vol, false));
    }

    /** Adds a {@code proxy} device's forwards to the running VM ({@link VmLiveChanges#addProxy}). */
    void addProxy(String device, Device proxy) {
        live().addProxy(device, proxy);
    }

    /** Removes a {@code proxy} device's forwards from the running VM ({@link VmLiveChanges#removeProxy}). */
    void removeProxy(String device, Device proxy) {
        live().removeProxy(device, proxy);
    }

    /**
     * Hot-plugs a device into the running VM, what Incus's {@code deviceStart} does for a running VM: a bridged NIC
     * (its tap made and recorded in {@code volatile.<dev>.host_name}, then {@link VmHotplug#attachNic}), an extra
     * disk file or block device ({@link VmHotplug#attachBlock}). A proxy's forwards are added live
     * ({@code hostfwd_add}): Incus's {@code CanHotPlug} refuses a proxy on a running VM before this is called, so
     * that serves the undo of a failed update, as for the p2p NIC, which this driver cannot add live (it is QEMU's
     * user-mode network, a {@code -netdev user} QEMU builds only at its start). Directory shares are refused: their
     * virtio-fs needs the guest's memory shared from the start.
     */
    @Override
    protected void deviceAdd(String name, Device device) {
        switch (device.type()) {
            case "proxy" -> addProxy(name, device);
            case "nic" -> live().addNic(name, device);
            case "disk" -> live().addDisk(name, device);
            default -> super.deviceAdd(name, device);
        }
    }

    @Override
    protected void deviceRemove(String name, Device device) {
        switch (device.type()) {
            case "proxy" -> removeProxy(name, device);
            case "nic" -> live().removeNic(name, device);
            case "disk" -> live().removeDisk(name, device);
            default -> super.deviceRemove(name, device);
        }
    }

    /** A changed proxy's forwards are replaced (undo only, as above); a reload changes nothing: QEMU keeps them. */
    @Override
    protected void deviceUpdate(String name, Device oldDevice, Device newDevice) {
        if ("proxy".equals(newDevice.type()) && "proxy".equals(oldDevice.type()) && !oldDevice.equals(newDevice)) {
            removeProxy(name, oldDevice);
            addProxy(name, newDevice);
        } else {
            super.deviceUpdate(name, oldDevice, newDevice);
        }
    }

    /**
     * {@code limits.memory} on a running VM: growth is hotplugged as a DIMM ({@code object-add} of a RAM backend,
     * {@code device_add} of a {@code pc-dimm}), shrinking asks the balloon; other keys apply at the next start.
     */
    @Override
    protected void applyLiveUpdate(Map<String, String> oldExpanded, Map<String, String> newExpanded,
            Set<String> changedKeys) {
        if (!changedKeys.contains("limits.memory")) {
            return;
        }
        live().memory(newExpanded.get("limits.memory"));
    }

    // ---- snapshots, restore, delete, rebuild, export -----------------------------------------------------------

    private Path snapshotDir(InstanceArgs snapshot) {
        return owner().paths().path(type(), Project.storageName(snapshot.project(), snapshot.name()));
    }

    private String snapshotTag(InstanceArgs snapshot) {
        return VmDisk.snapshotTag(snapshotDir(snapshot), snapshot.name());
    }

    /**
     * An internal qcow2 snapshot of the disk: {@code blockdev-snapshot-internal-sync} while QEMU runs,
     * {@code qemu-img snapshot -c} while stopped. A stateful one also saves the memory into the snapshot's directory
     * ({@code QemuState.snapshot}: paused throughout, so that disk and memory are of the same instant).
     */
    @Override
    protected void doSnapshot(InstanceArgs snapshot, boolean stateful) {
        if (stateful) {
            QemuState.checkStorage(expandedDevices().map(), memoryBytes());
            requireStartLayout("take a stateful snapshot");
        }
        String tag = "incus4j-" + UUID.randomUUID();
        Path dir = snapshotDir(snapshot);
        try {
            PrivateFiles.createDirectories(dir);
            Optional<Machine> m = runner.find();
            if (m.isPresent()) {
                Runnable disk = VmDisk.liveSnapshot(m.get().qmp, tag);
                if (stateful) {
                    try {
                        QemuState.snapshot(m.get().qmp, disk, dir.resolve(QemuState.FILE));
                    } finally {
                        runner.refreshStatus(m.get()); // paused and resumed: the RESUME event's listener may lag
                    }
                } else {
                    runner.syncGuest(m.get());
                    disk.run();
                }
            } else if (stateful) {
                throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, StatusCode.STOPPED);
            } else {
                storage().snapshot(tag);
            }
            VmDisk.writeSnapshotTag(dir, tag);
        } catch (IOException | RuntimeException e) {
            AbstractInstances.deleteTree(dir);
            throw e instanceof IOException io ? HostIo.failure("Cannot snapshot " + name(), io) : (RuntimeException) e;
        }
    }

    /** The disk goes back to the snapshot's; so does the saved state (a stateless snapshot leaves none). */
    @Override
    protected void doRestore(InstanceArgs snapshot) {
        storage().restore(snapshotTag(snapshot));
        QemuState.restoreFrom(snapshotDir(snapshot), statePath(), snapshot.stateful());
    }

    @Override
    protected void doDeleteSnapshot(InstanceArgs snapshot) {
        String tag;
        try {
            tag = snapshotTag(snapshot);
        } catch (IncusException e) {
            return; // never completed
        }
        storage().deleteSnapshot(tag, runner.find().map(m -> m.qmp).orElse(null));
    }

    @Override
    protected void doDelete() {
        // The base class removes the directories (disk included).
    }

    /**
     * Replaces the disk with a blank one ({@code image} null) or the image's, made aside and renamed over the old one
     * only when complete. The snapshots of this driver live inside the disk, so a VM with snapshots is not rebuilt.
     */
    @Override
    protected void doRebuild(Image image, Operation op) {
        if (!snapshotArgs().isEmpty()) {
            throw new NotSupportedException("Rebuild of a VM with snapshots is not supported by the qemu driver: its"
                    + " snapshots live inside the disk; delete them first");
        }
        storage().rebuild(image, rootSize());
    }

    /**
     * Incus's VM export: {@code metadata.yaml}, templates and {@code rootfs.img}, the disk (or the snapshot's state
     * of it) converted to a standalone qcow2 with {@code qemu-img convert}. Split: the metadata tarball, and the
     * qcow2 bytes themselves as the rootfs file.
     */
    @Override
    protected ImageMetadata doExport(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker) {
        return storage().export(meta, rootfs, properties, expiration, tracker, architecture(), driver.clock(),
                isSnapshot() ? snapshotDir(args()) : null, args().name());
    }

    // ---- state, metrics --------------------------------------------------------------------------------------

    @Override
    protected ApiInstanceState runningState(StatusCode status, List<NetworkInterface> hostInterfaces) {
        return new VmStateView(this, runner.require(), memoryBytes()).state(status);
    }

    @Override
    protected Map<String, ApiInstanceState.Disk> diskState() {
        return storage().usage();
    }

    /**
     * Incus's QEMU-side metrics: vCPU time per vCPU thread, memory from QEMU's RSS against the limit, the root
     * disk's block statistics, the NIC (its counters when the agent reports them), procs 0, boot and current time.
     */
    @Override
    protected void collectMetrics(MetricSet set, List<NetworkInterface> hostInterfaces) {
        new VmStateView(this, runner.require(), memoryBytes()).metrics(set);
    }

    // ---- exec, files, console --------------------------------------------------------------------------------

    @Override
    protected Cmd doExec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        Machine m = runner.require();
        Map<String, String> env = execEnvironment(request);
        if (request.interactive()) {
            // The agent has no terminal: a command on a pty goes over SSH.
            GuestSsh ssh = m.ssh(() -> new GuestSsh(m.run.dir(), path(), () -> m.agent(driver.settings().agentWait()),
                    m.startedAt, driver.settings().agentWait(), driver.threadFactory("ssh")));
            return SshExec.start(ssh.client(), request, env, execCwd(request, env), stdin, stdout, driver::execute,
                    m::lostCommand);
        }
        return AgentCmd.start(() -> runner.userAgent(m), request, env, execCwd(request, env),
                stdin, stdout, stderr, driver::execute, m::lostCommand);
    }

    @Override
    protected Connection doFileSftpConn() {
        Machine m = runner.require();
        return SftpServer.open(new AgentFiles(() -> runner.userAgent(m)), driver::execute);
    }

    private VmConsole console() {
        return new VmConsole(name(), logPath(), consoleBufferLogPath());
    }

    /**
     * {@code console}: the serial port, moved from its ring buffer to a socket ({@code chardev-change}) while
     * attached, as Incus does (the ring buffer is saved to {@code console.log} first). {@code vga} needs SPICE, which
     * this driver does not set up.
     */
    @Override
    protected ConsoleSession doConsole(String protocol) {
        if (!"console".equals(protocol)) {
            throw new NotSupportedException(ErrorTexts.SPICE_UNSUPPORTED);
        }
        Machine m = runner.require();
        console().save(m);
        return SerialConsole.attach(m, VmCommandLine.RINGBUF_SIZE, driver.threadFactory("console"));
    }

    // ---- VM --------------------------------------------------------------------------------------------------

    /** Always empty: this driver runs no Incus agent, so there is no agent certificate. */
    @Override
    public Optional<X509Certificate> agentCertificate() {
        return Optional.empty();
    }

    /**
     * Incus's VM console log: the serial ring buffer drained ({@code ringbuf-read}) and appended to
     * {@code console.log}, whose whole content is returned; for a stopped VM, the file as left.
     */
    @Override
    public String consoleLog() {
        return withConsoleRetrieveLock(() -> {
            Optional<Machine> m;
            try {
                m = runner.find();
            } catch (IncusException e) {
                m = Optional.empty();
            }
            return console().log(m.orElse(null));
        });
    }

    @Override
    public void consoleScreenshot(OutputStream png) {
        Objects.requireNonNull(png, "png");
        VmConsole.screenshot(runningMachine(), png);
    }

    /**
     * {@code dump-guest-memory} (detached, followed with {@code query-dump}) into a file of the run directory,
     * then copied to {@code out}. Formats as QEMU names them: {@code elf}, {@code kdump-zlib}, {@code kdump-lzo},
     * {@code kdump-snappy}, {@code win-dmp}.
     */
    @Override
    public void dumpGuestMemory(OutputStream out, String format) {
        Objects.requireNonNull(out, "out");
        VmConsole.checkDumpFormat(format);
        VmConsole.dumpMemory(runningMachine(), out, format);
    }

    private Machine runningMachine() {
        StatusCode s = statusCode();
        if (!s.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, s);
        }
        return runner.require();
    }

    // ---- cgroups (not supported), migration ------------------------------------------------------------------

    @Override
    protected CGroup doCgroup() {
        throw new NotSupportedException(NotSupportedException.NOT_IMPLEMENTED);
    }

    /** The source side of {@code QemuMigration}. */
    @Override
    protected void doMigrateSend(MigrateSendArgs args) {
        requireStartLayout("migrate the running state");
        QemuMigration.send(this, args, runner.find().map(m -> m.qmp).orElse(null));
    }

    /** The target side of {@code QemuMigration}; a live migration starts the VM with the pre-copy received. */
    @Override
    protected void doMigrateReceive(MigrateReceiveArgs args) {
        QemuMigration.receive(this, args, this::adoptDefinition);
    }

    @Override
    public String toString() {
        return "QemuVm[" + project().name() + "/" + name() + "]";
    }
}
