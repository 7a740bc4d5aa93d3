package io.github.incus4j.lxc;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Info;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.spi.AbstractInstances;
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

    /** The bound of each wait of a migration (a message, a full pipe): the driver's lock wait. */
    Duration migrationWait() {
        return lockWait;
    }

    Liblxc liblxc() {
        return liblxc;
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

    @Override
    protected void createStorage(LxcContainerInstance instance, InstanceSource source) {
        // Before anything is made: the base class has validated the config as Incus does, these are the driver's.
        LxcContainerInstance.checkDefinition(Map.of(), instance.profiles(), instance.localConfig(), true);
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

    /** Stops every container's proxy forwarders: they are threads of this driver. */
    @Override
    protected void closeDriver() {
        for (LxcContainerInstance i : watchedForStop) { // the running ones: list() refuses once closed
            i.closeDevices();
        }
        super.closeDriver();
    }
}
