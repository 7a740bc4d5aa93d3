package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.ConfigKeys;
import io.github.incus4j.api.internal.config.ProfileExpansion;
import io.github.incus4j.api.internal.config.DeviceChanges;
import io.github.incus4j.api.internal.config.DeviceRules;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.internal.store.BackupYaml;
import io.github.incus4j.api.internal.store.RecordStore;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.model.Project;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apiguardian.api.API;

/**
 * The driver-independent half of {@link Instances} (the counterpart of Incus's instance loading and creation code):
 * name and config validation before anything touches the disk, the registry of instances of one root, durable
 * records ({@code backup.yaml}, written atomically) found again when the root is reopened, the operation-lock
 * registry, and the driver's named daemon threads. A driver extends it and supplies the instance handles and the
 * storage work.
 *
 * @param <I> the driver's instance class
 */
@API(status = EXPERIMENTAL)
public abstract class AbstractInstances<I extends AbstractInstance> implements Instances {
    private static final System.Logger LOG = System.getLogger(AbstractInstances.class.getName());

    private final Info info;
    private final InstancePaths paths;
    private final OperationLocks locks;
    private final Clock clock;
    private final String node;
    private final ConcurrentHashMap<String, I> instances = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Integer> ids = new ConcurrentHashMap<>();
    private final AtomicInteger nextId = new AtomicInteger();
    private final AtomicInteger threadCount = new AtomicInteger();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final ExecutorService executor;

    /**
     * @param info the driver's info
     * @param root the root directory (created if missing)
     * @param locks the operation-lock registry (its wait bound applies to every lock wait of this driver)
     * @param clock the clock for creation, last-use and snapshot dates
     */
    protected AbstractInstances(Info info, Path root, OperationLocks locks, Clock clock) {
        this.info = info;
        this.paths = new InstancePaths(root.toAbsolutePath().normalize());
        this.locks = locks;
        this.clock = clock;
        this.node = "none";
        try {
            Files.createDirectories(paths.root());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the driver root " + root, e);
        }
        this.executor = Executors.newCachedThreadPool(threadFactory("worker"));
    }

    // ---- what a driver supplies ---------------------------------------------------------------------------------

    /** A handle for an instance defined by {@code record} (just created, or read back from disk). */
    protected abstract I newInstance(InstanceRecord record);

    /**
     * Refuses, before anything is written, a source this driver cannot use (e.g. a template it does not know).
     * The default accepts every source.
     */
    protected void checkSource(InstanceType type, InstanceSource source) {
    }

    /**
     * Whether an image for an instance of {@code type} carries a disk ({@code rootfs.img}, a qcow2 root filesystem
     * file) rather than a root filesystem tree; the default says so for VMs. Image sources are checked against it
     * ({@link ImageSources#check}) before anything is written.
     */
    protected boolean diskImage(InstanceType type) {
        return type == InstanceType.VM;
    }

    /**
     * Whether {@link #createStorage} reads an image for an instance of {@code type} through
     * {@link ImageSources#unpackRootfs}, which validates it as it unpacks it. The base class then refuses beforehand
     * only what shows without decompressing the image ({@link ImageSources#checkBeforeUnpack}), so that the image is
     * decompressed once; a bad one is refused after part of it was written, which the removal of the instance's
     * directories on failure undoes. The default is false: an image is read whole before anything is written.
     */
    protected boolean checksImageWhileUnpacking(InstanceType type) {
        return false;
    }

    /**
     * Creates the new instance's storage from {@code source}. On failure the base class removes the instance's
     * directories, so the driver may simply throw.
     */
    protected abstract void createStorage(I instance, InstanceSource source);

    /**
     * Whether records are fsynced (crash-safe for the machine). Real drivers keep the default; a test driver may
     * trade machine-crash durability for speed (its records still never tear).
     */
    protected boolean syncRecords() {
        return true;
    }

    /** Releases driver resources on {@link #close()} (after records are flushed). */
    protected void closeDriver() {
    }

    // ---- Instances ----------------------------------------------------------------------------------------------

    @Override
    public Info info() {
        return info;
    }

    @Override
    public Path root() {
        return paths.root();
    }

    /** The layout of this root. */
    public InstancePaths paths() {
        return paths;
    }

    /** The operation-lock registry of this root. */
    public OperationLocks locks() {
        return locks;
    }

    /** The clock dates come from. */
    public Clock clock() {
        return clock;
    }

    /** The cluster member name Incus reports standalone ({@code none}). */
    public String node() {
        return node;
    }

    @Override
    public Instance create(InstanceArgs args, InstanceSource source) {
        ensureOpen();
        InstanceArgs filled = validateNew(args);
        checkSource(filled.type(), source);
        // Every driver's images are read the same way: an incomplete or corrupt one is refused here, before the
        // instance's directories exist (or, read once while unpacking, refused then, its directories removed).
        if (checksImageWhileUnpacking(filled.type())) {
            ImageSources.checkBeforeUnpack(source);
        } else {
            ImageSources.check(diskImage(filled.type()), source);
        }
        String key = key(filled.project(), filled.name());
        if (instances.containsKey(key)) {
            throw new BusyException(ErrorTexts.instanceExists(filled.name()));
        }
        // The create lock keeps a concurrent create, rename or delete of the same name out while storage is made.
        InstanceOperation lock = locks.create(filled.project(), filled.name(), null, OperationLocks.Action.CREATE,
                false, false);
        I instance = newInstance(new InstanceRecord(filled, List.of()));
        AbstractInstance.runLocked(lock, () -> {
            if (instances.putIfAbsent(key, instance) != null) {
                throw new BusyException(ErrorTexts.instanceExists(filled.name()));
            }
            Path typeDir = paths.instancesDir(filled.type());
            boolean firstOfType = !Files.isDirectory(typeDir);
            try {
                createStorage(instance, source);
                instance.persist();
            } catch (RuntimeException | Error e) {
                instances.remove(key, instance);
                removeInstanceDirectories(filled.type(), key);
                if (firstOfType) {
                    removeIfEmpty(typeDir); // a failed creation leaves the root as it found it
                }
                throw e;
            }
        });
        LOG.log(System.Logger.Level.DEBUG, "Created {0} {1}", filled.type(), key);
        return instance;
    }

    @Override
    public Optional<Instance> find(String project, String name) {
        ensureOpen();
        if (name == null || project == null) {
            return Optional.empty();
        }
        if (NameRules.isSnapshot(name)) {
            I parent = instances.get(key(project, NameRules.parentName(name)));
            return parent == null ? Optional.empty() : parent.findSnapshot(NameRules.snapshotPart(name));
        }
        return Optional.ofNullable(instances.get(key(project, name)));
    }

    @Override
    public List<Instance> list() {
        ensureOpen();
        List<Instance> out = new ArrayList<>(instances.values());
        out.sort(Comparator.comparing((Instance i) -> i.project().name()).thenComparing(Instance::name));
        return out;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        for (I i : instances.values()) {
            try {
                i.flushRecord();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "Could not flush the record of " + i.name(), e);
            }
        }
        try {
            closeDriver();
        } finally {
            executor.shutdownNow();
        }
    }

    // ---- services for instances -----------------------------------------------------------------------------------

    /**
     * Runs {@code task} on one of the driver's named daemon threads (stream pumps, watchers). The threads end with
     * {@link #close()}.
     */
    public void execute(Runnable task) {
        executor.execute(task);
    }

    /** A factory of daemon threads named {@code incus4j-<driver>-<purpose>-<n>}. */
    public ThreadFactory threadFactory(String purpose) {
        return r -> {
            Thread t = new Thread(r, "incus4j-" + info.name() + "-" + purpose + "-" + threadCount.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        return closed.get();
    }

    /** The id of an instance or snapshot, allocated on first sight and stable while this root is open. */
    int idFor(String fullKey) {
        return ids.computeIfAbsent(fullKey, k -> nextId.incrementAndGet());
    }

    /** Moves an instance to a new name in the registry, refusing a name in use. */
    void rename(I instance, String project, String oldName, String newName) {
        String newKey = key(project, newName);
        if (instances.putIfAbsent(newKey, instance) != null) {
            throw new BusyException(ErrorTexts.nameInUse(newName));
        }
        instances.remove(key(project, oldName), instance);
        Integer id = ids.remove(key(project, oldName));
        if (id != null) {
            ids.put(newKey, id);
        }
    }

    /** Undoes {@link #rename} after a failure. */
    void unrename(I instance, String project, String oldName, String newName) {
        instances.put(key(project, oldName), instance);
        instances.remove(key(project, newName), instance);
    }

    /** Forgets a deleted instance. */
    void unregister(I instance) {
        instances.remove(key(instance.project().name(), instance.name()), instance);
    }

    /** Registers an instance read back from disk. */
    protected final void register(I instance) {
        instances.put(key(instance.project().name(), instance.name()), instance);
    }

    private static void removeIfEmpty(Path dir) {
        try {
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // Not empty: another instance's creation has begun in it.
            LOG.log(System.Logger.Level.DEBUG, "Keeping {0}: {1}", dir, e.getMessage());
        }
    }

    /**
     * Removes every directory an instance may own (its snapshots, logs, run and devices directories, its path), the
     * record last: a crash midway leaves the record, so a reopen still lists the instance and a delete can finish.
     */
    protected void removeInstanceDirectories(InstanceType type, String fullName) {
        deleteTree(paths.snapshotsDir(type).resolve(fullName));
        deleteTree(paths.logPath(fullName));
        deleteTree(paths.runPath(fullName));
        deleteTree(paths.devicesPath(fullName));
        Path record = paths.recordFile(type, fullName);
        Path dir = paths.path(type, fullName);
        deleteTree(dir, p -> !p.equals(record) && !p.equals(dir));
        try {
            Files.deleteIfExists(record);
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new IncusException("Cannot delete " + dir + ": " + e, e);
        }
    }

    /**
     * Reads every {@code backup.yaml} under the root and registers the instances. Drivers call this at the end of
     * their constructor, once their own fields are set. Unreadable records are skipped with a warning.
     */
    protected final void loadExisting() {
        for (InstanceType type : List.of(InstanceType.CONTAINER, InstanceType.VM)) {
            Path dir = paths.instancesDir(type);
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> entries = Files.list(dir)) {
                for (Path p : (Iterable<Path>) entries.sorted()::iterator) {
                    Path file = p.resolve("backup.yaml");
                    RecordStore.cleanTemporaryFiles(p);
                    Optional<byte[]> bytes = RecordStore.read(file);
                    if (bytes.isEmpty()) {
                        continue;
                    }
                    try {
                        register(newInstance(BackupYaml.read(bytes.get())));
                    } catch (IncusException e) {
                        LOG.log(System.Logger.Level.WARNING, "Skipping unreadable instance record " + file, e);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot list " + dir, e);
            }
        }
    }

    /**
     * The devices this driver applies to instances of {@code type} (see {@link DeviceSupport}); anything else Incus
     * accepts is refused at create and update with a {@link io.github.incus4j.api.NotSupportedException} naming the
     * device and the driver. By default only the root disk and {@code none}: a driver declares what it implements.
     */
    protected DeviceSupport deviceSupport(InstanceType type) {
        return DeviceSupport.rootDiskOnly(info.name());
    }

    /** Validates a creation request and fills what the driver sets: dates, architecture, UUIDs. */
    private InstanceArgs validateNew(InstanceArgs args) {
        if (args.type() == InstanceType.ANY) {
            throw new InvalidArgumentException(ErrorTexts.INVALID_INSTANCE_TYPE);
        }
        if (args.snapshot()) {
            throw new InvalidArgumentException("Snapshots are created with Instance.snapshot, not Instances.create");
        }
        NameRules.validateInstanceName(args.name(), false);
        validateProjectName(args.project());
        validateDefinition(args.type(), args.config(), args.devices().map(), args.profiles());
        if (!info.type().equals(InstanceType.ANY) && info.type() != args.type()) {
            throw new InvalidArgumentException("The " + info.name() + " driver only runs " + info.type().apiName()
                    + " instances, not " + args.type().apiName());
        }
        Devices expanded = ProfileExpansion.expandDevices(args.profiles(), args.devices());
        deviceSupport(args.type()).check(args.type(), expanded);
        // devicesAdd loads every device at create: a host source that is not there fails it.
        for (Map.Entry<String, Device> e : expanded.sorted()) {
            String missing = DeviceChanges.missingSource(e.getKey(), e.getValue());
            if (missing != null && DeviceChanges.appliesTo(args.type(), e.getValue())) {
                throw new InvalidArgumentException("Failed add validation for device "
                        + ErrorTexts.quote(e.getKey()) + ": " + missing);
            }
        }
        Instant now = clock.instant();
        Map<String, String> config = new HashMap<>(args.config());
        String uuid = UUID.randomUUID().toString();
        config.putIfAbsent("volatile.uuid", uuid);
        config.putIfAbsent("volatile.uuid.generation", config.get("volatile.uuid"));
        // Incus loads every device when it creates an instance (devicesAdd): NICs get their volatile MAC and name.
        DeviceChanges.fillVolatile(args.type(), expanded, null, config);
        return args.toBuilder()
                .id(0)
                .config(config)
                .architecture(args.architecture() == 0 ? io.github.incus4j.api.Architectures.host() : args.architecture())
                .creationDate(args.creationDate() == null ? now : args.creationDate())
                .lastUsedDate(args.lastUsedDate() == null ? Instant.EPOCH : args.lastUsedDate())
                .stateful(false)
                .build();
    }

    /**
     * Incus's config and device validation for an instance of {@code type}: every local key, every profile's keys
     * (as profile config), device names, and no duplicate profile.
     */
    static void validateDefinition(InstanceType type, Map<String, String> config, Map<String, Device> devices,
            List<Profile> profiles) {
        ConfigKeys.validateConfig(type, config, false);
        Set<String> seen = new HashSet<>();
        for (Profile p : profiles) {
            NameRules.validateProfileName(p.name());
            if (!seen.add(p.name())) {
                throw new InvalidArgumentException(ErrorTexts.DUPLICATE_PROFILE);
            }
            // Profiles are shared by containers and VMs: Incus checks their keys for any instance type.
            ConfigKeys.validateConfig(InstanceType.ANY, p.config(), true);
            validateDevices(InstanceType.ANY, p.devices().map());
        }
        validateDevices(type, devices);
    }

    private static void validateDevices(InstanceType type, Map<String, Device> devices) {
        DeviceRules.validate(type, devices);
    }

    private static void validateProjectName(String project) {
        NameRules.validateProjectName(project);
    }

    static String key(String project, String name) {
        return Project.storageName(project, name);
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IncusException("This " + info.name() + " driver was closed");
        }
    }

    /** Deletes a file tree if it exists (without following symlinks out of it). */
    public static void deleteTree(Path dir) {
        deleteTree(dir, p -> true);
    }

    /** Deletes the entries of a file tree that {@code which} accepts, deepest first. */
    private static void deleteTree(Path dir, java.util.function.Predicate<Path> which) {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                if (which.test(p)) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new IncusException("Cannot delete " + dir + ": " + e.getMessage(), e);
        }
    }
}
