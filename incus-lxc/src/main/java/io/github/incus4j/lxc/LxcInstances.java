package io.github.incus4j.lxc;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.spi.DeviceSupport;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.spi.OperationLocks;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.lxc.binding.Liblxc;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apiguardian.api.API;

/**
 * The containers of one root, run by liblxc. Besides Incus's layout ({@code containers/}, {@code logs/}...) the root
 * holds {@code lxc/}, the private lxcpath: one directory per container with liblxc's {@code config} and the
 * template's {@code base.conf}. Sources: the {@code busybox} template, image tarballs, rootfs directories and none
 * (an empty container, e.g. a migration target).
 */
@API(status = EXPERIMENTAL)
public final class LxcInstances extends AbstractInstances<LxcContainerInstance> {
    /** How often the stop watcher looks at the running containers (a state query costs about 60 µs). */
    private static final long STOP_POLL_MILLIS = 200;

    private final Liblxc liblxc;
    private final Set<LxcContainerInstance> watchedForStop = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean stopWatcherRunning = new AtomicBoolean();
    private final Path lxcpath;
    private final Optional<IdmapSet> allocation;
    private final Duration lockWait;
    private volatile Criu criu;
    private final StatusWatcher statusWatcher;
    /** The managed networks declared since open, by name; guarded by itself. */
    private final Map<String, ManagedNetwork> networks = new TreeMap<>();

    LxcInstances(Info info, Liblxc liblxc, Path root, Duration lockWait, Optional<IdmapSet> allocation) {
        super(info, root, new OperationLocks(lockWait), Clock.systemUTC());
        this.liblxc = liblxc;
        this.lxcpath = paths().root().resolve("lxc");
        this.allocation = allocation;
        this.lockWait = lockWait;
        try {
            Files.createDirectories(lxcpath);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the lxcpath " + lxcpath, e);
        }
        loadExisting();
        this.statusWatcher = new StatusWatcher(threadFactory("status")); // last: nothing after it fails
        for (LxcContainerInstance i : instances()) {
            if (i.isRunning()) {
                watchForStop(i);
            }
        }
    }

    /** The private lxcpath ({@code -P} of the lxc tools). */
    public Path lxcpath() {
        return lxcpath;
    }

    /**
     * Declares a network this driver manages, as Incus's {@code incus network create <name> <config>} for a
     * {@code bridge} network: a bridge named {@code name} with the host address of {@code ipv4.address}, DHCP and DNS
     * from a {@code dnsmasq} the driver runs, and with {@code ipv4.nat=true} a masquerade rule (nftables table
     * {@code ip incus4j_<name>}). A container's {@code nic} device reaches it with {@code network=<name>} (or
     * {@code nictype=bridged, parent=<name>}), and may ask for a static {@code ipv4.address} in its subnet.
     *
     * <p>Keys (Incus's): {@code ipv4.address} (required, e.g. {@code 10.214.1.1/24}), {@code ipv4.nat} (default
     * false), {@code ipv4.dhcp} (default true), {@code ipv4.dhcp.ranges}, {@code dns.domain} (default
     * {@code incus}), {@code bridge.mtu}, {@code user.*}. The definition lasts until {@link #deleteNetwork} or
     * {@link #close()}, which remove the bridge (declare it again after each open); its leases and static allocations
     * stay in {@code <root>/networks/<name>/}. Needs root, {@code ip} (iproute2), {@code dnsmasq} (Debian's
     * {@code dnsmasq-base}) and, for NAT, {@code nft}.
     *
     * @throws io.github.incus4j.api.InvalidArgumentException for a bad name, an unknown key or a bad value
     * @throws io.github.incus4j.api.BusyException when a network of that name is declared already
     * @throws io.github.incus4j.api.IncusException when the bridge, dnsmasq or the rules cannot be set up
     */
    public void createNetwork(String name, Map<String, String> config) {
        if (name == null || config == null) {
            throw new InvalidArgumentException("A network needs a name and a config (" + name + ", " + config + ")");
        }
        requireOpen();
        synchronized (networks) {
            if (networks.containsKey(name)) {
                throw new BusyException("The network already exists");
            }
            networks.put(name, ManagedNetwork.start(name, config, paths().root().resolve("networks").resolve(
                    String.valueOf(name))));
        }
    }

    /**
     * Removes a managed network: stops its dnsmasq, removes its NAT rules and its bridge. Running containers attached
     * to it lose their link.
     *
     * @throws NotFoundException when no network of that name is declared
     */
    public void deleteNetwork(String name) {
        ManagedNetwork n;
        synchronized (networks) {
            n = networks.remove(name);
        }
        if (n == null) {
            throw new NotFoundException("Network not found");
        }
        n.close();
    }

    /** The managed networks' definitions by name. */
    public Map<String, Map<String, String>> networks() {
        synchronized (networks) {
            Map<String, Map<String, String>> out = new TreeMap<>();
            networks.forEach((k, v) -> out.put(k, v.config()));
            return Map.copyOf(out);
        }
    }

    /** A declared managed network, null when none has that name. */
    ManagedNetwork network(String name) {
        synchronized (networks) {
            return networks.get(name);
        }
    }

    /**
     * Removes the static DHCP allocations of a container's NICs (a deleted or renamed container: a start writes them
     * again under the new name) from every network directory, and has a running dnsmasq forget them (SIGHUP).
     */
    void forgetStaticLeases(String fullName) {
        Path dir = paths().root().resolve("networks");
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (var nets = Files.list(dir)) {
            for (Path net : nets.toList()) {
                Path hosts = net.resolve("dnsmasq.hosts");
                if (!Files.isDirectory(hosts)) {
                    continue;
                }
                boolean removed = false;
                try (var files = Files.list(hosts)) {
                    for (Path f : files.toList()) {
                        // Instance names have no dots: "<fullName>." cannot be another instance's prefix.
                        if (f.getFileName().toString().startsWith(fullName + ".")) {
                            Files.deleteIfExists(f);
                            removed = true;
                        }
                    }
                }
                ManagedNetwork n = network(net.getFileName().toString());
                if (removed && n != null) {
                    n.reload();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot remove the static DHCP allocations of " + fullName, e);
        }
    }

    private void requireOpen() {
        if (isClosed()) {
            throw new IncusException("This lxc driver was closed");
        }
    }

    /** Stops the managed networks. */
    @Override
    protected void closeDriver() {
        for (LxcContainerInstance i : watchedForStop) { // the running ones: list() refuses once closed
            i.closeDevices();
        }
        List<ManagedNetwork> all;
        synchronized (networks) {
            all = List.copyOf(networks.values());
            networks.clear();
        }
        for (ManagedNetwork n : all) {
            n.close();
        }
        statusWatcher.close();
        super.closeDriver();
    }

    /** The bound of each wait of a migration (a message, a full pipe): the driver's lock wait. */
    /** This session's CRIU: the host's unless set otherwise by {@link #criu(Criu)}. */
    Criu criu() {
        Criu c = criu;
        return c == null ? Criu.host() : c;
    }

    /**
     * Makes this session act on {@code c} instead of the host's CRIU (two sessions in one process standing for two
     * hosts, one of them without a usable CRIU); null: the host's again.
     */
    void criu(Criu c) {
        criu = c;
    }

    Duration migrationWait() {
        return lockWait;
    }

    Liblxc liblxc() {
        return liblxc;
    }

    /** The watcher keeping the containers' statuses in memory. */
    StatusWatcher statusWatcher() {
        return statusWatcher;
    }

    /** The host ids unprivileged containers map to, from {@code /etc/subuid} and {@code /etc/subgid}. */
    Optional<IdmapSet> allocation() {
        return allocation;
    }

    /**
     * Watches a running container for stopping by itself (halt inside, init killed), so that Incus's stop hook runs:
     * the power state is recorded and an ephemeral container deleted. Incus gets there through liblxc's post-stop
     * hook calling the daemon; with no daemon, one driver thread polls the watched containers' state.
     */
    void watchForStop(LxcContainerInstance instance) {
        watchedForStop.add(instance);
        if (stopWatcherRunning.compareAndSet(false, true)) {
            execute(this::watchStops);
        }
    }

    /** Stops watching: the driver itself is stopping the container, and the operation handles the stop. */
    void unwatchForStop(LxcContainerInstance instance) {
        watchedForStop.remove(instance);
    }

    private void watchStops() {
        while (!isClosed()) {
            for (LxcContainerInstance i : watchedForStop) {
                try {
                    if (find(i.project().name(), i.name()).orElse(null) != i || i.stoppedOnItsOwn()) {
                        watchedForStop.remove(i);
                    }
                } catch (RuntimeException e) {
                    System.getLogger(LxcInstances.class.getName()).log(System.Logger.Level.WARNING,
                            "Cannot check whether " + i.name() + " stopped", e);
                }
            }
            try {
                Thread.sleep(STOP_POLL_MILLIS);
            } catch (InterruptedException closing) {
                return;
            }
        }
    }

    /** The instances of every project (snapshots excluded). */
    private List<LxcContainerInstance> instances() {
        return list().stream().map(LxcContainerInstance.class::cast).toList();
    }

    @Override
    protected LxcContainerInstance newInstance(InstanceRecord record) {
        return new LxcContainerInstance(this, record);
    }

    /**
     * What the driver applies: {@code p2p}, {@code bridged} and {@code macvlan} NICs ({@link LxcNics}), host-path and
     * tmpfs disks and device nodes ({@link LxcDevices}), TCP/UDP/unix proxies ({@link LxcProxies}), each with the
     * options its class reads; anything else is refused at create and update naming the device.
     */
    @Override
    protected DeviceSupport deviceSupport(InstanceType type) {
        return applied(info().name());
    }

    /** The devices the driver named {@code driver} applies (see {@link #deviceSupport}). */
    static DeviceSupport applied(String driver) {
        DeviceSupport s = DeviceSupport.rootDiskOnly(driver);
        for (String nicType : LxcNics.nicTypes()) {
            s = s.with("nic:" + nicType, LxcNics.options(nicType));
        }
        for (String t : List.of("disk", "unix-char", "unix-block")) {
            s = s.with(t, LxcDevices.options(t));
        }
        return s.with("proxy", LxcProxies.options());
    }

    @Override
    protected void checkSource(InstanceType type, InstanceSource source) {
        if (source instanceof InstanceSource.Template t) {
            if (!t.name().equals("busybox")) {
                throw new NotFoundException("Unknown template " + ErrorTexts.quote(t.name())
                        + ": the lxc driver provides \"busybox\"");
            }
        } else if (source instanceof InstanceSource.RootfsDirectory d) {
            if (!Files.isDirectory(d.directory())) {
                throw new NotFoundException("Root filesystem directory " + ErrorTexts.quote(d.directory().toString())
                        + " not found");
            }
        } else if (!ImageSources.isImage(source) && !(source instanceof InstanceSource.None)) {
            // Images (unified or split, any format) are checked by the base class, as for every driver.
            throw new NotSupportedException("The lxc driver creates containers from the busybox template, an image"
                    + ", a rootfs directory or nothing (an empty container), not from " + source);
        }
    }

    /** A container's root filesystem is unpacked through {@code ImageSources.unpackRootfs}: decompressed once. */
    @Override
    protected boolean checksImageWhileUnpacking(InstanceType type) {
        return type == InstanceType.CONTAINER;
    }

    @Override
    protected void createStorage(LxcContainerInstance instance, InstanceSource source) {
        // Before anything is made: the base class has validated the config as Incus does, these are the driver's.
        LxcContainerInstance.checkDefinition(Map.of(), instance.profiles(), instance.localConfig(), true);
        LxcNics.check(instance.expandedDevices());
        instance.createStorage(source);
    }

    /** Removes the liblxc directory too when a creation fails. */
    @Override
    protected void removeInstanceDirectories(InstanceType type, String fullName) {
        super.removeInstanceDirectories(type, fullName);
        deleteTree(lxcpath.resolve(fullName));
    }

    /** Reads the first range of {@code user} in a subordinate-id file ({@code user:start:count}). */
    static Optional<IdmapEntry> subordinate(Path file, List<String> users, boolean uid) {
        try {
            if (!Files.isReadable(file)) {
                return Optional.empty();
            }
            for (String line : Files.readAllLines(file)) {
                String[] f = line.trim().split(":");
                if (f.length == 3 && users.contains(f[0])) {
                    return Optional.of(new IdmapEntry(uid, !uid, Long.parseLong(f[1]), 0, Long.parseLong(f[2])));
                }
            }
            return Optional.empty();
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }
}
