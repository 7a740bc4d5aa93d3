package io.github.incus4j.qemu;

import static io.github.incus4j.qemu.QemuHost.deleteQuietly;
import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
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
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.internal.config.ConfigKeys;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.image.ImageFiles;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.config.ConfigNumbers;
import io.github.incus4j.api.spi.OperationLocks;
import io.github.incus4j.api.internal.sftp.SftpServer;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import io.github.incus4j.qemu.qmp.MonitorDisconnectedException;
import io.github.incus4j.qemu.qmp.QmpClient;
import io.github.incus4j.qemu.qmp.QmpException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.NetworkInterface;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
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
 */
@API(status = EXPERIMENTAL)
public final class QemuVm extends AbstractInstance implements VM {
    private static final System.Logger LOG = System.getLogger(QemuVm.class.getName());
    private static final String DISK = "root.img";
    private static final String SNAPSHOT_TAG = "qcow2-snapshot";
    private static final String DEFAULT_ROOT_SIZE = "10GiB";
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration QUIT_WAIT = Duration.ofSeconds(30);
    private static final Duration POWERDOWN_REPEAT = Duration.ofSeconds(1);
    private static final long MIB = 1 << 20;
    private static final Duration SYNC_WAIT = Duration.ofSeconds(5);
    /** Internal snapshots write the image's tables: Incus's 5 s of block commands, not the 500 ms of queries. */
    private static final Duration BLOCK_TIMEOUT = Duration.ofSeconds(5);
    /** Hotplugged memory comes in DIMMs, at most this many (Incus's {@code slots}). */
    private static final int MEMORY_SLOTS = 16;
    private static final int RINGBUF_SIZE = 1 << 20;
    /** How long after a start the driver keeps trying to mount the shares in the guest. */
    private static final Duration SHARE_MOUNT_WAIT = Duration.ofMinutes(3);
    private static final Duration AGENT_RETRY = Duration.ofSeconds(10);

    private final QemuInstances driver;
    private final Object machineLock = new Object();
    private volatile Machine machine;
    // True from QEMU's launch until its machine is set (machineLock held): machine() must not attach to that QEMU's
    // monitor meanwhile, or the starting thread's own connection would wait behind it for a greeting.
    private boolean launching;

    QemuVm(QemuInstances driver, InstanceRecord record) {
        super(driver, record);
        this.driver = driver;
    }

    private QemuVm(QemuVm parent, InstanceArgs snapshot) {
        super(parent, snapshot);
        this.driver = parent.driver;
    }

    @Override
    protected QemuVm newSnapshotHandle(InstanceArgs snapshot) {
        return new QemuVm(this, snapshot);
    }

    // ---- storage -------------------------------------------------------------------------------------------------

    /** The qcow2 disk of the instance (a snapshot's handle names its parent's: the snapshot lives inside it). */
    Path disk() {
        return owner().paths().path(type(), isSnapshot() ? parentFullName() : fullName()).resolve(DISK);
    }

    private String parentFullName() {
        return Project.storageName(project().name(), parent().orElseThrow().name());
    }

    /** Makes {@code root.img} from {@code source}. */
    void createStorage(InstanceSource source) {
        Path disk = disk();
        try {
            PrivateFiles.createDirectories(path());
            if (ImageSources.isImage(source)) {
                ImageSources.Image u = unpackDisk(source, disk);
                keepImageFiles(u.metadata(), u.templates());
                mutate(a -> {
                    Map<String, String> c = new HashMap<>(a.config());
                    u.metadata().properties().forEach((k, v) -> c.putIfAbsent("image." + k, v));
                    c.put("volatile.base_image", u.fingerprint());
                    return a.toBuilder().config(c).baseImage(u.fingerprint()).build();
                }, false);
            } else if (source instanceof InstanceSource.RootfsDirectory d) {
                driver.host().qemuImg(List.of("convert", "-O", "qcow2", d.directory().toAbsolutePath().toString(),
                        disk.toString()));
            } else {
                blankDisk(disk);
            }
        } catch (IOException e) {
            throw HostIo.failure("Cannot create the disk of " + name(), e);
        }
    }

    /** The image's metadata and templates, kept next to the disk as Incus does, private as the rest. */
    private void keepImageFiles(ImageMetadata metadata, Map<String, byte[]> templates) throws IOException {
        PrivateFiles.createDirectories(templatesPath());
        ImageFiles.keep(path(), templatesPath(), metadata, templates);
        PrivateFiles.restrict(path().resolve(ImageFiles.METADATA));
        for (String t : templates.keySet()) {
            PrivateFiles.restrict(templatesPath().resolve(t));
        }
    }

    /**
     * Unpacks an image's disk (unified or split, checked by {@link ImageSources#check} before) into {@code disk}
     * (qcow2).
     */
    private ImageSources.Image unpackDisk(InstanceSource source, Path disk) throws IOException {
        Path raw = disk.resolveSibling(disk.getFileName() + ".unpacking");
        try {
            ImageSources.Image u = ImageSources.unpackDisk(source, in -> PrivateFiles.copy(in, raw), path());
            toQcow2(raw, disk);
            return u;
        } finally {
            Files.deleteIfExists(raw);
        }
    }

    private void blankDisk(Path disk) {
        driver.host().qemuImg(List.of("create", "-q", "-f", "qcow2", disk.toString(),
                Long.toString(ConfigValues.parseByteSize(rootSize()))));
    }

    /** Keeps a qcow2 {@code from} as {@code to}, or converts another format (raw) to qcow2. */
    private void toQcow2(Path from, Path to) throws IOException {
        byte[] magic = new byte[4];
        try (InputStream in = Files.newInputStream(from)) {
            int n = in.readNBytes(magic, 0, 4);
            if (n == 4 && magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' && (magic[3] & 0xff) == 0xfb) {
                Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
                return;
            }
        }
        try {
            driver.host().qemuImg(List.of("convert", "-f", "raw", "-O", "qcow2", from.toString(), to.toString()));
        } finally {
            Files.deleteIfExists(from);
        }
    }

    private String rootSize() {
        for (Device d : expandedDevices().map().values()) {
            if ("disk".equals(d.type()) && "/".equals(d.get("path")) && d.get("size") != null) {
                return d.get("size");
            }
        }
        return DEFAULT_ROOT_SIZE;
    }

    /** The directory holding the disk, the kept image files and the templates (the parent's, for a snapshot). */
    private Path instanceDir() {
        return owner().paths().path(type(), isSnapshot() ? parentFullName() : fullName());
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
        return memoryBytes(expandedConfig().get("limits.memory"));
    }

    /** {@code limits.memory} in bytes (a percentage of the host's memory allowed), the default when unset. */
    private long memoryBytes(String v) {
        if (v == null || v.isEmpty()) {
            v = driver.settings().defaultMemory();
        }
        if (v.endsWith("%")) {
            return (long) (hostMemory() * Double.parseDouble(v.substring(0, v.length() - 1)) / 100);
        }
        return ConfigValues.parseByteSize(v);
    }

    /**
     * The boot memory, with room to hotplug up to the host's memory ({@code slots}, {@code maxmem}) so that
     * {@code limits.memory} can grow while the VM runs, as Incus's memory hotplug allows.
     */
    private String memoryArg() {
        long boot = memoryBytes() / MIB;
        long max = Math.max(boot, hostMemory() / MIB / 128 * 128);
        return boot + "M,slots=" + MEMORY_SLOTS + ",maxmem=" + max + "M";
    }

    private int cpus() {
        String v = expandedConfig().get("limits.cpu");
        if (v == null || v.isEmpty()) {
            return 1;
        }
        if (v.matches("\\d+")) {
            return ConfigNumbers.parseIntClamped("limits.cpu", v, 1, ConfigKeys.MAX_CPUS);
        }
        if (v.contains("=")) {
            long n = 1;
            for (String part : v.split(",")) {
                n = Math.min(ConfigKeys.MAX_CPUS, n * ConfigNumbers.parseIntClamped("limits.cpu",
                        part.substring(part.indexOf('=') + 1), 1, ConfigKeys.MAX_CPUS));
            }
            return (int) n;
        }
        // A CPU set: one vCPU per host CPU listed (pinning itself is not done).
        return ConfigNumbers.cpuSetSize(v);
    }

    /**
     * The QEMU command line, as Incus's (without its config drive, vsock and UEFI), with the NICs, extra disks and
     * proxy forwards of {@code nics} and {@code disks} ({@link VmNics}, {@link VmDisks}, {@link VmProxies}) and the
     * root ports for devices added while it runs ({@link PciePorts}).
     */
    private List<String> commandLine(Machine.RunDir run, VmNics nics, VmDisks disks) {
        boolean kvm = driver.useKvm();
        List<String> hostfwds = new ArrayList<>();
        hostfwds.add("tcp:127.0.0.1:" + GuestSsh.allocatePort(run.dir()) + "-:22");
        for (VmProxies.Rule r : VmProxies.rules(expandedDevices().map())) {
            hostfwds.add(r.hostfwd());
        }
        // vhost-user (virtiofsd) reads the guest's buffers: the guest memory must be shareable.
        String machineArg = "q35,accel=" + (kvm ? "kvm" : "tcg") + (disks.virtiofs() ? ",memory-backend=" + MEM_NODE
                : "");
        List<String> cmd = new ArrayList<>(List.of(driver.host().qemu().toString(),
                "-S", "-name", name(), "-uuid", uuid(), "-daemonize", "-pidfile", run.pidfile().toString(),
                "-nodefaults", "-no-user-config", "-nographic",
                "-machine", machineArg, "-cpu", kvm ? "host" : "qemu64",
                "-smp", Integer.toString(cpus()), "-m", memoryArg(),
                "-smbios", "type=2,manufacturer=LinuxContainers,product=Incus",
                "-chardev", "socket,id=monitor,path=" + run.monitor() + ",server=on,wait=off",
                "-mon", "chardev=monitor,mode=control",
                "-chardev", "ringbuf,id=console,size=" + RINGBUF_SIZE, "-serial", "chardev:console",
                "-device", "virtio-serial-pci,id=dev-incus_vserial",
                "-chardev", "socket,id=qga,path=" + run.agent() + ",server=on,wait=off",
                "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
                "-device", "virtio-balloon-pci,id=dev-incus_balloon",
                "-device", "VGA,id=dev-incus_vga",
                "-blockdev", "driver=qcow2,node-name=" + ROOT_NODE + ",file.driver=file,file.filename=" + disk()));
        Path overlay = incomingOverlay;
        if (overlay != null) {
            // A live migration's target: the guest's writes during the migration arrive in this overlay.
            cmd.addAll(List.of("-blockdev", "driver=qcow2,node-name=" + OVERLAY_NODE + ",file.driver=file,"
                    + "file.filename=" + overlay + ",backing=" + ROOT_NODE));
        }
        cmd.addAll(List.of(
                "-device", "virtio-blk-pci,drive=" + (overlay != null ? OVERLAY_NODE : ROOT_NODE)
                        + ",id=dev-incus_root,bootindex=1",
                "-D", logFilePath().toString()));
        if (disks.virtiofs()) {
            cmd.addAll(List.of("-object", "memory-backend-memfd,id=" + MEM_NODE + ",size=" + (memoryBytes() / MIB)
                    + "M,share=on"));
        }
        PciePorts ports = new PciePorts();
        cmd.addAll(nics.args(hostfwds, ports));
        cmd.addAll(disks.args(run.dir(), ports));
        ports.spares(cmd);
        String raw = expandedConfig().get("raw.qemu");
        if (raw != null && !raw.isBlank()) {
            cmd.addAll(RawArgs.split(raw));
        }
        return cmd;
    }

    static final String ROOT_NODE = "incus_root";
    /** The node of the overlay a live migration puts over the root disk while it runs. */
    static final String OVERLAY_NODE = "incus_mig";
    /** The figures of this VM's last live migration as its source (null: none yet). */
    volatile QemuPrecopy.Figures lastMigration;
    /** Set while a live migration's target starts: its root drive is this overlay over the disk. */
    private volatile Path incomingOverlay;
    private static final String MEM_NODE = "incus_mem";

    private String uuid() {
        String u = localConfig().get("volatile.uuid");
        if (u == null || u.isEmpty()) {
            u = UUID.randomUUID().toString();
            volatileSetInternal(Map.of("volatile.uuid", u), false);
        }
        return u;
    }

    // ---- status ----------------------------------------------------------------------------------------------

    /**
     * The machine of the running VM: the current one, or one attached to a QEMU this session did not start (the
     * session was reopened). Empty when no QEMU of this VM runs.
     *
     * @throws IncusException when QEMU runs but its monitor cannot be reached (status {@code Error})
     */
    private Optional<Machine> machine() {
        if (isSnapshot()) {
            return Optional.empty();
        }
        Machine m = machine;
        if (m != null && m.qmp.isConnected()) {
            return Optional.of(m);
        }
        synchronized (machineLock) {
            m = machine;
            if (m != null && m.qmp.isConnected()) {
                return Optional.of(m);
            }
            if (m != null) {
                if (m.process.isAlive()) {
                    // Our client lost the monitor but QEMU runs on: connect again below.
                    machine = null;
                    m.close();
                } else {
                    exited(m);
                    return Optional.empty();
                }
            }
            if (launching) {
                return Optional.empty();
            }
            Machine.RunDir run = runDir();
            Optional<QemuProcess> p = QemuProcess.find(run.pidfile(), uuid());
            if (p.isEmpty()) {
                return Optional.empty();
            }
            QmpClient qmp = QmpClient.connect(run.monitor(), new QmpClient.Options(CONNECT_TIMEOUT,
                    driver.threadFactory("qmp"), null));
            Machine attached = new Machine(p.get(), qmp, run, startTime(p.get()), driver.threadFactory("agent"));
            watch(attached);
            machine = attached;
            driver.attached(this);
            return Optional.of(attached);
        }
    }

    private Machine requireMachine() {
        return machine().orElseThrow(() -> new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING,
                StatusCode.STOPPED));
    }

    @Override
    protected StatusCode driverStatus() {
        Machine current = machine;
        if (current != null) {
            StatusCode known = current.status;
            if (known != null) {
                return known; // kept by QMP's run-state events: no round trip
            }
        }
        Optional<Machine> m;
        try {
            m = machine();
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.DEBUG, "Monitor of {0} unreachable: {1}", name(), e.getMessage());
            return StatusCode.ERROR;
        }
        if (m.isEmpty()) {
            return StatusCode.STOPPED;
        }
        try {
            JsonNode s = m.get().qmp.execute("query-status");
            return statusOf(s.path("status").asText());
        } catch (MonitorDisconnectedException e) {
            return m.get().process.isAlive() ? StatusCode.ERROR : StatusCode.STOPPED;
        } catch (IncusException e) {
            return StatusCode.ERROR;
        }
    }

    /** The state renders what QEMU says now, not what the last event said. */
    @Override
    public ApiInstanceState renderState(List<NetworkInterface> hostInterfaces) {
        Machine m = machine;
        if (m != null) {
            refreshStatus(m);
        }
        return super.renderState(hostInterfaces);
    }

    /** The status kept from QMP's events, null when none is (stopped, monitor gone): for tests. */
    StatusCode keptStatus() {
        Machine m = machine;
        return m == null ? null : m.status;
    }

    /** The current machine (null when stopped): for tests. */
    Machine machineForTest() {
        return machine;
    }

    /** Incus's mapping of QMP's run states. */
    static StatusCode statusOf(String qmpStatus) {
        switch (qmpStatus) {
            case "prelaunch":
            case "running":
                return StatusCode.RUNNING;
            case "inmigrate":
            case "postmigrate":
            case "finish-migrate":
            case "save-vm":
            case "suspended":
            case "paused":
                return StatusCode.FROZEN;
            default:
                return StatusCode.ERROR;
        }
    }

    @Override
    protected int driverInitPid() {
        try {
            return machine().map(m -> m.process.pid()).orElse(-1);
        } catch (IncusException e) {
            return -1;
        }
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
    void startIncoming(Path overlay, java.util.function.Consumer<QmpClient> incoming) {
        incomingOverlay = overlay;
        try {
            startMachine(true, incoming);
        } finally {
            incomingOverlay = null;
        }
    }

    /** The running VM's monitor, null when it is stopped. */
    QmpClient qmpOrNull() {
        return machine().map(m -> m.qmp).orElse(null);
    }

    private void startMachine(boolean incoming, java.util.function.Consumer<QmpClient> load) {
        Machine.RunDir run = runDir();
        try {
            PrivateFiles.createDirectories(run.dir());
            PrivateFiles.createDirectories(logPath());
            if (!run.dir().equals(runPath())) {
                PrivateFiles.createDirectories(runPath());
                Path link = runPath().resolve("short");
                Files.deleteIfExists(link);
                Files.createSymbolicLink(link, run.dir());
            }
            for (String log : List.of("qemu.log", "console.log")) {
                Path p = logPath().resolve(log);
                if (Files.exists(p)) {
                    Files.move(p, logPath().resolve(log + ".old"), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            for (Path socket : List.of(run.monitor(), run.agent(), run.console())) {
                Files.deleteIfExists(socket);
            }
        } catch (IOException e) {
            throw HostIo.failure("Cannot prepare the run directory of " + name(), e);
        }
        Map<String, Device> devices = expandedDevices().map();
        VmNics nics = VmNics.plan(devices, k -> localConfig().get(k));
        VmDisks disks = VmDisks.plan(devices);
        List<String> cmd = commandLine(run, nics, disks);
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
        QemuProcess process;
        synchronized (machineLock) {
            launching = true;
        }
        try {
            process = QemuProcess.launch(cmd, run.pidfile(), logPath().resolve("qemu.early.log"));
        } catch (RuntimeException e) {
            synchronized (machineLock) {
                launching = false;
            }
            releaseHostDevices(run, disks);
            throw e;
        }
        QmpClient qmp = null;
        try {
            qmp = QmpClient.connect(run.monitor(), new QmpClient.Options(CONNECT_TIMEOUT,
                    driver.threadFactory("qmp"), null));
            Machine m = new Machine(process, qmp, run, Instant.now(), driver.threadFactory("agent"));
            qmp.execute("set-action", Map.of("shutdown", "poweroff", "reboot", "reset", "panic", "exit-failure"));
            synchronized (machineLock) {
                machine = m;
                launching = false;
                driver.attached(this);
            }
            watch(m);
            if (incoming) {
                load.accept(qmp);
            }
            qmp.execute("cont");
            m.resumed();
            refreshStatus(m);
            if (!disks.shares.isEmpty()) {
                mountShares(m, disks);
            } else {
                m.sharesMounted.complete(null);
            }
        } catch (RuntimeException e) {
            synchronized (machineLock) {
                machine = null;
                launching = false;
                driver.detached(this);
            }
            if (qmp != null) {
                qmp.close();
            }
            process.kill();
            releaseHostDevices(run, disks);
            throw e;
        }
    }

    /**
     * Mounts the directory shares in the guest once its agent answers (Incus's agent mounts them at its start), on
     * a named daemon thread: the start does not wait for the guest to boot. Gives up when the machine ends or after
     * {@link #SHARE_MOUNT_WAIT}; a failure is logged (the guest sees no mount).
     */
    private void mountShares(Machine m, VmDisks disks) {
        Thread t = driver.threadFactory("shares").newThread(() -> {
            try {
                mountSharesNow(m, disks);
            } finally {
                m.sharesMounted.complete(null);
            }
        });
        t.start();
    }

    private void mountSharesNow(Machine m, VmDisks disks) {
        long deadline = System.nanoTime() + SHARE_MOUNT_WAIT.toNanos();
        while (machine == m && m.process.isAlive() && System.nanoTime() < deadline) {
            try {
                disks.mountInGuest(m.agent(SHARE_MOUNT_WAIT));
                LOG.log(System.Logger.Level.DEBUG, "Shares of {0} mounted", name());
                return;
            } catch (InstanceStateException e) {
                try {
                    TimeUnit.SECONDS.sleep(1); // the guest still boots
                } catch (InterruptedException ie) {
                    return;
                }
            } catch (IncusException e) {
                LOG.log(System.Logger.Level.WARNING, "Shares of {0} not mounted: {1}", name(), e.getMessage());
                return;
            }
        }
    }

    /**
     * The guest's agent for commands and file access: once it answers, after the shares are mounted (bounded by the
     * agent's wait; a mount still under way then is the guest's view, as without this wait).
     */
    private GuestAgentClient userAgent(Machine m) {
        GuestAgentClient a = m.agent(driver.settings().agentWait());
        try {
            m.sharesMounted.get(driver.settings().agentWait().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.log(System.Logger.Level.DEBUG, "Shares of {0} not mounted yet: {1}", name(), e.toString());
        }
        return a;
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
     * Adds a {@code proxy} device's forwards to the running VM (QEMU's {@code hostfwd_add} on the user-mode NIC that
     * carries them), for the device hot-add hook.
     */
    void addProxy(String device, Device proxy) {
        Machine m = requireMachine();
        VmProxies.add(m.qmp, VmNics.forwardNetdev(expandedDevices().map()), VmProxies.rules(device, proxy));
    }

    /** Removes a {@code proxy} device's forwards from the running VM, for the device hot-remove hook. */
    void removeProxy(String device, Device proxy) {
        Machine m = requireMachine();
        VmProxies.remove(m.qmp, VmNics.forwardNetdev(expandedDevices().map()), VmProxies.rules(device, proxy));
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
            case "nic" -> addNic(name, device);
            case "disk" -> addDisk(name, device);
            default -> super.deviceAdd(name, device);
        }
    }

    @Override
    protected void deviceRemove(String name, Device device) {
        switch (device.type()) {
            case "proxy" -> removeProxy(name, device);
            case "nic" -> removeNic(name, device);
            case "disk" -> removeDisk(name, device);
            default -> super.deviceRemove(name, device);
        }
    }

    private void addNic(String name, Device device) {
        VmNics plan = VmNics.plan(Map.of(name, device), k -> localConfig().get(k));
        VmNics.Nic nic = plan.nics.get(0);
        if (nic.kind() != VmNics.Kind.BRIDGED) {
            throw new NotSupportedException("The qemu driver cannot add NIC " + ErrorTexts.quote(name)
                    + " (nictype=p2p, QEMU's user-mode network) to a running VM; add it while the VM is stopped");
        }
        Machine m = requireMachine();
        Map<String, String> vol = new HashMap<>(plan.volatileChanges);
        vol.putAll(plan.createTaps());
        try {
            m.devicesChanged = true;
            VmHotplug.attachNic(m.qmp, nic);
        } catch (RuntimeException e) {
            VmNics.removeTaps(Map.of(name, device), k -> vol.getOrDefault(k, localConfig().get(k)));
            throw e;
        }
        volatileSetInternal(vol, false);
    }

    private void removeNic(String name, Device device) {
        if (!"bridged".equals(device.get("nictype"))) {
            throw new NotSupportedException("The qemu driver cannot remove NIC " + ErrorTexts.quote(name)
                    + " (nictype=" + device.get("nictype") + ") from a running VM");
        }
        Machine m = guestUp(requireMachine());
        m.devicesChanged = true;
        VmHotplug.detachNic(m.qmp, name);
        Map<String, String> clear = VmNics.removeTaps(Map.of(name, device), k -> localConfig().get(k));
        if (!clear.isEmpty()) {
            volatileSetInternal(clear, false);
        }
    }

    private void addDisk(String name, Device device) {
        VmDisks plan = liveDisk(name, device, "add");
        if (!plan.blocks.isEmpty()) {
            Machine m = requireMachine();
            m.devicesChanged = true;
            VmHotplug.attachBlock(m.qmp, plan.blocks.get(0));
        }
    }

    private void removeDisk(String name, Device device) {
        String source = device.get("source");
        if (source != null && Files.isDirectory(Path.of(source))) {
            liveDisk(name, device, "remove"); // refuses
        }
        if (!"/".equals(device.get("path"))) {
            Machine m = guestUp(requireMachine());
            m.devicesChanged = true;
            VmHotplug.detachBlock(m.qmp, name);
        }
    }

    /**
     * {@code m} once its guest's OS runs (its agent answers), within the agent's wait: an unplug needs the guest's
     * cooperation, and one asked for while the guest still boots (ACPI hotplug's eject request before the kernel
     * handles it) is never answered. A guest whose agent does not answer in time is asked anyway.
     */
    /**
     * Refuses to save the running state of a VM whose devices changed live: a new QEMU started from the current
     * devices would lay them out differently (each behind its own root port in name order), and QEMU cannot load a
     * state into another layout.
     */
    private void requireStartLayout(String action) {
        Machine m = machine;
        if (m != null && m.devicesChanged) {
            throw new NotSupportedException("The qemu driver cannot " + action + " of VM " + ErrorTexts.quote(name())
                    + ": devices were added or removed while it runs, and its saved state would not fit the device"
                    + " layout of its next start; stop and start it first");
        }
    }

    private Machine guestUp(Machine m) {
        try {
            m.agent(driver.settings().agentWait());
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.DEBUG, "Agent of {0} not answering before an unplug: {1}", name(),
                    e.getMessage());
        }
        return m;
    }

    /** The plan of one disk changed live: a block disk, or nothing (an optional missing source); else refused. */
    private VmDisks liveDisk(String name, Device device, String action) {
        if ("/".equals(device.get("path"))) {
            throw new NotSupportedException("The qemu driver cannot " + action + " the root disk "
                    + ErrorTexts.quote(name) + " of a running VM");
        }
        VmDisks plan = VmDisks.plan(Map.of(name, device));
        if (!plan.shares.isEmpty()) {
            throw new NotSupportedException("The qemu driver cannot " + action + " the shared directory "
                    + ErrorTexts.quote(name) + " of a running VM (virtio-fs needs the guest's memory shared from"
                    + " the start); change it while the VM is stopped");
        }
        return plan;
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
     * Notices QEMU's end (a disconnected monitor means QEMU quit or died) and keeps the VM's status from QMP's
     * run-state events, so that {@code statusCode()} needs no round trip and sees a {@code stop} or {@code cont} from
     * anyone within an event's delivery.
     */
    private void watch(Machine m) {
        m.qmp.onEvent(e -> {
            if (RUN_STATE_EVENTS.contains(e.name())) {
                refreshStatus(m);
            }
        });
        m.qmp.disconnected().whenComplete((v, t) -> {
            m.status = null; // gone, or going: ask (the process) again
            driver.execute(() -> onDisconnect(m));
        });
        refreshStatus(m);
    }

    /** The QMP events after which the run state may differ. */
    private static final java.util.Set<String> RUN_STATE_EVENTS = java.util.Set.of("STOP", "RESUME", "SUSPEND",
            "SUSPEND_DISK", "WAKEUP", "RESET", "SHUTDOWN", "POWERDOWN", "GUEST_PANICKED", "GUEST_CRASHLOADED",
            "MIGRATION");

    /**
     * Reads the run state again after the driver paused and resumed QEMU itself (a migration's send): the events'
     * listener may not have caught up when the call returns.
     */
    void refreshStatus() {
        Machine m = machine;
        if (m != null) {
            refreshStatus(m);
        }
    }

    /** Asks QEMU for the run state and keeps it (unknown when the monitor is gone). */
    private void refreshStatus(Machine m) {
        synchronized (m.statusLock) {
            if (!m.qmp.isConnected()) {
                m.status = null;
                return;
            }
            try {
                m.status = statusOf(m.qmp.execute("query-status").path("status").asText());
            } catch (IncusException e) {
                m.status = null;
                LOG.log(System.Logger.Level.DEBUG, "query-status of {0}: {1}", name(), e.getMessage());
            }
            if (!m.qmp.isConnected()) {
                m.status = null; // the disconnect may have completed between the check and the answer
            }
        }
    }

    /**
     * The monitor went away. Unless the driver is stopping the VM itself, QEMU ended on its own (the guest powered
     * off, QEMU crashed or was killed): as Incus's {@code onStop}, the VM is recorded stopped and an ephemeral VM is
     * deleted.
     */
    private void onDisconnect(Machine m) {
        if (m.stopping || !m.process.awaitExit(Duration.ofSeconds(10))) {
            return; // ours, or the monitor closed while QEMU runs on (status Error)
        }
        synchronized (machineLock) {
            if (machine == m) {
                exited(m);
            }
        }
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

    /** Forgets a machine whose QEMU is gone (machineLock held). */
    private void exited(Machine m) {
        if (machine == m) {
            machine = null;
        }
        driver.detached(this);
        m.close();
        cleanRunDir(m.run);
    }

    private void cleanRunDir(Machine.RunDir run) {
        releaseHostDevices(run, null);
        try {
            for (Path p : List.of(run.monitor(), run.agent(), run.console(), run.pidfile(), run.sshPort())) {
                Files.deleteIfExists(p);
            }
            if (!run.dir().equals(runPath())) {
                Files.deleteIfExists(run.dir()); // the short directory, empty now
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "Cannot clean {0}: {1}", run.dir(), e.getMessage());
        }
    }

    /** Releases the monitor and agent without touching QEMU (the session closes). */
    void detach() {
        synchronized (machineLock) {
            Machine m = machine;
            if (m != null) {
                m.stopping = true; // the disconnect that follows is ours
                machine = null;
                m.close();
            }
            driver.detached(this);
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
            m = machine().orElse(null);
        } catch (IncusException e) {
            m = null;
        }
        if (m == null) {
            if (stateful) {
                throw new InstanceStateException("Cannot save the state of " + name() + ": its monitor is"
                        + " unreachable", StatusCode.ERROR);
            }
            // No monitor: kill what the pidfile names, if it is still this VM's QEMU.
            QemuProcess.find(runDir().pidfile(), uuid()).ifPresent(QemuProcess::kill);
            cleanRunDir(runDir());
            return;
        }
        m.stopping = true;
        saveConsole(m);
        if (stateful) {
            try {
                QemuState.save(m.qmp, statePath());
            } catch (RuntimeException e) {
                m.stopping = false;
                throw e;
            }
        } else {
            syncGuest(m);
        }
        try {
            m.qmp.execute("quit");
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.DEBUG, "quit of {0}: {1}", name(), e.getMessage());
        }
        finish(m, QUIT_WAIT);
    }

    /**
     * Flushes the guest's page cache ({@code sync} through the agent, at most {@link #SYNC_WAIT}), so that a hard
     * stop or a disk snapshot keeps what exec and file access wrote. Best effort, and only when the agent is
     * already connected and the VM runs: nothing was written through the agent otherwise, and a paused guest's
     * agent does not answer.
     */
    private void syncGuest(Machine m) {
        GuestAgentClient a = m.connectedAgent();
        if (a == null) {
            return;
        }
        try {
            if (!"running".equals(m.qmp.execute("query-status").path("status").asText())) {
                return;
            }
            int pid = a.exec("/bin/sh", List.of("-c", "sync"), List.of("PATH=/usr/bin:/bin"), null, false);
            long deadline = System.nanoTime() + SYNC_WAIT.toNanos();
            while (!a.execStatus(pid).exited() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "sync in {0}: {1}", name(), e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits for QEMU to end (killing it after {@code wait}) and forgets the machine. */
    private void finish(Machine m, Duration wait) {
        try {
            m.qmp.disconnected().toCompletableFuture().get(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.log(System.Logger.Level.DEBUG, "Monitor of {0} still open after {1}", name(), wait);
        }
        if (!m.process.awaitExit(Duration.ofSeconds(5))) {
            m.process.kill();
        }
        synchronized (machineLock) {
            exited(m);
        }
    }

    /**
     * Incus's shutdown: ACPI power button ({@code system_powerdown}), repeated every second (a guest still booting
     * has no handler yet and loses the press), until QEMU ends or {@code timeout} passes.
     */
    @Override
    protected boolean doShutdown(Duration timeout) {
        Machine m = requireMachine();
        m.stopping = true;
        saveConsole(m);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                m.qmp.execute("system_powerdown");
            } catch (MonitorDisconnectedException e) {
                break;
            } catch (IncusException e) {
                LOG.log(System.Logger.Level.DEBUG, "system_powerdown of {0}: {1}", name(), e.getMessage());
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                m.stopping = false;
                return false;
            }
            try {
                m.qmp.disconnected().toCompletableFuture().get(Math.min(left, POWERDOWN_REPEAT.toNanos()),
                        TimeUnit.NANOSECONDS);
                break;
            } catch (java.util.concurrent.TimeoutException e) {
                // press again
            } catch (java.util.concurrent.ExecutionException e) {
                break;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                m.stopping = false;
                return false;
            }
        }
        finish(m, Duration.ofSeconds(5));
        return true;
    }

    @Override
    protected void doFreeze() {
        Machine m = requireMachine();
        m.qmp.execute("stop");
        refreshStatus(m); // the STOP event's listener may not have run yet
    }

    @Override
    protected void doUnfreeze() {
        Machine m = requireMachine();
        m.qmp.execute("cont");
        refreshStatus(m);
    }

    // ---- snapshots, restore, delete, rename -----------------------------------------------------------------

    private Path snapshotDir(InstanceArgs snapshot) {
        return owner().paths().path(type(), Project.storageName(snapshot.project(), snapshot.name()));
    }

    private String snapshotTag(InstanceArgs snapshot) {
        try {
            return Files.readString(snapshotDir(snapshot).resolve(SNAPSHOT_TAG)).trim();
        } catch (IOException e) {
            throw HostIo.failure("Snapshot " + snapshot.name() + " has no qcow2 snapshot tag", e);
        }
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
            Optional<Machine> m = machine();
            if (m.isPresent()) {
                QmpClient qmp = m.get().qmp;
                Runnable disk = () -> qmp.execute("blockdev-snapshot-internal-sync", Map.of("device", ROOT_NODE,
                        "name", tag), BLOCK_TIMEOUT);
                if (stateful) {
                    try {
                        QemuState.snapshot(qmp, disk, dir.resolve(QemuState.FILE));
                    } finally {
                        refreshStatus(m.get()); // paused and resumed: the RESUME event's listener may lag behind
                    }
                } else {
                    syncGuest(m.get());
                    disk.run();
                }
            } else if (stateful) {
                throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, StatusCode.STOPPED);
            } else {
                driver.host().qemuImg(List.of("snapshot", "-c", tag, disk().toString()));
            }
            PrivateFiles.write(dir.resolve(SNAPSHOT_TAG), (tag + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            AbstractInstances.deleteTree(dir);
            throw e instanceof IOException io ? HostIo.failure("Cannot snapshot " + name(), io) : (RuntimeException) e;
        }
    }

    /** The disk goes back to the snapshot's; so does the saved state (a stateless snapshot leaves none). */
    @Override
    protected void doRestore(InstanceArgs snapshot) {
        driver.host().qemuImg(List.of("snapshot", "-a", snapshotTag(snapshot), disk().toString()));
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
        Optional<Machine> m = machine();
        if (m.isPresent()) {
            m.get().qmp.execute("blockdev-snapshot-delete-internal-sync", Map.of("device", ROOT_NODE, "name", tag),
                    BLOCK_TIMEOUT);
        } else if (Files.exists(disk())) {
            driver.host().qemuImg(List.of("snapshot", "-d", tag, disk().toString()));
        }
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
        if (image != null && image.source() == null) {
            throw new InvalidArgumentException("Image " + ErrorTexts.quote(image.fingerprint())
                    + " has no tarball to unpack");
        }
        Path staging = disk().resolveSibling(DISK + ".rebuilding");
        Map<String, byte[]> templates = Map.of();
        try {
            Files.deleteIfExists(staging);
            ImageMetadata md = null;
            if (image == null) {
                blankDisk(staging);
            } else {
                InstanceSource source = InstanceSource.image(image.source());
                ImageSources.check(true, source);
                ImageSources.Image u = unpackDisk(source, staging);
                md = u.metadata();
                templates = u.templates();
            }
            Files.move(staging, disk(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Files.deleteIfExists(path().resolve(ImageFiles.METADATA));
            AbstractInstances.deleteTree(templatesPath());
            if (md != null) {
                keepImageFiles(md, templates);
            }
        } catch (IOException e) {
            throw HostIo.failure("Cannot rebuild the disk of " + name(), e);
        } finally {
            deleteQuietly(staging);
        }
    }

    /**
     * Incus's VM export: {@code metadata.yaml}, templates and {@code rootfs.img}, the disk (or the snapshot's state
     * of it) converted to a standalone qcow2 with {@code qemu-img convert}. Split: the metadata tarball, and the
     * qcow2 bytes themselves as the rootfs file.
     */
    @Override
    protected ImageMetadata doExport(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker) {
        ImageMetadata md = ImageLayout.exportMetadata(ImageFiles.metadata(instanceDir()), io.github.incus4j.api.Architectures.name(
                architecture()), properties, expiration, driver.clock());
        Map<String, byte[]> templates = ImageFiles.templates(instanceDir().resolve("templates"));
        Path tmp = disk().resolveSibling("export-" + UUID.randomUUID() + ".qcow2");
        try {
            List<String> args = new ArrayList<>(List.of("convert", "-O", "qcow2"));
            if (isSnapshot()) {
                args.add("-U"); // the parent may be running: its image stays open in QEMU
                args.add("-l");
                args.add("snapshot.name=" + snapshotTag(args()));
            }
            args.add(disk().toString());
            args.add(tmp.toString());
            driver.host().qemuImg(args);
            long size = Files.size(tmp);
            if (rootfs == null) {
                ImageLayout.writeUnified(meta, md, templates, (tar, prefix) -> {
                    try (InputStream in = Files.newInputStream(tmp)) {
                        tar.add(new ImageTar.Entry(VmImage.ROOTFS_IMG, ImageTar.Kind.FILE, 0644, 0, 0,
                                driver.clock().instant(), size, ""), in);
                    }
                }, tracker);
            } else {
                ImageLayout.writeUnified(meta, md, templates, null, null);
                try (OutputStream out = tracker == null ? rootfs : tracker.wrap(rootfs)) {
                    Files.copy(tmp, nonClosing(out));
                }
            }
            return md;
        } catch (IOException e) {
            throw HostIo.failure("Cannot export " + name(), e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    private static OutputStream nonClosing(OutputStream out) {
        return new java.io.FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                out.flush();
            }
        };
    }

    // ---- live update, state, metrics ---------------------------------------------------------------------------

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
        Machine m = requireMachine();
        String v = newExpanded.get("limits.memory");
        long target = memoryBytes(v);
        JsonNode summary = m.qmp.execute("query-memory-size-summary");
        long current = summary.path("base-memory").asLong() + summary.path("plugged-memory").asLong();
        long max = Math.max(memoryBytes() / MIB, hostMemory() / MIB / 128 * 128) * MIB;
        if (target > current) {
            if (target > max) {
                throw new InvalidArgumentException("Requested memory total of " + v
                        + " exceeds instance current maximum of " + (max / MIB) + "MiB, restart required");
            }
            String id = "incus_mem" + UUID.randomUUID().toString().substring(0, 8);
            // With virtio-fs shares the guest memory must stay shareable with virtiofsd, hotplugged memory too.
            if (VmDisks.plan(expandedDevices().map()).virtiofs()) {
                m.qmp.execute("object-add", Map.of("qom-type", "memory-backend-memfd", "id", id, "size",
                        target - current, "share", true));
            } else {
                m.qmp.execute("object-add", Map.of("qom-type", "memory-backend-ram", "id", id, "size",
                        target - current));
            }
            m.qmp.execute("device_add", Map.of("driver", "pc-dimm", "id", "dev-" + id, "memdev", id));
        }
        m.qmp.execute("balloon", Map.of("value", target));
    }

    @Override
    protected ApiInstanceState runningState(StatusCode status, List<NetworkInterface> hostInterfaces) {
        Machine m = requireMachine();
        int pid = m.process.pid();
        long rss = procStatusKb(pid, "VmRSS") * 1024;
        ApiInstanceState.Memory memory = new ApiInstanceState.Memory(rss, 0, memoryBytes(), 0, 0);
        ApiInstanceState.Cpu cpu = new ApiInstanceState.Cpu(processCpuNanos(pid), 0);
        GuestAgentClient agent = stateAgent(m);
        ApiInstanceState.OsInfo os = null;
        Map<String, ApiInstanceState.Network> network = null;
        if (agent != null && status == StatusCode.RUNNING) {
            try {
                os = GuestInfo.osInfo(agent);
                network = GuestInfo.network(agent);
            } catch (IncusException e) {
                LOG.log(System.Logger.Level.DEBUG, "Agent of {0} did not answer: {1}", name(), e.getMessage());
            }
        }
        Map<String, Device> devices = expandedDevices().map();
        network = network == null || network.isEmpty() ? VmNics.hostView(devices, k -> localConfig().get(k))
                : VmNics.guestView(network, devices, k -> localConfig().get(k));
        return new ApiInstanceState(status.text(), status.code(), Map.of(), memory, network, pid, -1, cpu,
                m.startedAt, os);
    }

    /**
     * The agent for the state and metrics: the connected one, else a connection attempt (bounded by
     * {@code Machine}'s probe, 2 s) at most every {@link #AGENT_RETRY}, so that the guest's view shows without an
     * exec first and a guest without an agent does not slow every call down.
     */
    private GuestAgentClient stateAgent(Machine m) {
        GuestAgentClient a = m.connectedAgent();
        if (a != null || System.nanoTime() - m.nextAgentProbe < 0) {
            return a;
        }
        try {
            return m.agent(Duration.ZERO);
        } catch (IncusException e) {
            m.nextAgentProbe = System.nanoTime() + AGENT_RETRY.toNanos();
            return null;
        }
    }

    @Override
    protected Map<String, ApiInstanceState.Disk> diskState() {
        Path d = disk();
        long usage = 0;
        try {
            // A qcow2 file grows by each cluster the guest writes (no preallocation): its length is the usage.
            // (The JDK has no st_blocks: "unix:blocks" is no attribute, so it cannot be asked for.)
            if (Files.exists(d)) {
                usage = Files.size(d);
            }
        } catch (IOException e) {
            usage = 0;
        }
        return Map.of("root", new ApiInstanceState.Disk(usage, 0));
    }

    /**
     * Incus's QEMU-side metrics: vCPU time per vCPU thread, memory from QEMU's RSS against the limit, the root
     * disk's block statistics, the NIC (its counters when the agent reports them), procs 0, boot and current time.
     */
    @Override
    protected void collectMetrics(MetricSet set, List<NetworkInterface> hostInterfaces) {
        Machine m = requireMachine();
        int pid = m.process.pid();
        int cpuIndex = 0;
        for (JsonNode c : m.qmp.execute("query-cpus-fast")) {
            long[] t = threadTimes(pid, c.path("thread-id").asInt());
            String cpu = Integer.toString(c.path("cpu-index").asInt(cpuIndex++));
            set.add(MetricType.CPU_SECONDS_TOTAL, Sample.of(Math.max(0, t[0] - t[2]) / 100.0, "cpu", cpu, "mode",
                    "user"));
            set.add(MetricType.CPU_SECONDS_TOTAL, Sample.of(t[1] / 100.0, "cpu", cpu, "mode", "system"));
        }
        set.add(MetricType.CPUS, Sample.of(cpus()));
        long total = memoryBytes();
        long rss = procStatusKb(pid, "VmRSS") * 1024;
        set.add(MetricType.MEMORY_MEM_TOTAL_BYTES, Sample.of(total));
        set.add(MetricType.MEMORY_MEM_FREE_BYTES, Sample.of(Math.max(0, total - rss)));
        set.add(MetricType.MEMORY_MEM_AVAILABLE_BYTES, Sample.of(Math.max(0, total - rss)));
        set.add(MetricType.MEMORY_RSS_BYTES, Sample.of(rss));
        for (JsonNode b : m.qmp.execute("query-blockstats")) {
            JsonNode s = b.path("stats");
            String dev = b.path("qdev").asText("root");
            java.util.regex.Matcher dm = java.util.regex.Pattern.compile("dev-incus_([^/]+)").matcher(dev);
            dev = dm.find() ? dm.group(1) : dev; // Incus labels a disk with its device's name ("root")
            set.add(MetricType.DISK_READ_BYTES_TOTAL, Sample.of(s.path("rd_bytes").asLong(), "device", dev));
            set.add(MetricType.DISK_READS_COMPLETED_TOTAL, Sample.of(s.path("rd_operations").asLong(), "device",
                    dev));
            set.add(MetricType.DISK_WRITTEN_BYTES_TOTAL, Sample.of(s.path("wr_bytes").asLong(), "device", dev));
            set.add(MetricType.DISK_WRITES_COMPLETED_TOTAL, Sample.of(s.path("wr_operations").asLong(), "device",
                    dev));
        }
        Map<String, Device> devices = expandedDevices().map();
        Map<String, ApiInstanceState.Network> nics = null;
        GuestAgentClient agent = stateAgent(m);
        if (agent != null) {
            try {
                nics = VmNics.guestView(GuestInfo.network(agent), devices, k -> localConfig().get(k));
            } catch (IncusException e) {
                LOG.log(System.Logger.Level.DEBUG, "Agent of {0} did not answer: {1}", name(), e.getMessage());
            }
        }
        if (nics == null) {
            nics = VmNics.hostView(devices, k -> localConfig().get(k));
        }
        nics.forEach((dev, nic) -> {
            ApiInstanceState.NetworkCounters n = nic.counters();
            set.add(MetricType.NETWORK_RECEIVE_BYTES_TOTAL, Sample.of(n.bytesReceived(), "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_PACKETS_TOTAL, Sample.of(n.packetsReceived(), "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_ERRS_TOTAL, Sample.of(n.errorsReceived(), "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_DROP_TOTAL, Sample.of(n.packetsDroppedInbound(), "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_BYTES_TOTAL, Sample.of(n.bytesSent(), "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_PACKETS_TOTAL, Sample.of(n.packetsSent(), "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_ERRS_TOTAL, Sample.of(n.errorsSent(), "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_DROP_TOTAL, Sample.of(n.packetsDroppedOutbound(), "device", dev));
        });
        set.add(MetricType.PROCS_TOTAL, Sample.of(0));
        set.add(MetricType.BOOT_TIME_SECONDS, Sample.of(m.startedAt.toEpochMilli() / 1000.0));
        set.add(MetricType.TIME_SECONDS, Sample.of(System.currentTimeMillis() / 1000.0));
    }

    /** utime, stime and guest_time (ticks) of one thread of {@code pid}. */
    private static long[] threadTimes(int pid, int tid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "task", Integer.toString(tid),
                    "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return new long[] {Long.parseLong(f[11]), Long.parseLong(f[12]), Long.parseLong(f[40])};
        } catch (IOException | RuntimeException e) {
            return new long[3];
        }
    }

    /** The process's user+system CPU time in nanoseconds (USER_HZ is 100 on Linux). */
    private static long processCpuNanos(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10_000_000L;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    private static long procStatusKb(int pid, String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Integer.toString(pid), "status"))) {
                if (line.startsWith(key + ":")) {
                    return Long.parseLong(line.replaceAll("\\D", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }

    private static long hostMemory() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return 0;
    }

    /** When QEMU started: boot time plus its start tick. */
    private static Instant startTime(QemuProcess p) {
        long ticks = p.startTicks();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/stat"))) {
                if (line.startsWith("btime ") && ticks >= 0) {
                    return Instant.ofEpochMilli(Long.parseLong(line.substring(6).trim()) * 1000 + ticks * 10);
                }
            }
        } catch (IOException | RuntimeException e) {
            return Instant.now();
        }
        return Instant.now();
    }

    // ---- exec, files, console --------------------------------------------------------------------------------

    @Override
    protected Cmd doExec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        Machine m = requireMachine();
        Map<String, String> env = execEnvironment(request);
        if (request.interactive()) {
            // The agent has no terminal: a command on a pty goes over SSH.
            GuestSsh ssh = m.ssh(() -> new GuestSsh(m.run.dir(), path(), () -> m.agent(driver.settings().agentWait()),
                    m.startedAt, driver.settings().agentWait(), driver.threadFactory("ssh")));
            return SshExec.start(ssh.client(), request, env, execCwd(request, env), stdin, stdout, driver::execute,
                    m::lostCommand);
        }
        return AgentCmd.start(() -> userAgent(m), request, env, execCwd(request, env),
                stdin, stdout, stderr, driver::execute, m::lostCommand);
    }

    @Override
    protected Connection doFileSftpConn() {
        Machine m = requireMachine();
        return SftpServer.open(new AgentFiles(() -> userAgent(m)), driver::execute);
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
        Machine m = requireMachine();
        saveConsole(m);
        return SerialConsole.attach(m, RINGBUF_SIZE, driver.threadFactory("console"));
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
                m = machine();
            } catch (IncusException e) {
                m = Optional.empty();
            }
            m.ifPresent(this::saveConsole);
            Path log = consoleBufferLogPath();
            try {
                return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
            } catch (IOException e) {
                throw HostIo.failure("Cannot read the console log of " + name(), e);
            }
        });
    }

    /** Drains the serial ring buffer into {@code console.log} (nothing while a console is attached). */
    private void saveConsole(Machine m) {
        StringBuilder sb = new StringBuilder();
        try {
            while (true) {
                JsonNode r = m.qmp.execute("ringbuf-read", Map.of("device", "console", "size", 65536,
                        "format", "utf8"));
                String chunk = r.asText("");
                if (chunk.isEmpty()) {
                    break;
                }
                sb.append(chunk);
            }
        } catch (QmpException e) {
            LOG.log(System.Logger.Level.DEBUG, "ringbuf-read of {0}: {1}", name(), e.getMessage());
        }
        if (sb.length() == 0) {
            return;
        }
        try {
            PrivateFiles.createDirectories(logPath());
            PrivateFiles.append(consoleBufferLogPath(), sb.toString().getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw HostIo.failure("Cannot save the console log of " + name(), e);
        }
    }

    @Override
    public void consoleScreenshot(OutputStream png) {
        Objects.requireNonNull(png, "png");
        Machine m = runningMachine();
        Path tmp = m.run.dir().resolve("screenshot-" + UUID.randomUUID() + ".png");
        try {
            PrivateFiles.write(tmp, new byte[0]); // QEMU truncates it, keeping the mode (its own umask is 027)
            m.qmp.execute("screendump", Map.of("filename", tmp.toString(), "format", "png"));
            Files.copy(tmp, png);
        } catch (IncusException e) {
            throw new IncusException("Failed taking screenshot: " + e.getMessage(), e);
        } catch (IOException e) {
            throw HostIo.failure("Failed taking screenshot", e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /**
     * {@code dump-guest-memory} (detached, followed with {@code query-dump}) into a file of the run directory,
     * then copied to {@code out}. Formats as QEMU names them: {@code elf}, {@code kdump-zlib}, {@code kdump-lzo},
     * {@code kdump-snappy}, {@code win-dmp}.
     */
    @Override
    public void dumpGuestMemory(OutputStream out, String format) {
        Objects.requireNonNull(out, "out");
        if (format == null || !format.matches("elf|kdump-zlib|kdump-lzo|kdump-snappy|win-dmp")) {
            throw new InvalidArgumentException("Unsupported dump format " + ErrorTexts.quote(String.valueOf(format))
                    + ": expected elf, kdump-zlib, kdump-lzo, kdump-snappy or win-dmp");
        }
        Machine m = runningMachine();
        Path tmp = m.run.dir().resolve("memory-" + UUID.randomUUID() + ".dump");
        try {
            m.qmp.execute("dump-guest-memory", Map.of("paging", false, "protocol", "file:" + tmp, "format", format,
                    "detach", true));
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
            while (true) {
                String status = m.qmp.execute("query-dump").path("status").asText();
                if (status.equals("completed")) {
                    break;
                }
                if (status.equals("failed") || System.nanoTime() > deadline) {
                    throw new IncusException("Guest memory dump failed");
                }
                Thread.sleep(50);
            }
            Files.copy(tmp, out);
        } catch (QmpException e) {
            throw new IncusException("Guest memory dump failed: " + e.getMessage(), e);
        } catch (IOException e) {
            throw HostIo.failure("Guest memory dump failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Guest memory dump interrupted", e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    private Machine runningMachine() {
        StatusCode s = statusCode();
        if (!s.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, s);
        }
        return requireMachine();
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
        QemuMigration.send(this, args, machine().map(m -> m.qmp).orElse(null));
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
