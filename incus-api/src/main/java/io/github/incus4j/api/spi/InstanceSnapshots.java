package io.github.incus4j.api.spi;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.config.VolatileKeys;
import io.github.incus4j.api.internal.store.StorageFiles;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.InstanceArgs;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The snapshots of one instance, Incus's {@code Snapshot}, {@code Restore} and snapshot rename and delete: their
 * preconditions and error texts, the queue that orders snapshot changes before they take the instance's operation
 * lock, and the snapshot list in the definition and on disk. The storage work goes to the driver's
 * {@code doSnapshot}, {@code doRestore} and {@code doDeleteSnapshot} hooks; everything runs on the instance's
 * monitor exactly where the template ran it, so the lock order is the template's.
 */
final class InstanceSnapshots {
    private final AbstractInstance instance;
    // Snapshot creations, deletions and renames of one instance queue here (fairly, each bounded by the lock
    // registry's wait) before taking the instance's operation lock, so that parallel snapshots are all made.
    private final ReentrantLock queue = new ReentrantLock(true);

    InstanceSnapshots(AbstractInstance instance) {
        this.instance = instance;
    }

    /** {@link Instance#snapshot}. */
    void take(String name, Instant expiry, boolean stateful) {
        instance.requireInstance("snapshot");
        NameRules.validateSnapshotName(name);
        if (stateful) {
            if (!ConfigValues.isTrue(instance.expandedConfig().get("migration.stateful"))) {
                throw new InvalidArgumentException(ErrorTexts.statefulSnapshotNeedsMigrationStateful(instance.type()));
            }
            if (!instance.isRunning()) {
                throw new InstanceStateException(ErrorTexts.STATEFUL_SNAPSHOT_NOT_RUNNING, instance.statusCode());
            }
        }
        inQueue(OperationLocks.Action.CREATE, () -> {
            synchronized (instance) {
                String fullSnapName = NameRules.snapshotFullName(instance.name(), name);
                for (InstanceArgs s : instance.snapshotArgs()) {
                    if (s.name().equals(fullSnapName)) {
                        throw new BusyException(ErrorTexts.snapshotExists(fullSnapName));
                    }
                }
                InstanceArgs snap = instance.args().toBuilder()
                        .name(fullSnapName)
                        .snapshot(true)
                        .stateful(stateful)
                        .creationDate(instance.owner().clock().instant())
                        .lastUsedDate(Instant.EPOCH)
                        .expiryDate(expiry)
                        .build();
                instance.doSnapshot(snap, stateful);
                List<InstanceArgs> updated = new ArrayList<>(instance.snapshotArgs());
                updated.add(snap);
                instance.setDefinition(instance.args(), updated);
                instance.persist();
            }
        });
    }

    /**
     * Runs a snapshot change under this instance's operation lock ({@code action}), after the snapshot changes
     * queued before it: a snapshot is never taken while a restore, rebuild or migration changes the instance.
     */
    void inQueue(OperationLocks.Action action, Runnable body) {
        Duration wait = instance.owner().locks().maxWait();
        try {
            if (!queue.tryLock(wait.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new OperationTimeoutException("Timed out after " + wait.toSeconds()
                        + " s waiting for the snapshot operations queued on " + ErrorTexts.quote(instance.name()));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OperationTimeoutException("Interrupted waiting for the snapshot operations queued on "
                    + ErrorTexts.quote(instance.name()));
        }
        try {
            instance.requireExists();
            InstanceArgs args = instance.args();
            instance.runHeld(instance.owner().locks().create(args.project(), args.name(),
                    instance.operation().orElse(null), action, false, false), body);
        } finally {
            queue.unlock();
        }
    }

    /** Handles of the snapshots, oldest first. */
    List<Instance> handles() {
        List<InstanceArgs> snapshotArgs = instance.snapshotArgs();
        List<Instance> out = new ArrayList<>(snapshotArgs.size());
        for (InstanceArgs s : snapshotArgs) {
            out.add(instance.newSnapshotHandle(s));
        }
        return out;
    }

    /** The snapshot with short name {@code snapName}, if any. */
    Optional<Instance> find(String snapName) {
        String full = NameRules.snapshotFullName(instance.name(), snapName);
        for (InstanceArgs s : instance.snapshotArgs()) {
            if (s.name().equals(full)) {
                return Optional.of(instance.newSnapshotHandle(s));
            }
        }
        return Optional.empty();
    }

    /** {@link Instance#restore}. */
    void restore(Instance source, boolean stateful) {
        instance.requireInstance("restore");
        Objects.requireNonNull(source, "source");
        InstanceArgs snap = null;
        if (source.isSnapshot() && NameRules.parentName(source.name()).equals(instance.name())
                && source.project().name().equals(instance.args().project())) {
            for (InstanceArgs s : instance.snapshotArgs()) {
                if (s.name().equals(source.name())) {
                    snap = s;
                }
            }
        }
        if (snap == null) {
            throw new NotFoundException("Snapshot " + ErrorTexts.quote(source.name()) + " of instance "
                    + ErrorTexts.quote(instance.name()) + " not found");
        }
        if (stateful && !snap.stateful()) {
            throw new InvalidArgumentException(ErrorTexts.STATEFUL_RESTORE_STATELESS);
        }
        InstanceArgs from = snap;
        instance.runHeld(instance.owner().locks().create(instance.args().project(), instance.args().name(),
                instance.operation().orElse(null), OperationLocks.Action.RESTORE, false, false), () -> {
            boolean wasRunning = instance.isRunning();
            if (wasRunning) {
                instance.stop(false);
            }
            instance.doRestore(from);
            instance.mutate(a -> a.toBuilder().config(VolatileKeys.afterRestore(a.config(), from.config()))
                    .devices(from.devices()).profiles(from.profiles())
                    .ephemeral(from.ephemeral()).description(from.description())
                    .stateful(stateful).build(), true);
            if (stateful || wasRunning) {
                instance.start(stateful);
            }
        });
    }

    /** Renames snapshot {@code oldSnap} to {@code newSnap} (short names), in the definition and on disk. */
    void rename(String oldSnap, String newSnap) {
        synchronized (instance) {
            String oldFull = NameRules.snapshotFullName(instance.name(), oldSnap);
            String newFull = NameRules.snapshotFullName(instance.name(), newSnap);
            List<InstanceArgs> snaps = new ArrayList<>();
            boolean found = false;
            for (InstanceArgs s : instance.snapshotArgs()) {
                if (s.name().equals(newFull)) {
                    throw new BusyException(ErrorTexts.snapshotNameInUse(newFull));
                }
                if (s.name().equals(oldFull)) {
                    found = true;
                    snaps.add(s.toBuilder().name(newFull).build());
                } else {
                    snaps.add(s);
                }
            }
            if (!found) {
                throw new NotFoundException("Snapshot " + ErrorTexts.quote(oldSnap) + " not found");
            }
            InstancePaths paths = instance.owner().paths();
            String project = instance.args().project();
            StorageFiles.moveIfExists(paths.path(instance.type(), AbstractInstances.key(project, oldFull)),
                    paths.path(instance.type(), AbstractInstances.key(project, newFull)));
            instance.setDefinition(instance.args(), snaps);
            instance.persist();
        }
    }

    /** Deletes snapshot {@code snap}: its storage, its directory, then its entry in the definition. */
    void delete(InstanceArgs snap) {
        synchronized (instance) {
            List<InstanceArgs> remaining = new ArrayList<>(instance.snapshotArgs());
            if (!remaining.removeIf(s -> s.name().equals(snap.name()))) {
                throw new NotFoundException("Snapshot " + ErrorTexts.quote(NameRules.snapshotPart(snap.name()))
                        + " not found");
            }
            instance.doDeleteSnapshot(snap);
            AbstractInstances.deleteTree(instance.owner().paths().path(instance.type(),
                    AbstractInstances.key(instance.args().project(), snap.name())));
            instance.setDefinition(instance.args(), remaining);
            instance.persist();
        }
    }
}
