package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.spi.DeviceSupport;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.spi.OperationLocks;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apiguardian.api.API;

/**
 * The {@code fake} driver opened on a root directory: containers and virtual machines simulated in memory, with
 * Incus's semantics from the shared base classes. Obtain it with {@code InstanceDrivers.open("fake", root)} or
 * {@link FakeDriver#open(Path, Duration)}.
 *
 * <p>Sources: {@link InstanceSource#none()} gives a minimal root filesystem ({@code /bin /dev /etc /home /proc /root
 * /run /sbin /sys /tmp /usr /var}, {@code /etc/hostname}, and {@code /etc/passwd} and {@code /etc/group} with
 * root); {@code template("busybox")} adds {@code /bin/busybox} and its applet links, like liblxc's busybox template;
 * {@code image(tarball)} unpacks an Incus image (its {@code create} templates are applied at first start, as Incus
 * defers them with {@code volatile.apply_template}); {@code rootfs(dir)} copies a host directory. Anything else is
 * refused before anything is written.
 *
 * <p>Test extras: {@link #commands()} (programs {@code exec} can run), {@link #faults()} (fault injection),
 * {@link #fake(String, String)} (typed handles). {@link #close()} powers off the instances (commands die), writes
 * their files to disk and stops the driver's threads; reopening the root finds them, stopped.
 */
@API(status = EXPERIMENTAL)
public final class FakeInstances extends AbstractInstances<FakeInstance> {
    private static final System.Logger LOG = System.getLogger(FakeInstances.class.getName());
    private static final int FIRST_PID = 10_000;

    private final FakeCommands commands = new FakeCommands();
    private final Faults faults = new Faults();
    private final AtomicInteger pids = new AtomicInteger(FIRST_PID);
    private final Duration lockWait;
    private final AtomicBoolean closing = new AtomicBoolean();

    FakeInstances(Path root, Duration lockWait, Clock clock) {
        super(FakeDriver.INFO, root, new OperationLocks(lockWait), clock);
        this.lockWait = lockWait;
        loadExisting();
    }

    /** The programs {@code exec} runs in this driver's instances. */
    public FakeCommands commands() {
        return commands;
    }

    /** Fault injection for this driver's instances. */
    public Faults faults() {
        return faults;
    }

    /**
     * The instance {@code name} of {@code project} (snapshot names {@code parent/snap} accepted), typed.
     *
     * @throws NotFoundException {@code Instance not found}
     */
    public FakeInstance fake(String project, String name) {
        return (FakeInstance) load(project, name);
    }

    /** The instance {@code name} of the default project, typed. */
    public FakeInstance fake(String name) {
        return fake(Project.DEFAULT_NAME, name);
    }

    /** The bound on lock waits and migration waits of this driver. */
    public Duration lockWait() {
        return lockWait;
    }

    int nextPid() {
        return pids.getAndIncrement();
    }

    // =============================================================================================================
    // AbstractInstances hooks
    // =============================================================================================================

    @Override
    protected FakeInstance newInstance(InstanceRecord record) {
        return record.instance().type() == InstanceType.VM ? new FakeVm(this, record) : new FakeContainer(this, record);
    }

    /** Records are written atomically but not fsynced: a test fake need not survive a power cut, and is 4x faster. */
    /**
     * What the fake models: NICs of every type (an interface in the state and metrics, a host-side name in
     * {@code volatile.<dev>.host_name}), disks sharing a host directory, and TCP proxies to {@link FakeService}s.
     */
    @Override
    protected DeviceSupport deviceSupport(InstanceType type) {
        DeviceSupport s = DeviceSupport.rootDiskOnly(FakeDriver.NAME)
                .with("disk", Set.of("source", "path", "readonly", "required", "optional", "shift", "propagation"))
                .with("proxy", Set.of("listen", "connect", "bind", "nat"));
        for (String nicType : List.of("bridged", "p2p", "macvlan", "physical", "ipvlan", "routed", "sriov", "ovn")) {
            s = s.with("nic:" + nicType, NIC_OPTIONS);
        }
        return s;
    }

    private static final Set<String> NIC_OPTIONS = Set.of("name", "hwaddr", "mtu", "parent", "network", "host_name",
            "ipv4.address", "ipv6.address", "limits.ingress", "limits.egress", "limits.max", "limits.priority",
            "boot.priority");

    @Override
    protected boolean syncRecords() {
        return false;
    }

    /** The fake's VMs hold a file tree like its containers: their images carry {@code rootfs/}, not a disk. */
    @Override
    protected boolean diskImage(InstanceType type) {
        return false;
    }

    @Override
    protected void checkSource(InstanceType type, InstanceSource source) {
        if (source == null || source instanceof InstanceSource.None) {
            return;
        }
        if (source instanceof InstanceSource.Template t) {
            if (!t.name().equals("busybox")) {
                throw new NotFoundException("Unknown template " + ErrorTexts.quote(t.name())
                        + ": the fake driver provides \"busybox\"");
            }
        } else if (source instanceof InstanceSource.ImageTarball i) {
            if (!Files.isRegularFile(i.tarball())) {
                throw new NotFoundException("Image tarball " + ErrorTexts.quote(i.tarball().toString()) + " not found");
            }
        } else if (source instanceof InstanceSource.RootfsDirectory d) {
            if (!Files.isDirectory(d.directory())) {
                throw new NotFoundException("Root filesystem directory " + ErrorTexts.quote(d.directory().toString())
                        + " not found");
            }
        }
    }

    @Override
    protected void createStorage(FakeInstance instance, InstanceSource source) {
        faults.hit("create");
        long now = clock().millis();
        if (ImageSources.isImage(source)) {
            Unpacked u = unpack(source);
            Map<String, String> config = new HashMap<>();
            u.files().metadata().properties().forEach((k, v) -> config.put("image." + k, v));
            config.put("volatile.base_image", u.fingerprint());
            config.put("volatile.apply_template", TemplateTrigger.CREATE.value());
            int arch = Architectures.UNKNOWN;
            try {
                String a = u.files().metadata().architecture();
                arch = a.isEmpty() ? Architectures.UNKNOWN : Architectures.id(a);
            } catch (InvalidArgumentException unknown) {
                LOG.log(System.Logger.Level.DEBUG, "Image architecture unknown: {0}", unknown.getMessage());
            }
            instance.initStorage(u.tree(), u.files(), config, arch);
        } else if (source instanceof InstanceSource.RootfsDirectory d) {
            instance.initStorage(copyHostTree(d.directory()), FakeInstance.ImageFiles.NONE, Map.of(),
                    Architectures.UNKNOWN);
        } else {
            Dir base = source instanceof InstanceSource.Template ? MemFs.BUSYBOX : MemFs.MINIMAL;
            instance.initStorage(withHostname(base, instance.name(), now), FakeInstance.ImageFiles.NONE, Map.of(),
                    Architectures.UNKNOWN);
        }
    }

    /** {@code base} with {@code /etc/hostname} holding {@code name}: the only per-instance part of a base tree. */
    static Dir withHostname(Dir base, String name, long now) {
        MemFs.File f = new MemFs.File(0644, 0, 0, now, MemFs.utf8(name + "\n"));
        return MemFs.update(base, List.of("etc", "hostname"), now, old -> f);
    }

    /** An unpacked image: its tree, metadata and templates, and its fingerprint. */
    record Unpacked(Dir tree, FakeInstance.ImageFiles files, String fingerprint) {
    }

    /** Reads a unified Incus image (any compression, or squashfs), refusing an incomplete one. */
    Unpacked unpack(Path image) {
        InstanceSource source = InstanceSource.image(image);
        ImageSources.check(false, source);
        return unpack(source);
    }

    /** Reads an image source (unified or split), checked by {@link ImageSources#check} before. */
    Unpacked unpack(InstanceSource source) {
        MemFs.Builder b = new MemFs.Builder(0755, 0, 0, clock().millis());
        ImageSources.Image image = ImageSources.unpackRootfs(source, (e, content) -> FsTar.add(b, e.name(), e, content),
                null);
        Dir tree = (Dir) MemFs.share(MemFs.share(b.build(), MemFs.BUSYBOX), MemFs.MINIMAL);
        return new Unpacked(tree, new FakeInstance.ImageFiles(image.metadata(), new TreeMap<>(image.templates())),
                image.fingerprint());
    }

    /** Copies a host directory tree (files, directories, symlinks; owners and modes kept where readable). */
    private Dir copyHostTree(Path dir) {
        MemFs.Builder b = new MemFs.Builder(0755, 0, 0, clock().millis());
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                    int[] meta = meta(d, attrs);
                    b.dir(relative(dir, d), meta[0], meta[1], meta[2], attrs.lastModifiedTime().toMillis());
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                    int[] meta = meta(f, attrs);
                    long mtime = attrs.lastModifiedTime().toMillis();
                    if (attrs.isSymbolicLink()) {
                        b.symlink(relative(dir, f), Files.readSymbolicLink(f).toString(), meta[1], meta[2], mtime);
                    } else if (attrs.isRegularFile()) {
                        b.file(relative(dir, f), Files.readAllBytes(f), meta[0], meta[1], meta[2], mtime);
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new IncusException("Cannot copy the root filesystem " + dir, e);
        }
        return (Dir) MemFs.share(b.build(), MemFs.MINIMAL);
    }

    private static String relative(Path root, Path p) {
        return root.relativize(p).toString().replace('\\', '/');
    }

    /** Mode bits, uid and gid of a host file (0644/0755, 0, 0 where the file system does not tell). */
    private static int[] meta(Path p, BasicFileAttributes attrs) {
        int mode = attrs.isDirectory() ? 0755 : 0644;
        int uid = 0;
        int gid = 0;
        try {
            PosixFileAttributes posix = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            mode = 0;
            int bit = 0400;
            for (PosixFilePermission perm : PosixFilePermission.values()) {
                if (posix.permissions().contains(perm)) {
                    mode |= bit;
                }
                bit >>= 1;
            }
            uid = ((Number) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS)).intValue();
            gid = ((Number) Files.getAttribute(p, "unix:gid", LinkOption.NOFOLLOW_LINKS)).intValue();
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException e) {
            // Not a POSIX file system: the defaults stand.
        }
        return new int[] {mode, uid, gid};
    }

    /**
     * Powers the instances off (their commands die), writes their files to disk (for the next open of this root)
     * and stops the driver's threads. Idempotent.
     */
    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        List<Instance> all = list();
        for (Instance i : all) {
            ((FakeInstance) i).hostShutdown();
        }
        try {
            super.close();
        } finally {
            for (Instance i : all) {
                try {
                    ((FakeInstance) i).disk().saveToDisk();
                } catch (IOException | RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "Could not save the files of " + i.name(), e);
                }
            }
        }
    }
}
