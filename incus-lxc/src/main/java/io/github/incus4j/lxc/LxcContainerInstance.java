package io.github.incus4j.lxc;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.migration.MigrationMessage;
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
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.api.model.ConsoleLogOptions;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.internal.config.ProfileExpansion;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.spi.ContainerDefaults;
import io.github.incus4j.api.spi.FileBackend;
import io.github.incus4j.api.internal.config.VolatileIdmaps;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.image.ImageFiles;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.internal.image.ImageTemplates;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.migration.MigrationWire;
import io.github.incus4j.api.internal.store.RecordStore;
import io.github.incus4j.api.internal.store.StorageFiles;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.config.ConfigNumbers;
import io.github.incus4j.api.internal.sftp.SftpServer;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.lxc.binding.Freezer;
import io.github.incus4j.lxc.binding.LxcContainer;
import io.github.incus4j.lxc.binding.LxcTool;
import io.github.incus4j.lxc.binding.ProcRoot;
import io.github.incus4j.lxc.binding.RootDirectory;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.NetworkInterface;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * A container of the {@code lxc} driver (or one of its snapshots). The liblxc container is named after the storage
 * name ({@code name}, or {@code project_name}) in the driver's private lxcpath; its {@code config} is written by the
 * driver from the record (name, paths, id map, limits) before every start, on top of {@code base.conf} (the template's
 * own settings). The root filesystem is {@link #rootfsPath()}, stored with host ids (shifted by the id map for an
 * unprivileged container).
 */
@API(status = EXPERIMENTAL)
public final class LxcContainerInstance extends AbstractInstance implements ContainerDefaults {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstance.class.getName());

    /** The running container's freezer, with the init pid it was found for. */
    private volatile PidFreezer freezer;
    /** The status the driver's {@link StatusWatcher} keeps current; null when it does not (ask liblxc). */
    volatile StatusCode watchedStatus;
    /** Serializes status queries with their recording, so that an older answer never replaces a newer one. */
    final Object statusLock = new Object();
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    private static final int STOP_WAIT_SECONDS = 10;
    private static final Duration FREEZE_TIMEOUT = Duration.ofSeconds(10);
    private static final int CONSOLE_BUFFER = 256 * 1024;
    private static final String METADATA = ImageFiles.METADATA;
    static final String NO_ALLOCATION =
            "No uid/gid allocation configured. In this mode, only privileged containers are supported";
    private static final Duration CRIU_TIMEOUT = Duration.ofSeconds(60);
    /** The migration header field carrying {@code base.conf}, the lxc settings the root filesystem came with. */
    private static final String BASE_CONF_FIELD = "lxc.base.conf";
    /** Settings for a root filesystem that comes without lxc configuration (a rootfs directory). */
    private static final List<String> GENERIC_BASE = List.of("lxc.autodev = 1", "lxc.tty.max = 0",
            "lxc.pty.max = 1024", "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
            "lxc.cap.drop = sys_module mac_admin mac_override sys_time");

    /** Whether the kernel has AppArmor enabled, as liblxc itself decides it. */
    private static final boolean APPARMOR = apparmorEnabled();

    private final LxcInstances driver;
    /** The running container's proxy devices (forwarders on driver threads). */
    private final LxcProxies proxies = new LxcProxies(fullName());

    LxcContainerInstance(LxcInstances driver, InstanceRecord record) {
        super(driver, record);
        this.driver = driver;
    }

    private LxcContainerInstance(LxcContainerInstance parent, InstanceArgs snapshot) {
        super(parent, snapshot);
        this.driver = parent.driver;
    }

    @Override
    protected LxcContainerInstance newSnapshotHandle(InstanceArgs snapshot) {
        return new LxcContainerInstance(this, snapshot);
    }

    // ---- liblxc plumbing ----------------------------------------------------------------------------------------

    /** The liblxc container name: the storage name, unique on the host as cgroup names must be. */
    String lxcName() {
        return fullName();
    }

    private Path lxcDir() {
        return driver.lxcpath().resolve(lxcName());
    }

    private LxcContainer open() {
        return driver.liblxc().open(lxcName(), driver.lxcpath());
    }

    private boolean privileged() {
        return ConfigValues.isTrue(expandedConfig().get("security.privileged"));
    }

    // ---- creation -----------------------------------------------------------------------------------------------

    /** Makes the root filesystem from {@code source}, shifted to the id map, and the liblxc configuration. */
    void createStorage(InstanceSource source) {
        Optional<IdmapSet> map = Optional.empty();
        if (!privileged()) {
            map = Optional.of(driver.allocation().orElseThrow(() -> new InvalidArgumentException(NO_ALLOCATION)));
        }
        List<String> base;
        Map<String, String> imageConfig = Map.of();
        if (source instanceof InstanceSource.Template) {
            BusyboxTemplate template = BusyboxTemplate.get();
            Trees.copy(template.rootfs(), rootfsPath());
            base = template.config();
        } else if (source instanceof InstanceSource.RootfsDirectory d) {
            Trees.copy(d.directory().toAbsolutePath(), rootfsPath());
            base = GENERIC_BASE;
        } else if (ImageSources.isImage(source)) {
            imageConfig = unpackImage(source, map.orElse(null));
            base = GENERIC_BASE;
        } else if (source instanceof InstanceSource.None) {
            // An empty container, e.g. the target of a migration, which brings the root filesystem.
            try {
                Files.createDirectories(rootfsPath());
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot create " + rootfsPath(), e);
            }
            base = GENERIC_BASE;
        } else {
            throw new IllegalStateException("Unchecked source " + source);
        }
        if (!ImageSources.isImage(source)) {
            map.ifPresent(m -> Trees.shift(rootfsPath(), m, true)); // an image's entries are shifted as unpacked
        }
        try {
            Files.createDirectories(lxcDir());
            Files.write(lxcDir().resolve("base.conf"), base, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write the lxc configuration of " + lxcName(), e);
        }
        IdmapSet diskMap = map.orElse(null);
        Map<String, String> fromImage = imageConfig;
        mutate(a -> {
            Map<String, String> c = new HashMap<>(withIdmap(a, diskMap).config());
            fromImage.forEach(c::putIfAbsent);
            String fingerprint = fromImage.get("volatile.base_image");
            return a.toBuilder().config(c).baseImage(fingerprint == null ? a.baseImage() : fingerprint).build();
        }, false);
        writeConfig();
    }

    /**
     * Unpacks an image (unified or split, checked by {@link ImageSources#check} before) into the root filesystem
     * (owners shifted by {@code map}), keeps its {@code metadata.yaml} in {@link #path()} and its templates in
     * {@link #templatesPath()}, and returns the config Incus sets from it: {@code image.*} from the properties,
     * {@code volatile.base_image} (the fingerprint), and {@code volatile.apply_template=create} so that the create
     * templates apply at first start. A squashfs image is unpacked in a scratch directory under {@link #path()}.
     */
    private Map<String, String> unpackImage(InstanceSource source, IdmapSet map) {
        try {
            Files.createDirectories(rootfsPath());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + rootfsPath(), e);
        }
        ImageSources.Image image = ImageSources.unpackRootfs(source, ImageRootfs.unpacker(rootfsPath(), map), path());
        ImageFiles.keep(path(), templatesPath(), image.metadata(), image.templates());
        Map<String, String> config = new HashMap<>();
        image.metadata().properties().forEach((k, v) -> config.put("image." + k, v));
        config.put("volatile.base_image", image.fingerprint());
        config.put("volatile.apply_template", TemplateTrigger.CREATE.value());
        return config;
    }

    /** The metadata of the image this container came from, null when it did not come from one. */
    private ImageMetadata imageMetadata() {
        return ImageFiles.metadata(path());
    }

    /** The image's template files by name, as kept in {@link #templatesPath()}. */
    private Map<String, byte[]> templateFiles() {
        return ImageFiles.templates(templatesPath());
    }

    /**
     * Applies a pending trigger's templates ({@code volatile.apply_template}, then cleared), then the {@code start}
     * ones, writing into the root filesystem through a {@link RootDirectory} (confined by the kernel, ids shifted).
     */
    private void applyTemplatesAtStart() {
        String pending = localConfig().get("volatile.apply_template");
        ImageMetadata metadata = imageMetadata();
        if (metadata != null && !metadata.templates().isEmpty()) {
            Map<String, byte[]> files = templateFiles();
            RootDirectory fs = new RootDirectory(rootfsPath(), diskIdmap().orElse(null));
            ImageTemplates.Target target = new ImageTemplates.Target() {
                @Override
                public boolean exists(String absolutePath) {
                    try {
                        fs.lstat(absolutePath);
                        return true;
                    } catch (NotFoundException e) {
                        return false;
                    }
                }

                @Override
                public void write(String absolutePath, byte[] content, int mode, long uid, long gid) {
                    boolean created = !exists(absolutePath);
                    String parent = absolutePath.substring(0, absolutePath.lastIndexOf('/'));
                    if (created && !parent.isEmpty()) {
                        mkdirs(fs, parent);
                    }
                    try (FileBackend.Handle h = fs.open(absolutePath, EnumSet.of(FileBackend.OpenFlag.WRITE,
                            FileBackend.OpenFlag.CREATE, FileBackend.OpenFlag.TRUNCATE), mode)) {
                        h.write(0, content, 0, content.length);
                    }
                    if (created) {
                        fs.setattrs(absolutePath, new FileBackend.AttrChanges(mode, (int) uid, (int) gid, null,
                                null));
                    }
                }
            };
            Map<String, Map<String, String>> devices = new TreeMap<>();
            expandedDevices().map().forEach((n, d) -> devices.put(n, d.config()));
            ImageTemplates.Context ctx = new ImageTemplates.Context(name(), type().apiName(),
                    io.github.incus4j.api.Architectures.name(architecture()), isEphemeral(), privileged(),
                    expandedConfig(), devices);
            if (pending != null && !pending.isEmpty()) {
                ImageTemplates.apply(metadata, files, TemplateTrigger.of(pending), ctx, target);
            }
            ImageTemplates.apply(metadata, files, TemplateTrigger.START, ctx, target);
        }
        if (pending != null && !pending.isEmpty()) {
            volatileSetInternal(Map.of("volatile.apply_template", ""), false);
        }
    }

    private static void mkdirs(FileBackend fs, String dir) {
        StringBuilder sb = new StringBuilder();
        for (String part : dir.split("/")) {
            if (part.isEmpty()) {
                continue;
            }
            sb.append('/').append(part);
            try {
                fs.stat(sb.toString());
            } catch (NotFoundException missing) {
                fs.mkdir(sb.toString(), 0755);
            }
        }
    }

    private static boolean apparmorEnabled() {
        try {
            return Files.readString(Path.of("/sys/module/apparmor/parameters/enabled")).strip().equals("Y");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Writes liblxc's {@code config} for the current definition, without network and devices (a start writes them,
     * with their host side prepared).
     */
    private void writeConfig() {
        writeConfig(List.of("lxc.net.0.type = empty"), List.of());
    }

    /**
     * Writes liblxc's {@code config} for the current definition with {@code netLines}, the NICs' settings, and
     * {@code deviceLines}, the disk and unix devices' mounts and cgroup rules.
     */
    private void writeConfig(List<String> netLines, List<String> deviceLines) {
        List<String> lines = new ArrayList<>();
        lines.add("lxc.include = " + lxcDir().resolve("base.conf"));
        lines.add("lxc.uts.name = " + name());
        lines.add("lxc.rootfs.path = dir:" + rootfsPath());
        lines.addAll(netLines);
        // No ttys besides the console, as Incus: their ptys' masters are the monitor's, which CRIU cannot dump.
        lines.add("lxc.tty.max = 0");
        // Only where AppArmor is on (as Incus): liblxc hands the profile to CRIU's restore, which refuses an AppArmor
        // profile on a kernel without AppArmor.
        if (APPARMOR) {
            lines.add("lxc.apparmor.profile = unconfined");
        }
        lines.add("lxc.console.buffer.size = " + CONSOLE_BUFFER);
        lines.add("lxc.console.logfile = " + consoleBufferLogPath());
        for (IdmapEntry e : nextIdmap().map(IdmapSet::entries).orElse(List.of())) {
            for (String kind : e.isUid() && e.isGid() ? List.of("u", "g") : List.of(e.isUid() ? "u" : "g")) {
                lines.add("lxc.idmap = " + kind + " " + e.nsId() + " " + e.hostId() + " " + e.mapRange());
            }
        }
        limitLines(expandedConfig(), lines);
        lines.addAll(deviceLines);
        // raw.lxc last, as Incus loads it over its generated configuration (validated when it was set).
        String raw = expandedConfig().get("raw.lxc");
        if (raw != null && !raw.isEmpty()) {
            lines.add(raw);
        }
        // Replaced whole: liblxc reads it for every status, from other threads too, and must never see half a file.
        RecordStore.writeAtomically(lxcDir().resolve("config"),
                (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8), false);
    }

    /** The mounts and cgroup rules of the disk and unix devices, their host side prepared ({@link LxcDevices}). */
    private List<String> startDeviceLines() {
        return new LxcDevices(name(), rootfsPath(), path().resolve("devices"), nextIdmap().orElse(null))
                .configLines(expandedDevices().map());
    }

    /** The disk and unix devices of the running container (ids shifted by the map it runs with). */
    private LxcDevices runningDevices() {
        return new LxcDevices(name(), rootfsPath(), path().resolve("devices"),
                currentIdmap().or(this::nextIdmap).orElse(null));
    }

    /**
     * Applies a device added to the running container, as Incus hot-plugs them: a proxy starts forwarding, a disk is
     * mounted and a device node made and mounted into the container's mount namespace (with its cgroup rule). For the
     * device hooks of the shared device model; other types are left to their owners.
     */
    void deviceAdded(String devName, io.github.incus4j.api.model.Device device) {
        int pid = driverInitPid();
        if (pid <= 0) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, statusCode());
        }
        switch (device.type()) {
            case "proxy" -> proxies.start(devName, device, pid);
            case "disk" -> runningDevices().hotAddDisk(devName, device, pid);
            case "unix-char", "unix-block" -> {
                String rule = runningDevices().hotAddUnix(devName, device, pid);
                if (rule != null) {
                    cgroupWrite("devices.allow", rule);
                }
            }
            default -> {
            }
        }
    }

    /** Removes a device from the running container: a proxy stops, a disk or device node is unmounted. */
    void deviceRemoved(String devName, io.github.incus4j.api.model.Device device) {
        int pid = driverInitPid();
        switch (device.type()) {
            case "proxy" -> proxies.stop(devName);
            case "disk" -> {
                if (pid > 0) {
                    runningDevices().hotRemoveDisk(devName, device, pid);
                }
            }
            case "unix-char", "unix-block" -> {
                if (pid > 0) {
                    runningDevices().hotRemoveUnix(devName, device, pid);
                }
            }
            default -> {
            }
        }
    }

    /**
     * The update hook for a device added to the running container: NICs through {@link #attachNic}, disks, device
     * nodes and proxies through {@link #deviceAdded}.
     */
    @Override
    protected void deviceAdd(String devName, Device device) {
        if ("nic".equals(device.type())) {
            attachNic(devName, device);
        } else {
            deviceAdded(devName, device);
        }
    }

    /** The update hook for a device removed from the running container (or changed in a way not updatable). */
    @Override
    protected void deviceRemove(String devName, Device device) {
        if ("nic".equals(device.type())) {
            detachNic(devName, device);
        } else {
            deviceRemoved(devName, device);
        }
    }

    /** Stops the proxies and lets the file API's init go (the container stopped, or the driver closes). */
    void closeDevices() {
        proxies.closeAll();
        dropLiveRoot();
    }

    /** The names of the proxy devices forwarding now. */
    Set<String> runningProxies() {
        return proxies.names();
    }

    /** {@code limits.*} as lxc cgroup settings applied at start. */
    private static void limitLines(Map<String, String> config, List<String> lines) {
        String prefix = LxcCgroup.isV1() ? "lxc.cgroup." : "lxc.cgroup2.";
        String memory = memoryBytes(config.get("limits.memory"));
        if (memory != null) {
            lines.add(prefix + (LxcCgroup.isV1() ? "memory.limit_in_bytes" : "memory.max") + " = " + memory);
        }
        String procs = config.get("limits.processes");
        if (procs != null && !procs.isEmpty()) {
            lines.add(prefix + "pids.max = " + pidsMax(procs));
        }
        String cpus = cpuSet(config.get("limits.cpu"));
        if (cpus != null) {
            lines.add(prefix + "cpuset.cpus = " + cpus);
        }
        if (config.containsKey("limits.cpu.allowance") || config.containsKey("limits.cpu.priority")) {
            LxcCgroup.cpuAllowance(config.get("limits.cpu.allowance"), config.get("limits.cpu.priority"))
                    .forEach((file, value) -> lines.add(prefix + file + " = " + value));
        }
    }

    /** {@code limits.memory} in bytes (a percentage of the host's memory allowed), null when unset. */
    private static String memoryBytes(String v) {
        if (v == null || v.isEmpty()) {
            return null;
        }
        if (v.endsWith("%")) {
            long total = hostMemory();
            return Long.toString((long) (total * Double.parseDouble(v.substring(0, v.length() - 1)) / 100));
        }
        return Long.toString(ConfigValues.parseByteSize(v));
    }

    /** {@code limits.cpu} as a cpuset: a count {@code n} pins to the first n host CPUs (Incus balances them). */
    private static String cpuSet(String v) {
        if (v == null || v.isEmpty() || v.contains("=")) {
            return null;
        }
        if (v.matches("\\d+")) {
            int n = ConfigNumbers.parseIntClamped("limits.cpu", v, 1, Runtime.getRuntime().availableProcessors());
            return n <= 1 ? "0" : "0-" + (n - 1);
        }
        return v;
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

    /** {@code limits.processes} for {@code pids.max}: Incus's -1 is the kernel's {@code max}. */
    private static String pidsMax(String v) {
        return ConfigNumbers.parseLong("limits.processes", v) < 0 ? "max" : v.trim();
    }

    private static long hostMemory() {
        for (String line : Trees.lines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemTotal:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        }
        return 0;
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
            clearNicVolatiles();
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

    /** A status asked of liblxc, with init's pid; {@code defined} is false when liblxc has no such container. */
    record Fresh(StatusCode status, int pid, boolean defined) {
    }

    /** Asks liblxc (and the freezer) for the status now. */
    Fresh queryStatus() {
        Path config = lxcDir().resolve("config");
        Fresh undefined = new Fresh(StatusCode.STOPPED, -1, false);
        if (isSnapshot() || !Files.exists(config)) {
            return undefined;
        }
        String state;
        int pid;
        try (LxcContainer c = open()) {
            state = c.state();
            pid = c.initPid();
        } catch (IncusException e) {
            // A rename or delete removed the config between liblxc's check for it and its read: no container here.
            if (!Files.exists(config)) {
                return undefined;
            }
            throw e;
        }
        StatusCode status = switch (state) {
            case "STOPPED" -> StatusCode.STOPPED;
            case "STARTING" -> StatusCode.STARTING;
            case "STOPPING" -> StatusCode.STOPPING;
            case "ABORTING" -> StatusCode.ABORTING;
            case "FREEZING" -> StatusCode.FREEZING;
            case "FROZEN" -> StatusCode.FROZEN;
            case "THAWED" -> StatusCode.THAWED;
            // liblxc keeps saying RUNNING for a container frozen through its cgroup: ask the freezer.
            case "RUNNING" -> frozen(pid) ? StatusCode.FROZEN : StatusCode.RUNNING;
            default -> StatusCode.ERROR;
        };
        return new Fresh(status, pid, true);
    }

    /** The file the kernel marks written when the container's freezer state is set. */
    java.nio.file.Path freezerEventsFile(int pid) {
        Freezer f = freezer(pid);
        return f.directory().resolve(f.isV2() ? "cgroup.events" : "freezer.state");
    }

    /** What the freezer of the container whose init is {@code pid} says: Frozen, Freezing or Running. */
    StatusCode freezerStatus(int pid) {
        return switch (freezer(pid).state()) {
            case "FROZEN" -> StatusCode.FROZEN;
            case "FREEZING" -> StatusCode.FREEZING;
            default -> StatusCode.RUNNING;
        };
    }

    /** After an operation of ours: the kept status is the state it left. */
    private void statusChanged() {
        try {
            driver.statusWatcher().refresh(this);
        } catch (IncusException e) {
            driver.statusWatcher().forget(this);
            LOG.log(System.Logger.Level.DEBUG, "Status of {0} not refreshed: {1}", name(), e.getMessage());
        }
    }

    private boolean frozen(int pid) {
        if (pid <= 0) {
            return false;
        }
        try {
            return freezer(pid).state().equals("FROZEN");
        } catch (IncusException e) {
            return false; // it stopped meanwhile
        }
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
            requireSearchableParents(rootfsPath());
        }
        if (!stateful) {
            applyTemplatesAtStart();
        }
        writeConfig(startNics(), startDeviceLines());
        try {
            Files.createDirectories(logPath());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + logPath(), e);
        }
        try {
            launch(stateful);
        } catch (RuntimeException e) {
            clearNicVolatiles();
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
        statusChanged();
        driver.watchForStop(this);
        // The saved state is used once: a plain start discards it, as a stateful one consumes it.
        AbstractInstances.deleteTree(statePath());
        String next = localConfig().get("volatile.idmap.next");
        if (next != null && !next.equals(localConfig().get("volatile.idmap.current"))) {
            volatileSetInternal(Map.of("volatile.idmap.current", next, "volatile.last_state.idmap", next), false);
        }
    }

    /**
     * Plans the NICs of a start (see {@link LxcNics}): records their volatile keys before any interface exists (as
     * Incus does), writes the static DHCP allocations, and returns liblxc's lines.
     */
    private List<String> startNics() {
        LxcNics.Plan plan = LxcNics.plan(expandedDevices(), localConfig(), driver::network,
                LxcNics::hostInterfaceExists);
        volatileSetInternal(plan.volatiles(), true);
        for (LxcNics.StaticLease l : plan.leases()) {
            l.network().writeStaticLease(fullName(), l.device(), l.hwaddr(), l.address());
        }
        return plan.lines();
    }

    /**
     * Adds the expanded device {@code dev} (a {@code nic}) to the running container, as Incus hot-plugs a NIC: planned
     * as at start (the other NICs' names stay taken), its volatile keys recorded first, its static allocation written,
     * then made by {@link LxcNicHotplug}. For the device hooks of {@code update}.
     *
     * @throws InstanceStateException when the container is not running
     * @throws NotFoundException when the device is not one of the container's
     */
    void attachNic(String dev) {
        Device d = expandedDevices().get(dev);
        if (d == null || !"nic".equals(d.type())) {
            throw new NotFoundException("Device " + ErrorTexts.quote(dev) + " not found");
        }
        attachNic(dev, d);
    }

    /**
     * Adds NIC {@code dev} with config {@code d} (an update's new device, not yet among the expanded devices; hwaddr
     * and name filled from its volatile keys) to the running container.
     */
    private void attachNic(String dev, Device d) {
        int pid = driverInitPid();
        if (pid <= 0) {
            throw new InstanceStateException("Instance is not running", statusCode());
        }
        LxcNics.Plan plan = LxcNics.plan(expandedDevices().with(dev, d), localConfig(), driver::network,
                LxcNics::hostInterfaceExists);
        LxcNics.Nic nic = plan.nics().stream().filter(n -> n.device().equals(dev)).findFirst().orElseThrow();
        Map<String, String> mine = new HashMap<>();
        plan.volatiles().forEach((k, v) -> {
            if (k.startsWith("volatile." + dev + ".")) {
                mine.put(k, v);
            }
        });
        volatileSetInternal(mine, true);
        for (LxcNics.StaticLease l : plan.leases()) {
            if (l.device().equals(dev)) {
                l.network().writeStaticLease(fullName(), l.device(), l.hwaddr(), l.address());
            }
        }
        try {
            LxcNicHotplug.add(nic, pid);
        } catch (RuntimeException e) {
            volatileSetInternal(Map.of("volatile." + dev + ".host_name", ""), false);
            throw e;
        }
    }

    /**
     * Removes NIC {@code dev} (as it was, {@code old}) from the running container and clears its host name. For the
     * device hooks of {@code update}.
     */
    void detachNic(String dev, Device old) {
        String name = old.get("name") != null && !old.get("name").isEmpty() ? old.get("name")
                : localConfig().get("volatile." + dev + ".name");
        LxcNicHotplug.remove(dev, LxcNics.nicType(old), name, localConfig().get("volatile." + dev + ".host_name"),
                driverInitPid());
        volatileSetInternal(Map.of("volatile." + dev + ".host_name", ""), false);
    }

    /** Clears the volatile keys a running container's NICs have (their host names), at stop or a failed start. */
    private void clearNicVolatiles() {
        Map<String, String> clear = LxcNics.stopVolatiles(localConfig());
        if (!clear.isEmpty()) {
            volatileSetInternal(clear, false);
        }
    }

    private void launch(boolean stateful) {
        if (stateful) {
            try {
                LxcTool.restore(driver.lxcpath(), lxcName(), statePath(), CRIU_TIMEOUT,
                        driver.criu().options(statePath()));
            } catch (IncusException e) {
                throw Criu.failure(e, statePath(), "restore.log");
            }
        } else {
            LxcTool.start(driver.lxcpath(), lxcName(), START_TIMEOUT);
        }
    }

    /**
     * An unprivileged container's root (a mapped id, "other" to the host) must traverse every directory above its
     * root filesystem; liblxc only says the start aborted, so name the directory that stops it. A private
     * {@code mkdtemp} directory (mode 700) above the driver root is the usual culprit.
     */
    private void requireSearchableParents(Path rootfs) {
        for (Path dir = rootfs.toAbsolutePath().getParent(); dir != null; dir = dir.getParent()) {
            try {
                Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir);
                if (!perms.contains(PosixFilePermission.OTHERS_EXECUTE)) {
                    throw new InstanceStateException("Unprivileged container " + ErrorTexts.quote(name())
                            + " cannot reach its root filesystem: " + dir + " is not searchable by others (mode "
                            + PosixFilePermissions.toString(perms) + "); make every directory above the driver root"
                            + " searchable (chmod o+x) or set security.privileged=true", statusCode());
                }
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read the permissions of " + dir, e);
            }
        }
    }

    @Override
    protected void doStop(boolean stateful) {
        try {
            stopContainer(stateful);
        } finally {
            stoppedByUs();
        }
    }

    /** After a stop or shutdown of ours: the status is asked anew, and a stopped container's NICs are gone. */
    private void stoppedByUs() {
        statusChanged();
        if (driverStatus() == StatusCode.STOPPED) {
            clearNicVolatiles();
        }
    }

    private void stopContainer(boolean stateful) {
        if (stateful) {
            driver.criu().require("Unable to perform container live migration");
            dump(statePath(), true);
        }
        driver.unwatchForStop(this);
        try (LxcContainer c = open()) {
            if (stateful && c.wait("STOPPED", STOP_WAIT_SECONDS)) {
                proxies.closeAll();
                return;
            }
            int pid = c.initPid();
            if (frozen(pid)) {
                // Killed processes of a frozen cgroup only die once thawed.
                freezer(pid).unfreeze(FREEZE_TIMEOUT);
            }
            if (!c.stop() && c.isRunning()) {
                throw new IncusException("Failed to stop container " + ErrorTexts.quote(name()) + ": "
                        + c.lastError().message());
            }
            if (!c.wait("STOPPED", STOP_WAIT_SECONDS)) {
                throw new OperationTimeoutException("Container " + ErrorTexts.quote(name()) + " did not stop within "
                        + STOP_WAIT_SECONDS + " s");
            }
        }
        proxies.closeAll();
    }

    /** Checkpoints the running container into {@code dir} (replaced) with CRIU; {@code stop} stops it after. */
    private void dump(Path dir, boolean stop) {
        AbstractInstances.deleteTree(dir);
        try {
            Files.createDirectories(dir);
            LxcTool.checkpoint(driver.lxcpath(), lxcName(), dir, stop, CRIU_TIMEOUT, driver.criu().options(dir));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + dir, e);
        } catch (IncusException e) {
            IncusException failure = Criu.failure(e, dir, "dump.log");
            AbstractInstances.deleteTree(dir);
            throw failure;
        }
    }

    /**
     * Sends the halt signal and waits, sending it again every second: an init that has not yet installed its handler
     * (busybox just after start) ignores it, as pid 1 ignores every signal it does not handle.
     */
    @Override
    protected boolean doShutdown(Duration timeout) {
        try {
            return shutdownContainer(timeout);
        } finally {
            stoppedByUs();
        }
    }

    private boolean shutdownContainer(Duration timeout) {
        driver.unwatchForStop(this);
        long deadline = System.nanoTime() + timeout.toNanos();
        try (LxcContainer c = open()) {
            while (true) {
                c.shutdown(0); // 0: send the signal without waiting
                // liblxc waits in whole seconds (so a timeout is overshot by up to one) and returns on the state.
                if (c.wait("STOPPED", 1) || !c.isRunning()) {
                    proxies.closeAll();
                    return true;
                }
                if (System.nanoTime() >= deadline) {
                    driver.watchForStop(this); // still running: the caller decides, the watcher keeps looking
                    return false;
                }
            }
        }
    }

    @Override
    protected void doFreeze() {
        try {
            freezeContainer();
        } finally {
            statusChanged();
        }
    }

    private void freezeContainer() {
        try (LxcContainer c = open()) {
            freezer(c.initPid()).freeze(FREEZE_TIMEOUT);
            // Frozen already, so liblxc's freeze returns at once; it makes the monitor (lxc-info, lxc-ls) say FROZEN.
            if (!c.freeze()) {
                LOG.log(System.Logger.Level.WARNING, "liblxc did not record {0} as frozen: {1}", name(),
                        c.lastError().message());
            }
        }
    }

    @Override
    protected void doUnfreeze() {
        try {
            unfreezeContainer();
        } finally {
            statusChanged();
        }
    }

    private void unfreezeContainer() {
        try (LxcContainer c = open()) {
            freezer(c.initPid()).unfreeze(FREEZE_TIMEOUT);
            if (!c.unfreeze()) {
                LOG.log(System.Logger.Level.WARNING, "liblxc did not record {0} as running: {1}", name(),
                        c.lastError().message());
            }
        }
    }

    /** The freezer of the container whose init is {@code pid}, found once per start (finding it parses /proc). */
    private Freezer freezer(int pid) {
        PidFreezer known = freezer;
        if (known == null || known.pid() != pid) {
            known = new PidFreezer(pid, Freezer.of(pid, lxcName()));
            freezer = known;
        }
        return known.freezer();
    }

    private record PidFreezer(int pid, Freezer freezer) {
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

    // ---- snapshots, restore, delete, rename -----------------------------------------------------------------

    private Path snapshotRootfs(InstanceArgs snapshot) {
        return driver.paths().path(type(), Project.storageName(snapshot.project(), snapshot.name()))
                .resolve("rootfs");
    }

    @Override
    protected void doSnapshot(InstanceArgs snapshot, boolean stateful) {
        if (stateful) {
            driver.criu().require("Unable to create a stateful snapshot");
        }
        Path target = snapshotRootfs(snapshot);
        try {
            if (stateful) {
                dump(target.resolveSibling("state"), false);
            }
            Trees.copy(rootfsPath(), target);
        } catch (RuntimeException e) {
            AbstractInstances.deleteTree(target.getParent());
            throw e;
        }
    }

    @Override
    protected void doRestore(InstanceArgs snapshot) {
        Path source = snapshotRootfs(snapshot);
        AbstractInstances.deleteTree(statePath());
        if (snapshot.stateful() && Files.isDirectory(source.resolveSibling("state"))) {
            driver.criu().require("Failed to restore container state");
            Trees.copy(source.resolveSibling("state"), statePath());
        }
        Path staging = rootfsPath().resolveSibling("rootfs.restoring");
        AbstractInstances.deleteTree(staging);
        Trees.copy(source, staging);
        AbstractInstances.deleteTree(rootfsPath());
        try {
            Files.move(staging, rootfsPath());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot put the restored root filesystem in place", e);
        }
    }

    @Override
    protected void doDeleteSnapshot(InstanceArgs snapshot) {
        AbstractInstances.deleteTree(snapshotRootfs(snapshot).getParent());
    }

    @Override
    protected void doDelete() {
        driver.statusWatcher().forget(this);
        dropLiveRoot();
        removeConfig(lxcDir());
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
        removeConfig(driver.lxcpath().resolve(oldFullName));
        StorageFiles.moveIfExists(driver.lxcpath().resolve(oldFullName),
                driver.lxcpath().resolve(newFullName));
    }

    /** Removes liblxc's config first, so that readers see no container rather than one with missing parts. */
    private static void removeConfig(Path lxcDir) {
        try {
            Files.deleteIfExists(lxcDir.resolve("config"));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot remove the lxc configuration in " + lxcDir, e);
        }
    }

    /**
     * Incus's export: {@code metadata.yaml} (the source image's, when the container came from one, updated), its
     * templates, and the root filesystem with ids as inside the container (unshifted by the disk id map).
     */
    @Override
    protected ImageMetadata doExport(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker) {
        LxcContainerInstance owner = isSnapshot() ? (LxcContainerInstance) parent().orElseThrow() : this;
        ImageMetadata md = ImageLayout.exportMetadata(owner.imageMetadata(),
                io.github.incus4j.api.Architectures.name(architecture()), properties, expiration,
                driver.clock());
        Map<String, byte[]> templates = owner.templateFiles();
        ImageLayout.RootfsWriter writer = ImageRootfs.writer(rootfsPath(), owner.diskIdmap().orElse(null));
        if (rootfs == null) {
            ImageLayout.writeUnified(meta, md, templates, writer, tracker);
        } else {
            ImageLayout.writeSplit(meta, rootfs, md, templates, writer, tracker);
        }
        return md;
    }

    @Override
    protected void doRebuild(Image image, Operation op) {
        if (image != null && image.source() == null) {
            throw new InvalidArgumentException("Image " + ErrorTexts.quote(image.fingerprint())
                    + " has no tarball to unpack");
        }
        // The old root filesystem and image files stay aside until the new ones are complete, and come back if
        // unpacking fails: a rebuild either happens whole or not at all.
        Path aside = path().resolve("rebuild-old");
        AbstractInstances.deleteTree(aside);
        try {
            Files.createDirectories(aside);
            for (Path p : List.of(rootfsPath(), path().resolve(METADATA), templatesPath())) {
                if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.move(p, aside.resolve(p.getFileName()));
                }
            }
        } catch (IOException e) {
            restoreAside(aside);
            throw new UncheckedIOException("Cannot set the old root filesystem of " + name() + " aside", e);
        }
        IdmapSet map = diskIdmap().orElse(null);
        try {
            if (image == null) {
                Files.createDirectories(rootfsPath());
                if (map != null) {
                    Trees.shift(rootfsPath(), map, true);
                }
            } else {
                InstanceSource source = InstanceSource.image(image.source());
                ImageSources.check(false, source);
                Map<String, String> config = unpackImage(source, map);
                volatileSetInternal(Map.of("volatile.apply_template", config.get("volatile.apply_template")), false);
            }
        } catch (IOException | RuntimeException e) {
            restoreAside(aside);
            throw e instanceof IOException io ? new UncheckedIOException("Cannot rebuild " + name(), io)
                    : (RuntimeException) e;
        }
        AbstractInstances.deleteTree(aside);
    }

    /** Puts back what {@link #doRebuild} set aside, dropping whatever the failed rebuild wrote. */
    private void restoreAside(Path aside) {
        for (Path p : List.of(rootfsPath(), path().resolve(METADATA), templatesPath())) {
            Path old = aside.resolve(p.getFileName());
            if (Files.exists(old, LinkOption.NOFOLLOW_LINKS)) {
                AbstractInstances.deleteTree(p);
                try {
                    Files.move(old, p);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.ERROR, "Cannot restore " + p + " from " + old, e);
                }
            }
        }
        AbstractInstances.deleteTree(aside);
    }

    // ---- live config, state, metrics ---------------------------------------------------------------------------

    @Override
    protected void applyLiveUpdate(Map<String, String> oldExpanded, Map<String, String> newExpanded,
            Set<String> changedKeys) {
        CGroup cg = doCgroup();
        for (String k : changedKeys) {
            switch (k) {
                case "limits.memory": {
                    String bytes = memoryBytes(newExpanded.get(k));
                    cg.set("memory.max", bytes == null ? "max" : bytes);
                    break;
                }
                case "limits.processes": {
                    String v = newExpanded.get(k);
                    cg.set("pids.max", v == null || v.isEmpty() ? "max" : pidsMax(v));
                    break;
                }
                case "limits.cpu": {
                    String set = cpuSet(newExpanded.get(k));
                    String all = "0-" + (Runtime.getRuntime().availableProcessors() - 1);
                    cg.set("cpuset.cpus", set == null ? all : set);
                    break;
                }
                case "limits.cpu.allowance":
                case "limits.cpu.priority":
                    LxcCgroup.cpuAllowance(newExpanded.get("limits.cpu.allowance"),
                            newExpanded.get("limits.cpu.priority")).forEach(this::cgroupWrite);
                    break;
                default:
                    break;
            }
        }
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

    private long cgroupLong(String key) {
        try {
            return Long.parseLong(cgroupRead(key).trim());
        } catch (RuntimeException e) {
            return 0;
        }
    }

    @Override
    protected ApiInstanceState runningState(StatusCode status, List<NetworkInterface> hostInterfaces) {
        int pid = driverInitPid();
        if (pid <= 0) {
            return new ApiInstanceState(status.text(), status.code(), Map.of(), null, Map.of(), 0, 0, null, null,
                    null);
        }
        CGroup cg = doCgroup();
        long usage = safeLong(cg::memoryUsage);
        long peak = Math.max(usage, parseOrZero(safeGet(cg, "memory.peak")));
        long limit = parseOrZero(safeGet(cg, "memory.max"));
        ApiInstanceState.Memory memory = new ApiInstanceState.Memory(usage, peak,
                limit > 0 ? limit : hostMemory(), 0, 0);
        ApiInstanceState.Cpu cpu = new ApiInstanceState.Cpu(cpuNanos(), 0);
        return new ApiInstanceState(status.text(), status.code(), Map.of(), memory,
                NetnsState.read(Path.of("/proc", Integer.toString(pid)), LxcNics.hostNames(expandedDevices(),
                        localConfig())), pid,
                safeLong(cg::processes), cpu, startedAt(pid), null);
    }

    private long cpuNanos() {
        return LxcCgroup.isV1() ? cgroupLong("cpuacct.usage") : parseStat(safeGet(doCgroup(), "cpu.stat"),
                "usage_usec") * 1000;
    }

    private static long parseStat(String stat, String key) {
        for (String line : stat.split("\n")) {
            String[] kv = line.trim().split("\\s+");
            if (kv.length == 2 && kv[0].equals(key)) {
                return Long.parseLong(kv[1]);
            }
        }
        return 0;
    }

    private static String safeGet(CGroup cg, String key) {
        try {
            return cg.get(key);
        } catch (RuntimeException e) {
            return "";
        }
    }

    private static long parseOrZero(String v) {
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static long safeLong(java.util.function.LongSupplier s) {
        try {
            return s.getAsLong();
        } catch (RuntimeException e) {
            return 0;
        }
    }

    /** When the process {@code pid} started: boot time plus its start tick from {@code /proc/<pid>/stat}. */
    private static Instant startedAt(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long ticks = Long.parseLong(fields[19]); // field 22, starttime
            long btime = 0;
            for (String line : Trees.lines(Path.of("/proc/stat"))) {
                if (line.startsWith("btime ")) {
                    btime = Long.parseLong(line.substring(6).trim());
                }
            }
            // USER_HZ is 100 on every Linux ABI the JDK runs on.
            return Instant.ofEpochMilli(btime * 1000 + ticks * 10);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    @Override
    protected Map<String, ApiInstanceState.Disk> diskState() {
        return Map.of("root", new ApiInstanceState.Disk(Trees.usage(rootfsPath()), 0));
    }

    @Override
    protected void collectMetrics(MetricSet set, List<NetworkInterface> hostInterfaces) {
        int pid = driverInitPid();
        if (pid <= 0) {
            return;
        }
        CGroup cg = doCgroup();
        long limit = parseOrZero(safeGet(cg, "memory.max"));
        new LxcMetrics(this).collect(set, limit > 0 ? limit : hostMemory(), safeLong(cg::memoryUsage));
        for (Map.Entry<String, long[]> e : NetnsState.netDev(Path.of("/proc", Integer.toString(pid))).entrySet()) {
            String dev = e.getKey();
            long[] f = e.getValue();
            set.add(MetricType.NETWORK_RECEIVE_BYTES_TOTAL, Sample.of(f[0], "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_PACKETS_TOTAL, Sample.of(f[1], "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_ERRS_TOTAL, Sample.of(f[2], "device", dev));
            set.add(MetricType.NETWORK_RECEIVE_DROP_TOTAL, Sample.of(f[3], "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_BYTES_TOTAL, Sample.of(f[8], "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_PACKETS_TOTAL, Sample.of(f[9], "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_ERRS_TOTAL, Sample.of(f[10], "device", dev));
            set.add(MetricType.NETWORK_TRANSMIT_DROP_TOTAL, Sample.of(f[11], "device", dev));
        }
        set.add(MetricType.PROCS_TOTAL, Sample.of(safeLong(cg::processes)));
        Instant started = startedAt(pid);
        if (started != null) {
            set.add(MetricType.BOOT_TIME_SECONDS, Sample.of(started.toEpochMilli() / 1000.0));
        }
        set.add(MetricType.TIME_SECONDS, Sample.of(System.currentTimeMillis() / 1000.0));
    }

    /**
     * A raw SFTP connection: one end of a pipe pair whose other end {@link SftpServer} serves on a driver thread,
     * confined by the kernel (see {@link RootDirectory}; ids shown as the container sees them): while the container
     * runs, its init's root with every mount in it (disk devices included, as Incus's {@code forkfile} sees them),
     * else its root filesystem; decided per operation. The session ends when the caller closes the connection.
     */
    @Override
    protected Connection doFileSftpConn() {
        return SftpServer.open(fileBackend(), driver::execute);
    }

    /** What the file API serves: the running container's root with its mounts, else the root filesystem. */
    RootDirectory fileBackend() {
        return new RootDirectory(rootfsPath(), diskIdmap().orElse(null), this::openLiveRoot);
    }

    /**
     * The running container's root directory for {@link RootDirectory}, pinned to its init through the pidfd
     * liblxc's monitor holds ({@code init_pidfd}), or -1 when the container is not running. The pidfd is kept while
     * its init lives (two syscalls per operation instead of a round trip to the monitor, about 1.3 ms) and dropped once it exited, so that a restarted container is served from its new init. Without
     * liblxc's {@code pidfd} extension the root filesystem is served (without the container's mounts), and a warning
     * logged once.
     */
    private int openLiveRoot() {
        synchronized (liveRoot) {
            if (liveRoot[0] != null) {
                int root = liveRoot[0].openRoot();
                if (root >= 0) {
                    return root;
                }
                dropLiveRoot();
            }
            if (isSnapshot() || !Files.exists(lxcDir().resolve("config")) || !driverStatus().isRunning()) {
                return -1; // the kept status: a start behind the driver's back is seen within a second
            }
            int pidfd;
            try (LxcContainer c = open()) {
                pidfd = c.initPidfd();
                if (pidfd < 0) {
                    if (c.isRunning() && !LIVE_ROOT_WARNED.getAndSet(true)) {
                        LOG.log(System.Logger.Level.WARNING, "liblxc gives no pidfd of {0}''s init (API extension "
                                + "\"pidfd\"): its files are served from the root filesystem, without its mounts",
                                name());
                    }
                    return -1;
                }
            }
            liveRoot[0] = ProcRoot.Pinned.of(pidfd);
            int root = liveRoot[0] == null ? -1 : liveRoot[0].openRoot();
            if (root < 0) {
                dropLiveRoot();
            }
            return root;
        }
    }

    /** Closes the kept pidfd of the init the file API serves, if any. */
    private void dropLiveRoot() {
        synchronized (liveRoot) {
            if (liveRoot[0] != null) {
                liveRoot[0].close();
                liveRoot[0] = null;
            }
        }
    }

    /** The pidfd of the init whose root the file API serves ({@link #openLiveRoot}); guards itself. */
    private final ProcRoot.Pinned[] liveRoot = new ProcRoot.Pinned[1];

    private static final java.util.concurrent.atomic.AtomicBoolean LIVE_ROOT_WARNED =
            new java.util.concurrent.atomic.AtomicBoolean();

    // ---- migration ----------------------------------------------------------------------------------------------

    /**
     * Sends the stopped container over {@link MigrationWire}: its record (with the snapshots when asked), its
     * {@code base.conf} in the header, then the root filesystem and the snapshots' with ids unshifted by the disk id
     * map (as inside the container), so that the target shifts them by its own map. A running container is sent
     * live with CRIU ({@link #sendLive}), or as it is when {@code allowInconsistent} (its files may change meanwhile).
     */
    @Override
    protected void doMigrateSend(MigrateSendArgs sendArgs) {
        MigrateArgs m = sendArgs.common();
        boolean live = false;
        if (isRunning()) {
            if (m.live()) {
                try {
                    driver.criu().require("Unable to perform container live migration");
                } catch (NotSupportedException noCriu) {
                    throw MigrationWire.abandon(m, noCriu);
                }
                live = true;
            } else if (!sendArgs.allowInconsistent()) {
                throw MigrationWire.abandon(m, new InstanceStateException("Instance is running: stop it before "
                        + "migrating it, migrate it live, or allow an inconsistent copy", statusCode()));
            }
        }
        List<InstanceArgs> snaps = m.snapshots() ? snapshotArgs() : List.of();
        IdmapSet map = diskIdmap().orElse(null);
        Map<String, ImageLayout.RootfsWriter> snapTrees = new LinkedHashMap<>();
        for (InstanceArgs snap : snaps) {
            snapTrees.put(NameRules.snapshotPart(snap.name()), ImageRootfs.writer(snapshotRootfs(snap), map));
        }
        String base;
        try {
            base = Files.readString(lxcDir().resolve("base.conf"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw MigrationWire.abandon(m, new UncheckedIOException("Cannot read the lxc configuration of "
                    + lxcName(), e));
        }
        Map<String, String> header = MigrationWire.header(LxcDriver.NAME, type(), new InstanceRecord(args(), snaps),
                live, CriuStream.FORMAT, live ? Map.of(BASE_CONF_FIELD, base, MigrationWire.READY, "true")
                        : Map.of(BASE_CONF_FIELD, base));
        ImageMetadata metadata = imageMetadata();
        Map<String, byte[]> templates = templateFiles();
        String what = "Migration of " + ErrorTexts.quote(name());
        if (live) {
            sendLive(m, header, map, metadata, templates, snapTrees, what);
            return;
        }
        MigrationWire.send(m, header, driver.migrationWait(), what,
                out -> MigrationWire.writeTree(out, metadata, templates, ImageRootfs.writer(rootfsPath(), map),
                        snapTrees));
    }

    /**
     * A live migration, as Incus's {@code migrateSendLive}: the root filesystem while the container runs; then over
     * the state connection, when {@code migration.incremental.memory} is on, CRIU pre-dumps while it runs (each
     * writing only the pages changed since the previous one) until one skips more than
     * {@code migration.incremental.memory.goal} percent of the pages or
     * {@code migration.incremental.memory.iterations} is reached; then the final dump, which stops the container,
     * and the files changed since the first pass. The target restores the container from the final dump. The
     * downtime runs from the final dump to the target's restore. Should anything fail after the final dump, the
     * source is restored from its own dump, so it runs on.
     */
    private void sendLive(MigrateArgs m, Map<String, String> header, IdmapSet map, ImageMetadata metadata,
            Map<String, byte[]> templates, Map<String, ImageLayout.RootfsWriter> snapTrees, String what) {
        Path work = path().resolve(".migration-state");
        Instant since = Instant.now().minusSeconds(1); // timestamp granularity and clock steps
        boolean[] finalDumped = {false};
        long[] downtimeStart = {0};
        try {
            AbstractInstances.deleteTree(work);
            MigrationWire.send(m, header, driver.migrationWait(), what, new MigrationWire.Sender() {
                @Override
                public void filesystem(OutputStream out) throws IOException {
                    MigrationWire.writeTree(out, metadata, templates,
                            ImageRootfs.writer(rootfsPath(), map, null, new HashSet<>()), snapTrees);
                }

                @Override
                public void state(OutputStream out) throws IOException {
                    DataOutputStream d = new DataOutputStream(new BufferedOutputStream(out, 1 << 16));
                    String prev = preDumps(work, d);
                    Path fin = work.resolve(CriuStream.FINAL);
                    Files.createDirectories(fin);
                    driver.unwatchForStop(LxcContainerInstance.this);
                    downtimeStart[0] = System.nanoTime();
                    finalDumped[0] = true;
                    try {
                        LxcTool.checkpoint(driver.lxcpath(), lxcName(), fin, false, true,
                                prev == null ? null : "../" + prev, CRIU_TIMEOUT, driver.criu().options(fin));
                    } catch (IncusException e) {
                        throw Criu.failure(e, fin, "dump.log");
                    } finally {
                        statusChanged(); // the final dump stopped it (or failed on the way)
                    }
                    long dumped = System.nanoTime();
                    CriuStream.writeDir(d, fin);
                    d.writeByte(CriuStream.TREE);
                    Set<String> names = new HashSet<>();
                    OutputStream chunks = CriuStream.chunked(d);
                    MigrationWire.writeTree(chunks, null, Map.of(),
                            ImageRootfs.writer(rootfsPath(), map, since, names), Map.of());
                    chunks.close();
                    List<String> manifest = new ArrayList<>();
                    for (String n : names) {
                        if (n.startsWith("rootfs/")) {
                            manifest.add(n.substring("rootfs/".length()));
                        }
                    }
                    CriuStream.writeManifest(d, manifest);
                    d.writeByte(CriuStream.END);
                    d.flush();
                    LOG.log(System.Logger.Level.INFO, "{0}: final dump {1} ms, sent {2} ms after it", name(),
                            (dumped - downtimeStart[0]) / 1_000_000, (System.nanoTime() - dumped) / 1_000_000);
                }
            });
            LOG.log(System.Logger.Level.INFO, "Live migration of {0}: down for {1} ms (final dump to restored)",
                    name(), (System.nanoTime() - downtimeStart[0]) / 1_000_000);
            try (LxcContainer c = open()) {
                c.wait("STOPPED", STOP_WAIT_SECONDS);
            }
            volatileSetInternal(Map.of("volatile.last_state.power", PowerState.STOPPED), false);
        } catch (RuntimeException e) {
            if (finalDumped[0]) {
                restoreAfterFailedMigration(work.resolve(CriuStream.FINAL), e);
            }
            throw e;
        } finally {
            AbstractInstances.deleteTree(work);
        }
    }

    /**
     * The pre-dumps of a live migration into {@code work/000}, {@code work/001}, ..., each sent once written;
     * returns the last one's name (null: none, incremental memory is off).
     */
    private String preDumps(Path work, DataOutputStream d) throws IOException {
        Map<String, String> config = expandedConfig();
        if (!ConfigValues.isTrue(config.get("migration.incremental.memory"))) {
            return null;
        }
        if (!driver.criu().dirtyTracking()) {
            // As Incus: without CRIU's memory tracking the migration goes on with the final dump alone.
            LOG.log(System.Logger.Level.WARNING, "{0}: no pre-dumps, CRIU cannot track dirty memory on this host"
                    + " (kernel without CONFIG_MEM_SOFT_DIRTY): the whole memory is dumped while stopped", name());
            return null;
        }
        // Validated as unsigned 32-bit numbers; Incus's defaults.
        long iterations = Long.parseLong(config.getOrDefault("migration.incremental.memory.iterations", "10"));
        long goal = Long.parseLong(config.getOrDefault("migration.incremental.memory.goal", "70"));
        String prev = null;
        for (int i = 0; i + 1 < Math.min(iterations, 1000); i++) { // three-digit directory names
            Path dir = work.resolve(CriuStream.predump(i));
            Files.createDirectories(dir);
            long t0 = System.nanoTime();
            try {
                LxcTool.checkpoint(driver.lxcpath(), lxcName(), dir, true, false, prev == null ? null : "../" + prev,
                        CRIU_TIMEOUT, driver.criu().options(dir));
            } catch (IncusException e) {
                throw Criu.failure(e, dir, "pre-dump.log");
            }
            CriuStream.writeDir(d, dir);
            prev = dir.getFileName().toString();
            long[] pages = CriuStream.pagesWrittenSkipped(dir);
            LOG.log(System.Logger.Level.DEBUG, "{0}: pre-dump {1} in {2} ms, pages written/skipped {3}", name(), i,
                    (System.nanoTime() - t0) / 1_000_000, pages == null ? "?" : pages[0] + "/" + pages[1]);
            if (pages != null && pages[0] + pages[1] > 0 && 100 - (100 * pages[0]) / (pages[0] + pages[1]) > goal) {
                break; // converged: the final dump writes little more
            }
        }
        return prev;
    }

    /** Restores the source from its final dump after a live migration failed past it: it runs on, unchanged. */
    private void restoreAfterFailedMigration(Path fin, RuntimeException failure) {
        try (LxcContainer c = open()) {
            c.wait("STOPPED", STOP_WAIT_SECONDS);
        }
        statusChanged();
        if (isRunning()) {
            driver.watchForStop(this);
            return;
        }
        try {
            LxcTool.restore(driver.lxcpath(), lxcName(), fin, CRIU_TIMEOUT, driver.criu().options(fin));
            statusChanged();
            driver.watchForStop(this);
        } catch (IncusException e) {
            statusChanged();
            failure.addSuppressed(Criu.failure(e, fin, "restore.log"));
            volatileSetInternal(Map.of("volatile.last_state.power", PowerState.STOPPED), false);
        }
    }

    /**
     * Receives a container sent over {@link MigrationWire} (by this driver or another speaking the wire) into
     * {@code Path()/.migrating}, owners shifted by this driver's id map (none for a privileged container), and moves
     * it in place once the source reports success: nothing of a failed migration stays behind.
     */
    @Override
    protected void doMigrateReceive(MigrateReceiveArgs receiveArgs) {
        MigrationWire.receive(receiveArgs.common(), driver.migrationWait(), "Migration into " + ErrorTexts.quote(name()),
                new Received(path().resolve(".migrating")));
    }

    /** What a migration brings, staged until the source reports success. */
    private final class Received implements MigrationWire.Receiver {
        private final Path staging;
        private final Map<String, ImageTar.Visitor> unpackers = new HashMap<>();
        private List<String> snapshotNames = List.of();
        private InstanceRecord record;
        private IdmapSet map;
        private String base;
        private boolean hasMetadata;
        private boolean live;
        private boolean finalReceived;
        private MigrationWire.TreeReader reader;

        Received(Path staging) {
            this.staging = staging;
        }

        @Override
        public void header(MigrationMessage header) {
            record = MigrationWire.check(header, type(), LxcDriver.NAME, CriuStream.FORMAT);
            // The target of a migration is the empty instance made for it: one with a root filesystem or snapshots
            // is another instance that has the name already (Incus's conflict at create).
            boolean empty;
            try (var entries = Files.list(rootfsPath())) {
                empty = entries.findAny().isEmpty() && snapshots().isEmpty();
            } catch (java.nio.file.NoSuchFileException e) {
                empty = snapshots().isEmpty();
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read the root filesystem of " + ErrorTexts.quote(name()), e);
            }
            if (!empty) {
                throw new BusyException(ErrorTexts.instanceExists(name()));
            }
            live = MigrationWire.isLive(header);
            if (live) {
                driver.criu().require("Unable to perform container live migration");
            }
            snapshotNames = MigrationWire.snapshotNames(record);
            if (!ConfigValues.isTrue(record.instance().config().get("security.privileged"))) {
                map = driver.allocation().orElseThrow(() -> new InvalidArgumentException(NO_ALLOCATION));
            }
            base = header.field(BASE_CONF_FIELD);
            AbstractInstances.deleteTree(staging);
        }

        @Override
        public void filesystem(InputStream in) throws IOException {
            Files.createDirectories(staging.resolve("templates"));
            reader = new MigrationWire.TreeReader() {
                @Override
                public void metadata(ImageMetadata metadata) throws IOException {
                    Files.write(staging.resolve(METADATA), RestJson.toYaml(metadata));
                    hasMetadata = true;
                }

                @Override
                public void template(String name, byte[] content) throws IOException {
                    Files.write(staging.resolve("templates").resolve(name), content);
                }

                @Override
                public void entry(String snapshot, ImageTar.Entry e, InputStream content) throws IOException {
                    ImageTar.Visitor unpacker = unpackers.get(String.valueOf(snapshot));
                    if (unpacker == null) {
                        Path root = stagedRootfs(snapshot);
                        Files.createDirectories(root);
                        unpacker = ImageRootfs.unpacker(root, map);
                        unpackers.put(String.valueOf(snapshot), unpacker);
                    }
                    unpacker.entry(e, content);
                }
            };
            MigrationWire.readTree(in, snapshotNames, reader);
        }

        /**
         * The {@link CriuStream} of a live migration: the CRIU image directories into {@code staging/state}, the
         * files changed during the first pass over the staged root filesystem, and the entries gone since removed.
         */
        @Override
        public void state(InputStream in) throws IOException {
            DataInputStream d = new DataInputStream(new BufferedInputStream(in, 1 << 16));
            Path images = staging.resolve("state");
            Files.createDirectories(images);
            while (true) {
                int kind = d.read();
                switch (kind) {
                    case CriuStream.DIR -> finalReceived |= CriuStream.FINAL.equals(CriuStream.readDir(d, images));
                    case CriuStream.TREE -> MigrationWire.readTree(CriuStream.unchunked(d), List.of(), reader);
                    case CriuStream.MANIFEST -> prune(stagedRootfs(null), new HashSet<>(CriuStream.readManifest(d)));
                    case CriuStream.END -> {
                        if (!finalReceived) {
                            throw new InvalidArgumentException("The live migration stream holds no final dump");
                        }
                        return;
                    }
                    case -1 -> throw new EOFException("The live migration stream ended before its end mark");
                    default -> throw new InvalidArgumentException("Unknown live migration frame " + kind);
                }
            }
        }

        /** Deletes what lies under {@code root} but is not in {@code keep} (names relative to it). */
        private void prune(Path root, Set<String> keep) throws IOException {
            List<Path> gone = new ArrayList<>();
            try (var walk = Files.walk(root)) {
                walk.forEach(p -> {
                    String rel = root.relativize(p).toString();
                    if (!rel.isEmpty() && !keep.contains(rel)) {
                        gone.add(p);
                    }
                });
            }
            for (Path p : gone) {
                AbstractInstances.deleteTree(p);
            }
        }

        private Path stagedRootfs(String snapshot) {
            return snapshot == null ? staging.resolve("rootfs") : staging.resolve("snapshots").resolve(snapshot)
                    .resolve("rootfs");
        }

        @Override
        public void commit() {
            InstanceRecord previous = record();
            try {
                for (String snap : snapshotNames) {
                    Files.createDirectories(stagedRootfs(snap)); // a snapshot sent without entries is empty
                }
                Files.createDirectories(stagedRootfs(null));
                for (InstanceArgs old : snapshotArgs()) {
                    AbstractInstances.deleteTree(snapshotRootfs(old).getParent());
                }
                AbstractInstances.deleteTree(rootfsPath());
                Files.move(stagedRootfs(null), rootfsPath());
                for (String snap : snapshotNames) {
                    Path target = snapshotRootfs(record.instance().toBuilder().project(project().name())
                            .name(NameRules.snapshotFullName(name(), snap)).build());
                    AbstractInstances.deleteTree(target.getParent());
                    Files.createDirectories(target.getParent());
                    Files.move(stagedRootfs(snap), target);
                }
                Files.deleteIfExists(path().resolve(METADATA));
                AbstractInstances.deleteTree(templatesPath());
                if (hasMetadata) {
                    Files.move(staging.resolve(METADATA), path().resolve(METADATA));
                    Files.move(staging.resolve("templates"), templatesPath());
                }
                Files.createDirectories(lxcDir());
                Files.writeString(lxcDir().resolve("base.conf"), base != null ? base
                        : String.join("\n", GENERIC_BASE) + "\n", StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot put the migrated container " + ErrorTexts.quote(name())
                        + " in place", e);
            }
            List<InstanceArgs> snaps = new ArrayList<>();
            record.snapshots().forEach(snap -> snaps.add(withIdmap(snap, map)));
            adoptDefinition(new InstanceRecord(withIdmap(record.instance(), map), snaps));
            writeConfig();
            try {
                if (live) {
                    restoreMigrated(staging.resolve("state").resolve(CriuStream.FINAL));
                }
            } catch (RuntimeException e) {
                rollBack(previous, e);
                throw e;
            } finally {
                AbstractInstances.deleteTree(staging);
            }
        }

        /**
         * The container could not be restored here: the source runs on (it restores itself), so this side goes
         * back to what it was, an empty root filesystem and its former definition.
         */
        private void rollBack(InstanceRecord previous, RuntimeException failure) {
            try {
                for (InstanceArgs snap : snapshotArgs()) {
                    AbstractInstances.deleteTree(snapshotRootfs(snap).getParent());
                }
                try (var children = Files.list(rootfsPath())) {
                    children.forEach(AbstractInstances::deleteTree);
                }
                adoptDefinition(previous);
                writeConfig();
            } catch (IOException | RuntimeException e) {
                failure.addSuppressed(e);
            }
        }

        @Override
        public void abort() {
            AbstractInstances.deleteTree(staging);
        }
    }

    /** Restores a live-migrated container from the final dump received, as a stateful start does. */
    private void restoreMigrated(Path fin) {
        if (!privileged()) {
            requireSearchableParents(rootfsPath());
        }
        try {
            Files.createDirectories(logPath());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + logPath(), e);
        }
        long t0 = System.nanoTime();
        try {
            LxcTool.restore(driver.lxcpath(), lxcName(), fin, CRIU_TIMEOUT, driver.criu().options(fin));
        } catch (IncusException e) {
            throw Criu.failure(e, fin, "restore.log");
        } finally {
            statusChanged();
        }
        LOG.log(System.Logger.Level.INFO, "{0}: restored in {1} ms", name(), (System.nanoTime() - t0) / 1_000_000);
        driver.watchForStop(this);
        Map<String, String> changes = new HashMap<>(Map.of("volatile.last_state.power", PowerState.RUNNING));
        String next = localConfig().get("volatile.idmap.next");
        if (next != null) {
            changes.put("volatile.idmap.current", next);
            changes.put("volatile.last_state.idmap", next);
        }
        volatileSetInternal(changes, true);
    }

    /** {@code a} with the volatile id map keys of a stopped container whose disk is shifted by {@code map}. */
    private static InstanceArgs withIdmap(InstanceArgs a, IdmapSet map) {
        Map<String, String> c = new HashMap<>(a.config());
        String json = VolatileIdmaps.toJson(map == null ? new IdmapSet(List.of()) : map);
        c.put("volatile.idmap.base", map == null ? "0" : Long.toString(map.entries().get(0).hostId()));
        c.put(VolatileIdmaps.NEXT, json);
        c.put(VolatileIdmaps.DISK, json);
        c.remove(VolatileIdmaps.CURRENT);
        return a.toBuilder().config(c).build();
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
    public void insertSeccompUnixDevice(String prefix, io.github.incus4j.api.model.Device device, int pid) {
        if (pid < 0) {
            throw new InvalidArgumentException("Invalid request PID specified");
        }
        Objects.requireNonNull(device, "device");
        if (prefix == null || prefix.isEmpty() || prefix.contains("/")) {
            throw new InvalidArgumentException("Invalid device prefix " + ErrorTexts.quote(String.valueOf(prefix)));
        }
        if (!isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, statusCode());
        }
        Path proc = Path.of("/proc", Integer.toString(pid));
        String path = device.get("path");
        if (path == null || path.isEmpty()) {
            throw new InvalidArgumentException("Missing device path");
        }
        long uid;
        long gid;
        try {
            String root = Files.readSymbolicLink(proc.resolve("root")).toString();
            if (!path.startsWith("/")) {
                String cwd = Files.readSymbolicLink(proc.resolve("cwd")).toString();
                if (cwd.startsWith(root) && !root.equals("/")) {
                    cwd = cwd.substring(root.length());
                }
                path = cwd + "/" + path;
            }
            long[] ids = taskIds(proc);
            uid = ids[0];
            gid = ids[1];
        } catch (IOException e) {
            throw new NotFoundException("Process " + pid + " not found: " + e.getMessage());
        }
        IdmapSet map = currentIdmap().orElse(null);
        Map<String, String> m = new HashMap<>(device.config());
        m.put("path", path);
        m.put("uid", Long.toString(map == null ? uid : fromHost(map, uid, true)));
        m.put("gid", Long.toString(map == null ? gid : fromHost(map, gid, false)));
        if (m.get("mode") != null) {
            try {
                m.put("mode", Integer.toOctalString(Integer.parseInt(m.get("mode").trim(), 8) & 07777));
            } catch (NumberFormatException e) {
                throw new InvalidArgumentException("Invalid device mode " + ErrorTexts.quote(m.get("mode")));
            }
        }
        m.remove("source");
        LxcDevices.Node n = runningDevices().makeNode(prefix, new io.github.incus4j.api.model.Device(m), false);
        try {
            io.github.incus4j.lxc.binding.MountInjector.bind(pid, n.host(), "/" + n.target(), false, false, false,
                    null, runningDevices().creator());
        } finally {
            try {
                Files.deleteIfExists(n.host());
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "Cannot remove " + n.host(), e);
            }
        }
    }

    /** The real uid and gid of a process, from its {@code status}. */
    private static long[] taskIds(Path proc) throws IOException {
        long[] ids = {-1, -1};
        for (String line : Files.readAllLines(proc.resolve("status"))) {
            if (line.startsWith("Uid:")) {
                ids[0] = Long.parseLong(line.substring(4).trim().split("\\s+")[0]);
            } else if (line.startsWith("Gid:")) {
                ids[1] = Long.parseLong(line.substring(4).trim().split("\\s+")[0]);
            }
        }
        return ids;
    }

    /** A host id as the container sees it (the overflow id when unmapped). */
    private static long fromHost(IdmapSet map, long hostId, boolean uid) {
        for (IdmapEntry e : map.entries()) {
            if ((uid ? e.isUid() : e.isGid()) && hostId >= e.hostId() && hostId < e.hostId() + e.mapRange()) {
                return e.nsId() + hostId - e.hostId();
            }
        }
        return RootDirectory.OVERFLOW_ID;
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
