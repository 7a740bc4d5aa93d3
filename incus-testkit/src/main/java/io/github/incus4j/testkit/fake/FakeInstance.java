package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.ConsoleTypes;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.PowerState;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.TemplateTrigger;
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
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.internal.config.ConfigKeys;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.sftp.FileBackends;
import io.github.incus4j.api.internal.image.ImageTemplates;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.config.ConfigNumbers;
import io.github.incus4j.api.internal.sftp.SftpServer;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.NetworkInterface;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
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
 */
@API(status = EXPERIMENTAL)
public abstract sealed class FakeInstance extends AbstractInstance permits FakeContainer, FakeVm {
    private static final System.Logger LOG = System.getLogger(FakeInstance.class.getName());
    /** The simulated host's memory, what {@code limits.memory} percentages are of. */
    static final long HOST_MEMORY = 8L << 30;
    /** The memory an instance without {@code limits.memory} reports as its total. */
    static final long DEFAULT_MEMORY = 1L << 30;
    /** The simulated host's CPUs, what an instance without {@code limits.cpu} sees. */
    static final int HOST_CPUS = 4;
    private static final long BASE_MEMORY_USAGE = 12L << 20;
    /** How long a clean shutdown lets commands that handle SIGTERM run before killing them. */
    private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(1);
    private static final Object STATE_ON_DISK = new Object();
    private static final VarHandle ROOT;

    static {
        try {
            ROOT = MethodHandles.lookup().findVarHandle(FakeInstance.class, "root", Dir.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Metadata and template files of the image an instance was made from. */
    record ImageFiles(ImageMetadata metadata, Map<String, byte[]> templates) {
        static final ImageFiles NONE = new ImageFiles(null, Map.of());
    }

    /** A snapshot's tree and saved state; {@code dirty} until written to disk. */
    static final class SnapState {
        final Dir root;
        final SavedState state;
        volatile boolean dirty;

        SnapState(Dir root, SavedState state, boolean dirty) {
            this.root = root;
            this.state = state;
            this.dirty = dirty;
        }
    }

    private final FakeInstances driver;
    private volatile Dir root; // null: still on disk (read back lazily)
    private volatile Dir persistedRoot;
    private volatile boolean deleted;
    private volatile StatusCode status = StatusCode.STOPPED;
    private volatile Guest guest;
    private volatile Object savedState = STATE_ON_DISK; // SavedState, null (none) or STATE_ON_DISK
    private volatile ConcurrentHashMap<String, SnapState> snaps;
    private volatile FakeConsole console;
    private volatile ImageFiles imageFiles;
    private volatile boolean ignoreShutdown;
    /** Servers "inside" the instance by TCP port ({@link #listen}); proxy devices forward to them. */
    private final ConcurrentHashMap<Integer, FakeService> services = new ConcurrentHashMap<>();
    /** Running proxy devices by device name. */
    private final ConcurrentHashMap<String, FakeProxy> proxies = new ConcurrentHashMap<>();

    FakeInstance(FakeInstances owner, InstanceRecord record) {
        super(owner, record);
        this.driver = owner;
    }

    FakeInstance(FakeInstance parent, InstanceArgs snapshot) {
        super(parent, snapshot);
        this.driver = parent.driver;
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
        Guest g;
        synchronized (this) {
            g = guest;
            if (g == null) {
                throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, status);
            }
            guest = null;
            status = leaveInError ? StatusCode.ERROR : StatusCode.STOPPED;
            notifyAll();
        }
        if (type() == InstanceType.VM) {
            g.loseAll(new InstanceStateException(ErrorTexts.COMMAND_LOST_VM_DIED,
                    leaveInError ? StatusCode.ERROR : StatusCode.STOPPED));
        } else {
            g.killAll(Cmd.exitStatusForSignal(9));
        }
        g.setFrozen(false);
        stopDevices();
        setTree(r -> Tmpfs.unmounted(r, clockMillis()));
        FakeConsole c = console();
        c.print("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\r\n");
        c.detachAll();
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
        this.ignoreShutdown = ignore;
    }

    /** The number of commands running in the instance (0 when stopped). */
    public int runningCommands() {
        Guest g = guest;
        return g == null ? 0 : g.tasks.size();
    }

    // =============================================================================================================
    // Lifecycle
    // =============================================================================================================

    @Override
    protected StatusCode driverStatus() {
        return status;
    }

    @Override
    protected int driverInitPid() {
        Guest g = guest;
        return g == null ? -1 : g.pid;
    }

    @Override
    protected void doStart(boolean stateful) {
        driver.faults().hit("start");
        root();
        SavedState restored = stateful ? takeSavedState() : SavedState.ZERO;
        applyTemplatesAtStart();
        // A boot mounts an empty tmpfs; only a restored state brings its content back.
        Dir shm = restored.shm();
        setTree(r -> Tmpfs.mount(r, shm != null ? shm : Tmpfs.empty(clockMillis()), clockMillis()));
        startDevices();
        Guest g = new Guest(driver.nextPid(), owner().clock().instant(), restored);
        g.memoryBytes = configuredMemory();
        g.cpus = cpuCount();
        synchronized (this) {
            guest = g;
            status = StatusCode.RUNNING;
            notifyAll();
        }
        console().print((stateful ? "[    0.000000] Restoring saved state\r\n"
                : "[    0.000000] Linux version " + kernelRelease() + " (incus4j fake)\r\n")
                + "[    0.000001] " + (type() == InstanceType.VM ? "Virtual machine" : "Container") + " " + name()
                + " started, init pid " + g.pid + "\r\n\r\nWelcome to Fake Linux (incus4j)\r\n");
        console().booted();
        onStarted();
    }

    /** What a type adds once running (a container records its id map). */
    void onStarted() {
    }

    @Override
    protected void doStop(boolean stateful) {
        driver.faults().hit("stop");
        Guest g = guest;
        if (stateful && g != null) {
            savedState = saveState(g);
        }
        powerOff(stateful ? "Checkpointed and stopped\r\n" : "reboot: Power down\r\n");
    }

    @Override
    protected boolean doShutdown(Duration timeout) {
        driver.faults().hit("shutdown");
        if (ignoreShutdown) {
            Duration bound = timeout.compareTo(driver.lockWait()) < 0 ? timeout : driver.lockWait();
            long deadline = System.nanoTime() + bound.toNanos();
            synchronized (this) {
                long left = bound.toNanos();
                while (status.isRunning() && left > 0) {
                    try {
                        wait(left / 1_000_000, (int) (left % 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IncusException("Interrupted while waiting for " + name() + " to shut down", e);
                    }
                    left = deadline - System.nanoTime();
                }
                return status == StatusCode.STOPPED;
            }
        }
        console().print("\r\nThe system is going down NOW!\r\nSent SIGTERM to all processes\r\n");
        Guest g = guest;
        if (g != null) {
            for (Task t : g.tasks) {
                t.signal(15);
            }
            // As busybox's init: commands that handle SIGTERM get a moment to exit before SIGKILL.
            Duration grace = timeout.compareTo(SHUTDOWN_GRACE) < 0 ? timeout : SHUTDOWN_GRACE;
            long deadline = System.nanoTime() + grace.toNanos();
            for (Task t : g.tasks) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                try {
                    t.waitFor(Duration.ofNanos(left));
                } catch (IncusException stillRunning) {
                    break;
                }
            }
        }
        powerOff("Sent SIGKILL to all processes\r\nreboot: Power down\r\n");
        return true;
    }

    @Override
    public void restart(Duration timeout) {
        if (!isSnapshot()) {
            driver.faults().hit("restart");
        }
        super.restart(timeout);
    }

    /** Ends the runtime: commands die (137), consoles detach; {@code message} (if any) goes to the console. */
    private void powerOff(String message) {
        Guest g;
        synchronized (this) {
            g = guest;
            guest = null;
            status = StatusCode.STOPPED;
            notifyAll();
        }
        stopDevices();
        if (g != null) {
            g.killAll(Cmd.exitStatusForSignal(9));
            g.setFrozen(false);
            setTree(r -> Tmpfs.unmounted(r, clockMillis())); // the tmpfs goes with the memory
            FakeConsole c = message != null ? console() : console;
            if (c != null) {
                if (message != null) {
                    c.print(message);
                }
                c.detachAll();
            }
        }
    }

    @Override
    protected void doFreeze() {
        driver.faults().hit("freeze");
        synchronized (this) {
            Guest g = guest;
            if (g != null) {
                g.setFrozen(true);
                status = StatusCode.FROZEN;
            }
        }
    }

    @Override
    protected void doUnfreeze() {
        driver.faults().hit("unfreeze");
        synchronized (this) {
            Guest g = guest;
            if (g != null) {
                g.setFrozen(false);
                status = StatusCode.RUNNING;
            }
        }
    }

    Guest guest() {
        return guest;
    }

    private SavedState takeSavedState() {
        Object s = savedState;
        if (s == STATE_ON_DISK) {
            s = readState(statePath());
        }
        if (!(s instanceof SavedState st)) {
            throw new IncusException("Failed to restore the saved state of " + ErrorTexts.quote(name())
                    + ": there is none");
        }
        savedState = null;
        return st;
    }

    // =============================================================================================================
    // Exec and console
    // =============================================================================================================

    @Override
    protected Cmd doExec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        driver.faults().hit("exec");
        Guest g = guest;
        if (g == null) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, status);
        }
        Map<String, String> env = new TreeMap<>();
        expandedConfig().forEach((k, v) -> {
            if (k.startsWith("environment.")) {
                env.put(k.substring("environment.".length()), v);
            }
        });
        env.putAll(request.environment());
        env.putIfAbsent("PATH", Launcher.DEFAULT_PATH);
        if (request.user() == 0) {
            env.putIfAbsent("HOME", "/root");
            env.putIfAbsent("USER", "root");
        }
        env.putIfAbsent("LANG", "C.UTF-8");
        String cwd = request.cwd().isEmpty() ? env.getOrDefault("HOME", "/") : request.cwd();
        MemSftp fs = new MemSftp(fsView(), cwd, request.user(), request.group());
        Launcher.Program prog = Launcher.resolve(driver.commands(), fs, request.command(), env.get("PATH"));
        Task task = new Task(g, driver.nextPid(), request.command().get(0),
                new FakeProcess.WindowSize(request.width(), request.height()));
        OutputStream out = task.new Out(stdout);
        OutputStream err = request.interactive() ? out : task.new Out(stderr);
        // A terminal echoes what is typed (here, as the command reads it).
        InputStream in = request.interactive() ? new EchoingInput(task.new In(stdin), out) : task.new In(stdin);
        Proc p = new Proc(task, this, prog.argv(), env, cwd, request.user(), request.group(), task.pid(),
                request.interactive(), in, out, err);
        g.execs.incrementAndGet();
        g.tasks.add(task);
        if (guest != g) {
            task.kill(Cmd.exitStatusForSignal(9)); // stopped meanwhile
        }
        try {
            driver.execute(() -> task.run(p, prog.handler()));
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            task.kill(Cmd.exitStatusForSignal(9));
            throw new IncusException("The fake driver of " + ErrorTexts.quote(name()) + " was closed", closed);
        }
        return task;
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
        FakeConsole c = console;
        if (c == null) {
            synchronized (this) {
                c = console;
                if (c == null) {
                    c = new FakeConsole(this::name, this::runOnConsole);
                    console = c;
                }
            }
        }
        return c;
    }

    /** The console's shell running a typed line: {@code sh -c line}, its output on the console. */
    private void runOnConsole(String line, OutputStream terminal, Runnable done) {
        Cmd c;
        try {
            c = doExec(ExecRequest.of("sh", "-c", line), null, terminal, terminal);
        } catch (IncusException stopped) {
            return; // the instance stopped meanwhile: no shell to prompt
        }
        ((Task) c).exited().thenRun(done);
    }

    /** The console log text; {@code clear} empties it. */
    String consoleText(long max, boolean clear) {
        FakeConsole c = console;
        return c == null ? "" : c.read(max, clear);
    }

    /** Takes up to {@code max} bytes of the console log (all when {@code max <= 0}): a read that consumes. */
    String consoleTake(long max) {
        FakeConsole c = console;
        return c == null ? "" : c.take(max);
    }

    String kernelRelease() {
        return type() == InstanceType.VM ? Builtins.VM_KERNEL : System.getProperty("os.version", "6.8.0");
    }

    // =============================================================================================================
    // Files
    // =============================================================================================================

    /** The tree, read back from disk on first use after a reopen. */
    Dir root() {
        Dir r = root;
        if (r == null) {
            synchronized (this) {
                r = root;
                if (r == null) {
                    r = loadTree(path());
                    persistedRoot = r;
                    root = r;
                }
            }
        }
        return r;
    }

    private Dir loadTree(Path dir) {
        try {
            Dir loaded = FsTar.load(dir.resolve(FsTar.ROOTFS_TAR), MemFs.BUSYBOX);
            if (loaded != null) {
                return (Dir) MemFs.share(loaded, MemFs.MINIMAL);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "Cannot read the files of " + name() + " from " + dir, e);
        }
        LOG.log(System.Logger.Level.WARNING, "No saved files for {0} in {1}: it gets an empty root filesystem",
                name(), dir);
        return MemFs.MINIMAL;
    }

    /** The file-system view of this handle: the instance's tree, or (read-only) a snapshot's. */
    MemSftp.FsRoot fsView() {
        if (isSnapshot()) {
            FakeInstance parent = parentInstance();
            String snap = NameRules.snapshotPart(name());
            return new MemSftp.FsRoot() {
                @Override
                public Dir get() {
                    return parent.snapState(snap).root;
                }

                @Override
                public boolean compareAndSet(Dir expect, Dir update) {
                    return false;
                }

                @Override
                public void checkWritable() {
                    throw new InvalidArgumentException("Snapshots cannot be modified");
                }

                @Override
                public long now() {
                    return clockMillis();
                }
            };
        }
        return new MemSftp.FsRoot() {
            @Override
            public Dir get() {
                return root();
            }

            @Override
            public boolean compareAndSet(Dir expect, Dir update) {
                return ROOT.compareAndSet(FakeInstance.this, expect, update);
            }

            @Override
            public void checkWritable() {
                // The instance's own tree is writable, running or stopped.
            }

            @Override
            public long now() {
                return clockMillis();
            }
        };
    }

    /**
     * A raw SFTP connection: one end of an in-memory pipe pair whose other end {@link SftpServer} serves, over the
     * instance's tree, on a driver thread; {@link #fileSftp()} is the SDK's SFTP client over it, as in every driver. The session (and its thread) ends when the caller closes
     * the connection, or with the driver.
     */
    @Override
    protected Connection doFileSftpConn() {
        return SftpServer.open(FileBackends.of(files("/", 0, 0)), driver::execute);
    }

    // =============================================================================================================
    // Snapshots, restore, delete, rebuild, rename
    // =============================================================================================================

    @Override
    protected void doSnapshot(InstanceArgs snapshot, boolean stateful) {
        driver.faults().hit("snapshot");
        Guest g = guest;
        SavedState state = stateful && g != null ? saveState(g) : null;
        // The snapshot's disk holds no tmpfs content: that is memory, kept only in its state.
        snaps().put(NameRules.snapshotPart(snapshot.name()),
                new SnapState(Tmpfs.unmounted(root(), clockMillis()), state, true));
    }

    @Override
    protected void doRestore(InstanceArgs snapshot) {
        driver.faults().hit("restore");
        SnapState s = snapState(NameRules.snapshotPart(snapshot.name()));
        root = s.root;
        savedState = s.state;
    }

    @Override
    protected void doDeleteSnapshot(InstanceArgs snapshot) {
        ConcurrentHashMap<String, SnapState> m = snaps;
        if (m != null) {
            m.remove(NameRules.snapshotPart(snapshot.name()));
        }
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
        deleted = true;
        root = MemFs.MINIMAL;
        snaps = null;
        savedState = null;
        imageFiles = ImageFiles.NONE;
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
            parent.snapState(old);
            super.rename(newName, applyTemplateTrigger);
            ConcurrentHashMap<String, SnapState> m = parent.snaps();
            SnapState s = m.remove(old);
            if (s != null) {
                s.dirty = true;
                m.put(newName, s);
            }
        }
    }

    @Override
    public void update(InstanceArgs args, boolean userRequested) {
        if (!isSnapshot()) {
            driver.faults().hit("update");
        }
        super.update(args, userRequested);
    }

    private ConcurrentHashMap<String, SnapState> snaps() {
        ConcurrentHashMap<String, SnapState> m = snaps;
        if (m == null) {
            synchronized (this) {
                m = snaps;
                if (m == null) {
                    m = new ConcurrentHashMap<>(4);
                    snaps = m;
                }
            }
        }
        return m;
    }

    /** A snapshot's tree and state, read back from its directory on first use after a reopen. */
    synchronized SnapState snapState(String snap) {
        ConcurrentHashMap<String, SnapState> m = snaps();
        SnapState s = m.get(snap);
        if (s == null) {
            Path dir = owner().paths().path(type(), NameRules.snapshotFullName(storageName(), snap));
            Object state = readState(dir.resolve("state"));
            s = new SnapState(loadTree(dir), state instanceof SavedState st ? st : null, false);
            m.put(snap, s);
        }
        return s;
    }

    @Override
    protected void doRebuild(Image image, Operation op) {
        Dir tree;
        ImageFiles files;
        if (image == null) {
            tree = FakeInstances.withHostname(MemFs.MINIMAL, name(), clockMillis());
            files = ImageFiles.NONE;
        } else {
            if (image.source() == null) {
                throw new InvalidArgumentException("Image " + ErrorTexts.quote(image.fingerprint())
                        + " has no tarball to unpack");
            }
            FakeInstances.Unpacked u = driver.unpack(image.source());
            tree = u.tree();
            files = u.files();
        }
        root = tree;
        savedState = null;
        writeImageFiles(files);
    }

    // =============================================================================================================
    // Image files and templates
    // =============================================================================================================

    /** Sets up a new instance's storage (called while it is created, before its record is first written). */
    void initStorage(Dir tree, ImageFiles files, Map<String, String> config, int architecture) {
        root = tree;
        savedState = null;
        if (files.metadata() != null) {
            writeImageFiles(files);
        } else {
            imageFiles = ImageFiles.NONE;
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
        ImageFiles f = imageFiles;
        if (f == null) {
            f = readImageFiles();
            imageFiles = f;
        }
        return f;
    }

    private ImageFiles readImageFiles() {
        Path md = path().resolve("metadata.yaml");
        if (!Files.isRegularFile(md)) {
            return ImageFiles.NONE;
        }
        try {
            ImageMetadata metadata = RestJson.fromYaml(Files.readAllBytes(md), ImageMetadata.class);
            Map<String, byte[]> templates = new TreeMap<>();
            Path dir = templatesPath();
            if (Files.isDirectory(dir)) {
                try (Stream<Path> list = Files.list(dir)) {
                    for (Path p : (Iterable<Path>) list::iterator) {
                        if (Files.isRegularFile(p)) {
                            templates.put(p.getFileName().toString(), Files.readAllBytes(p));
                        }
                    }
                }
            }
            return new ImageFiles(metadata, templates);
        } catch (IOException e) {
            throw new IncusException("Cannot read the image files of " + name() + " in " + path(), e);
        }
    }

    void writeImageFiles(ImageFiles files) {
        try {
            Path dir = templatesPath();
            AbstractInstances.deleteTree(dir);
            Files.deleteIfExists(path().resolve("metadata.yaml"));
            if (files.metadata() != null) {
                Files.createDirectories(dir);
                Files.write(path().resolve("metadata.yaml"), RestJson.toYaml(files.metadata()));
                for (Map.Entry<String, byte[]> e : files.templates().entrySet()) {
                    Files.write(dir.resolve(e.getKey()), e.getValue());
                }
            }
        } catch (IOException e) {
            throw new IncusException("Cannot write the image files of " + name() + " in " + path(), e);
        }
        imageFiles = files;
    }

    /** Applies a pending trigger's templates ({@code volatile.apply_template}), then the {@code start} ones. */
    private void applyTemplatesAtStart() {
        String pending = localConfig().get("volatile.apply_template");
        ImageFiles f = imageFiles();
        if (f.metadata() != null && !f.metadata().templates().isEmpty()) {
            MemSftp fs = new MemSftp(fsView(), "/", 0, 0);
            ImageTemplates.Target target = new ImageTemplates.Target() {
                @Override
                public boolean exists(String absPath) {
                    return fs.node(absPath, false) != null;
                }

                @Override
                public void write(String absPath, byte[] content, int mode, long uid, long gid) {
                    fs.writeFile(absPath, content, mode, (int) uid, (int) gid);
                }
            };
            ImageTemplates.Context ctx = templateContext();
            if (pending != null && !pending.isEmpty()) {
                applyTemplates(f, TemplateTrigger.of(pending), ctx, target);
            }
            applyTemplates(f, TemplateTrigger.START, ctx, target);
        }
        if (pending != null) {
            volatileSetInternal(Map.of("volatile.apply_template", ""), false);
        }
    }

    private static void applyTemplates(ImageFiles f, TemplateTrigger trigger, ImageTemplates.Context ctx,
            ImageTemplates.Target target) {
        try {
            applyChecked(f, trigger, ctx, target);
        } catch (IOException e) {
            throw new IncusException("Failed to apply the " + trigger + " templates", e);
        }
    }

    private static List<String> applyChecked(ImageFiles f, TemplateTrigger trigger, ImageTemplates.Context ctx,
            ImageTemplates.Target target) throws IOException {
        return ImageTemplates.apply(f.metadata(), f.templates(), trigger, ctx, target);
    }

    private ImageTemplates.Context templateContext() {
        Map<String, Map<String, String>> devices = new TreeMap<>();
        expandedDevices().map().forEach((n, d) -> devices.put(n, d.config()));
        return new ImageTemplates.Context(name(), type().apiName(), Architectures.name(architecture()),
                isEphemeral(), isPrivileged(), expandedConfig(), devices);
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
        root = tree;
        savedState = null;
        ConcurrentHashMap<String, SnapState> m = snaps();
        m.clear();
        snapshotTrees.forEach((n, t) -> m.put(n, new SnapState(t, null, true)));
        writeImageFiles(files);
    }

    /** Ends a live migration on the target: the instance runs on with the state it brought. */
    void startMigrated(SavedState state) {
        Dir shm = state.shm();
        setTree(r -> Tmpfs.mount(r, shm != null ? shm : Tmpfs.empty(clockMillis()), clockMillis()));
        Guest g = new Guest(driver.nextPid(), owner().clock().instant(), state);
        g.memoryBytes = configuredMemory();
        g.cpus = cpuCount();
        synchronized (this) {
            guest = g;
            status = StatusCode.RUNNING;
            notifyAll();
        }
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
        Guest g = guest;
        return g == null ? null : saveState(g);
    }

    /** What the guest's memory holds: its counters and its tmpfs. */
    private SavedState saveState(Guest g) {
        return g.save(clockMillis()).withShm(Tmpfs.take(root(), clockMillis()));
    }

    /** Replaces the tree by {@code change} of it, atomically against concurrent file writes. */
    private void setTree(java.util.function.UnaryOperator<Dir> change) {
        root();
        while (true) {
            Dir before = root;
            if (ROOT.compareAndSet(this, before, change.apply(before))) {
                return;
            }
        }
    }

    // =============================================================================================================
    // Live update, state, metrics
    // =============================================================================================================

    @Override
    protected void applyLiveUpdate(Map<String, String> oldExpanded, Map<String, String> newExpanded,
            java.util.Set<String> changedKeys) {
        Guest g = guest;
        if (g == null) {
            return;
        }
        for (String k : changedKeys) {
            switch (k) {
                case "limits.memory":
                    g.cgroupWrites.remove("memory.max");
                    g.memoryBytes = configuredMemory(newExpanded); // hotplug or balloon
                    break;
                case "limits.processes":
                    g.cgroupWrites.remove("pids.max");
                    break;
                case "limits.cpu.allowance":
                    g.cgroupWrites.remove("cpu.max");
                    g.cgroupWrites.remove("cpu.weight");
                    break;
                case "limits.cpu":
                    g.cgroupWrites.remove("cpuset.cpus");
                    g.cpus = cpuCount(newExpanded); // CPU hotplug (VMs), the cpuset (containers)
                    break;
                default:
                    break;
            }
        }
    }

    long clockMillis() {
        return owner().clock().millis();
    }

    /** {@code limits.memory} in bytes (percentages of {@link #HOST_MEMORY}), 0 when unset. */
    long memoryLimitOrZero() {
        return memoryLimitOrZero(expandedConfig());
    }

    private static long memoryLimitOrZero(Map<String, String> config) {
        String v = config.get("limits.memory");
        if (v == null || v.isEmpty()) {
            return 0;
        }
        try {
            if (v.endsWith("%")) {
                return (long) (HOST_MEMORY * Double.parseDouble(v.substring(0, v.length() - 1)) / 100);
            }
            return ConfigValues.parseByteSize(v);
        } catch (RuntimeException e) {
            return 0;
        }
    }

    /** The memory the guest has while running (what its last applied update gave it), else the configured one. */
    long memoryTotal() {
        Guest g = guest;
        return g != null && g.memoryBytes > 0 ? g.memoryBytes : configuredMemory();
    }

    private long configuredMemory() {
        return configuredMemory(expandedConfig());
    }

    private static long configuredMemory(Map<String, String> config) {
        long limit = memoryLimitOrZero(config);
        return limit > 0 ? limit : DEFAULT_MEMORY;
    }

    /** Page cache: a quarter of the files, at most 64 MiB. */
    long pageCache() {
        return Math.min(root().bytes(), 64L << 20) / 4;
    }

    long memoryUsage(Guest g, long now) {
        long usage = BASE_MEMORY_USAGE + g.tasks.size() * (2L << 20) + pageCache()
                + Math.min(g.uptimeMillis(now) / 1000, 3600) * 4096;
        long capped = Math.min(usage, memoryTotal() * 9 / 10);
        g.memoryPeak.accumulateAndGet(capped, Math::max);
        return capped;
    }

    /** {@code limits.cpu}: a count, or a set such as {@code 0-3,6}; else the simulated host's CPUs. */
    int cpuCount() {
        return cpuCount(expandedConfig());
    }

    private static int cpuCount(Map<String, String> config) {
        String v = config.get("limits.cpu");
        if (v == null || v.isEmpty() || v.contains("=")) {
            return HOST_CPUS;
        }
        try {
            if (v.matches("\\d+")) {
                return ConfigNumbers.parseIntClamped("limits.cpu", v, 1, ConfigKeys.MAX_CPUS);
            }
            return ConfigNumbers.cpuSetSize(v);
        } catch (InvalidArgumentException e) {
            return HOST_CPUS;
        }
    }

    // =============================================================================================================
    // Devices
    // =============================================================================================================

    /**
     * Registers {@code service} as the server listening on TCP {@code port} inside this instance, as a service
     * enabled in it would (it stays across restarts); a {@code proxy} device whose {@code connect} names the port
     * forwards its host connections to it while the instance runs. Closing the handle unregisters it.
     *
     * @throws InvalidArgumentException for a port outside 1-65535
     */
    public AutoCloseable listen(int port, FakeService service) {
        if (port < 1 || port > 65535) {
            throw new InvalidArgumentException("Invalid port " + port + ": must be 1-65535");
        }
        java.util.Objects.requireNonNull(service, "service");
        services.put(port, service);
        return () -> services.remove(port, service);
    }

    /**
     * The host port a running proxy device listens on (the one the system chose when {@code listen} names port 0).
     *
     * @throws io.github.incus4j.api.NotFoundException when no proxy device of that name runs
     */
    public int proxyPort(String device) {
        FakeProxy p = proxies.get(device);
        if (p == null) {
            throw new io.github.incus4j.api.NotFoundException("No running proxy device " + ErrorTexts.quote(device));
        }
        return p.listenPort();
    }

    /** Incus's {@code deviceStart} for every device, in name order; a failure stops those already started. */
    private void startDevices() {
        try {
            for (Map.Entry<String, Device> e : devicesToStart()) {
                startDevice(e.getKey(), e.getValue());
            }
        } catch (RuntimeException e) {
            stopDevices();
            throw e;
        }
    }

    private void startDevice(String name, Device d) {
        switch (d.type()) {
            case "nic":
                // The host side of the instance's interface, as a veth pair or a tap device gets it.
                String prefix = type() == InstanceType.VM ? "tap" : "veth";
                String host = d.get("host_name") != null && !d.get("host_name").isEmpty() ? d.get("host_name")
                        : prefix + String.format("%08x", new SplittableRandom().nextInt());
                deviceVolatileSet(name, Map.of("host_name", host), false);
                break;
            case "disk":
                if (!"/".equals(d.get("path"))) {
                    sharedFolder(name, d);
                }
                break;
            case "proxy":
                // Nothing answers inside a stopped instance, whatever a late connection finds.
                FakeProxy p = FakeProxy.open(name(), name, d, port -> guest == null ? null : services.get(port));
                FakeProxy old = proxies.put(name, p);
                if (old != null) {
                    old.close();
                }
                break;
            default:
                break;
        }
    }

    private void stopDevice(String name, Device d) {
        if ("proxy".equals(d.type())) {
            FakeProxy p = proxies.remove(name);
            if (p != null) {
                p.close();
            }
        } else if ("nic".equals(d.type())) {
            deviceVolatileSet(name, Map.of("host_name", ""), false);
        }
    }

    private void stopDevices() {
        proxies.values().forEach(FakeProxy::close);
        proxies.clear();
        Map<String, String> clear = new HashMap<>();
        localConfig().keySet().stream().filter(k -> k.startsWith("volatile.") && k.endsWith(".host_name"))
                .forEach(k -> clear.put(k, ""));
        if (!clear.isEmpty() && !isSnapshot()) {
            volatileSetInternal(clear, false);
        }
    }

    /**
     * A disk device's host directory, checked as Incus checks it at start ({@code Missing source path}); an
     * optional disk whose source is missing is skipped ({@code null}).
     */
    private HostDirSftp sharedFolder(String name, Device d) {
        String source = d.get("source");
        if (d.get("pool") != null && !d.get("pool").isEmpty() || source == null || !source.startsWith("/")) {
            throw new NotSupportedException("The \"fake\" driver shares host directories only, not "
                    + ErrorTexts.quote(String.valueOf(source)) + " (device " + ErrorTexts.quote(name) + ")");
        }
        Path src = Path.of(source);
        if (!Files.exists(src)) {
            String req = d.get("required");
            boolean required = !((req != null && !req.isEmpty() && ConfigValues.isFalseOrEmpty(req))
                    || ConfigValues.isTrue(d.get("optional")));
            if (!required) {
                return null;
            }
            throw new InvalidArgumentException("Missing source path " + ErrorTexts.quote(source) + " for disk "
                    + ErrorTexts.quote(name));
        }
        if (!Files.isDirectory(src)) {
            throw new NotSupportedException("The \"fake\" driver shares host directories only, not the file "
                    + ErrorTexts.quote(source) + " (device " + ErrorTexts.quote(name) + ")");
        }
        try {
            return new HostDirSftp(src, ConfigValues.isTrue(d.get("readonly")));
        } catch (IOException e) {
            throw HostDirSftp.map(e, source);
        }
    }

    /** The shared folders of the running instance, by mount path (none when stopped: nothing is mounted). */
    private List<Map.Entry<String, HostDirSftp>> mounts() {
        if (guest == null) {
            return List.of();
        }
        List<Map.Entry<String, HostDirSftp>> out = new java.util.ArrayList<>();
        for (Map.Entry<String, Device> e : devicesToStart()) {
            Device d = e.getValue();
            if ("disk".equals(d.type()) && d.get("path") != null && !"/".equals(d.get("path"))) {
                HostDirSftp dir = sharedFolder(e.getKey(), d);
                if (dir != null) {
                    out.add(Map.entry(MountedSftp.normalize(d.get("path")), dir));
                }
            }
        }
        return out;
    }

    /** File access as the instance's processes see it: its tree with the shared folders mounted. */
    io.github.incus4j.api.file.SftpClient files(String cwd, int uid, int gid) {
        MemSftp tree = new MemSftp(fsView(), cwd, uid, gid);
        List<Map.Entry<String, HostDirSftp>> m = mounts();
        return m.isEmpty() ? tree : new MountedSftp(tree, m);
    }

    /** The NICs the instance was given, expanded and filled from their volatile keys, in name order. */
    List<Map.Entry<String, Device>> nics() {
        return devicesToStart().stream().filter(e -> "nic".equals(e.getValue().type())).toList();
    }

    @Override
    protected void deviceAdd(String name, Device device) {
        driver.faults().hit("deviceAdd");
        startDevice(name, device);
    }

    @Override
    protected void deviceRemove(String name, Device device) {
        driver.faults().hit("deviceRemove");
        stopDevice(name, device);
    }

    @Override
    protected void deviceUpdate(String name, Device oldDevice, Device newDevice) {
        // What is updatable in place (limits, addresses) has no effect in the simulation beyond the new config.
        driver.faults().hit("deviceUpdate");
    }

    @Override
    protected ApiInstanceState runningState(StatusCode st, List<NetworkInterface> hostInterfaces) {
        return Telemetry.state(this, guest, st);
    }

    @Override
    protected Map<String, ApiInstanceState.Disk> diskState() {
        return Map.of("root", new ApiInstanceState.Disk(fsView().get().bytes(), rootDiskSize()));
    }

    /** The root disk's {@code size}, 0 when unlimited. */
    long rootDiskSize() {
        for (Map.Entry<String, Device> e : expandedDevices().map().entrySet()) {
            Device d = e.getValue();
            if ("disk".equals(d.type()) && "/".equals(d.get("path")) && d.get("size") != null) {
                try {
                    return ConfigValues.parseByteSize(d.get("size"));
                } catch (InvalidArgumentException bad) {
                    return 0;
                }
            }
        }
        return 0;
    }

    @Override
    protected void collectMetrics(MetricSet set, List<NetworkInterface> hostInterfaces) {
        Telemetry.metrics(this, guest, set);
    }

    /** Simulated guest memory for a dump: a text header then bytes derived from the guest's counters. */
    byte[] memoryImage() {
        Guest g = guest;
        long now = clockMillis();
        byte[] mem = new byte[256 * 1024];
        String header = "incus4j fake guest memory\ninstance=" + name() + "\npid=" + (g == null ? -1 : g.pid)
                + "\nuptime_ms=" + (g == null ? 0 : g.uptimeMillis(now)) + "\n";
        byte[] h = MemFs.utf8(header);
        System.arraycopy(h, 0, mem, 0, h.length);
        SplittableRandom r = new SplittableRandom(name().hashCode() * 31L + (g == null ? 0 : g.execs.get()));
        for (int i = 4096; i < mem.length; i++) {
            mem[i] = (byte) r.nextInt(256);
        }
        return mem;
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

    /** The host went down (driver closed): the runtime ends without any record change. */
    void hostShutdown() {
        powerOff(null);
    }

    /** Writes what lives in memory (trees, saved states) into the instance's directories. */
    void saveToDisk() throws IOException {
        if (deleted || isSnapshot()) {
            return;
        }
        Dir r = root;
        if (r != null && r != persistedRoot) {
            FsTar.save(r, path().resolve(FsTar.ROOTFS_TAR));
            persistedRoot = r;
        }
        Object s = savedState;
        if (s instanceof SavedState st) {
            Files.createDirectories(path());
            Files.write(statePath(), st.encode());
        } else if (s == null) {
            Files.deleteIfExists(statePath());
        }
        ConcurrentHashMap<String, SnapState> m = snaps;
        if (m == null) {
            return;
        }
        for (InstanceArgs snap : snapshotArgs()) {
            String shortName = NameRules.snapshotPart(snap.name());
            SnapState ss = m.get(shortName);
            if (ss == null || !ss.dirty) {
                continue;
            }
            Path dir = owner().paths().path(type(), NameRules.snapshotFullName(storageName(), shortName));
            FsTar.save(ss.root, dir.resolve(FsTar.ROOTFS_TAR));
            if (ss.state != null) {
                Files.write(dir.resolve("state"), ss.state.encode());
            } else {
                Files.deleteIfExists(dir.resolve("state"));
            }
            ss.dirty = false;
        }
    }

    private static Object readState(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            return SavedState.decode(Files.readAllBytes(file));
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "Ignoring unreadable saved state " + file, e);
            return null;
        }
    }

}
