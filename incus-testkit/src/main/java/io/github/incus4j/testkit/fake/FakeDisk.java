package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiPredicate;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * The disk of one fake instance: its in-memory root tree, its snapshots' trees and the saved states of stateful
 * stops and snapshots, kept in memory and written to the instance's directories ({@code rootfs.tar},
 * {@code state}) only when the driver closes, then read back lazily after a reopen. Trees are immutable, so a
 * snapshot keeps a root and a restore swaps roots; file writes replace the root atomically. Locks on the instance's
 * monitor, as the instance's own bookkeeping does.
 */
final class FakeDisk {
    private static final System.Logger LOG = System.getLogger(FakeDisk.class.getName());
    private static final Object STATE_ON_DISK = new Object();
    private static final VarHandle ROOT;

    static {
        try {
            ROOT = MethodHandles.lookup().findVarHandle(FakeDisk.class, "root", Dir.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** A snapshot's tree and saved state; {@code dirty} until written to disk. */
    record SnapState(Dir root, SavedState state, AtomicBoolean dirty) {
        SnapState(Dir root, SavedState state, boolean dirty) {
            this(root, state, new AtomicBoolean(dirty));
        }
    }

    private final FakeInstance instance;
    private volatile Dir root; // null: still on disk (read back lazily)
    /** The tree as last read from or written to {@code rootfs.tar}: read on first use after a reopen. */
    private final Lazy<Dir> persisted;
    private volatile boolean deleted;
    private volatile Object savedState = STATE_ON_DISK; // SavedState, null (none) or STATE_ON_DISK
    /** Snapshots' trees and states by short name, as far as read or made since the driver opened. */
    private final ConcurrentHashMap<String, SnapState> snaps = new ConcurrentHashMap<>(4);

    FakeDisk(FakeInstance instance) {
        this.instance = instance;
        this.persisted = new Lazy<>(instance, () -> loadTree(instance.path()));
    }

    /** The tree, read back from disk on first use after a reopen. */
    Dir root() {
        Dir r = root;
        if (r == null) {
            ROOT.compareAndSet(this, null, persisted.get());
            r = root;
        }
        return r;
    }

    /** Replaces the tree by {@code change} of it, atomically against concurrent file writes. */
    void setTree(UnaryOperator<Dir> change) {
        root();
        while (true) {
            Dir before = root;
            if (ROOT.compareAndSet(this, before, change.apply(before))) {
                return;
            }
        }
    }

    /** Puts a new tree in place, with no saved state (creation, rebuild, migration, restore). */
    void replace(Dir tree, SavedState state) {
        root = tree;
        savedState = state;
    }

    private Dir loadTree(Path dir) {
        try {
            Dir loaded = FsTar.load(dir.resolve(FsTar.ROOTFS_TAR), MemFs.BUSYBOX);
            if (loaded != null) {
                return (Dir) MemFs.share(loaded, MemFs.MINIMAL);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "Cannot read the files of " + instance.name() + " from " + dir, e);
        }
        LOG.log(System.Logger.Level.WARNING, "No saved files for {0} in {1}: it gets an empty root filesystem",
                instance.name(), dir);
        return MemFs.MINIMAL;
    }

    /** The file-system view of the instance: its tree, or (read-only) a snapshot's. */
    MemSftp.FsRoot view() {
        if (instance.isSnapshot()) {
            FakeDisk parent = instance.parentInstance().disk();
            String snap = NameRules.snapshotPart(instance.name());
            return new View(() -> parent.snapState(snap).root(), null, instance::clockMillis);
        }
        return new View(this::root, (expect, update) -> ROOT.compareAndSet(this, expect, update),
                instance::clockMillis);
    }

    /** A tree seen through {@link MemSftp}: writable with a {@code compareAndSet}, read-only (a snapshot) without. */
    private record View(Supplier<Dir> tree, BiPredicate<Dir, Dir> replace, LongSupplier clock)
            implements MemSftp.FsRoot {
        @Override
        public Dir get() {
            return tree.get();
        }

        @Override
        public boolean compareAndSet(Dir expect, Dir update) {
            return replace != null && replace.test(expect, update);
        }

        @Override
        public void checkWritable() {
            if (replace == null) {
                throw new InvalidArgumentException("Snapshots cannot be modified");
            }
        }

        @Override
        public long now() {
            return clock.getAsLong();
        }
    }

    // ---- saved state ----------------------------------------------------------------------------------------------

    /** Keeps the state a stateful stop saved, for the next stateful start. */
    void keepState(SavedState state) {
        savedState = state;
    }

    /** Takes the saved state for a stateful start (it is used once). */
    SavedState takeSavedState() {
        Object s = savedState;
        if (s == STATE_ON_DISK) {
            s = readState(instance.statePath());
        }
        if (!(s instanceof SavedState st)) {
            throw new IncusException("Failed to restore the saved state of " + ErrorTexts.quote(instance.name())
                    + ": there is none");
        }
        savedState = null;
        return st;
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

    // ---- snapshots ------------------------------------------------------------------------------------------------

    /** A snapshot's tree and state, read back from its directory on first use after a reopen. */
    SnapState snapState(String snap) {
        synchronized (instance) {
            SnapState s = snaps.get(snap);
            if (s == null) {
                Path dir = instance.snapshotPath(snap);
                Object state = readState(dir.resolve("state"));
                s = new SnapState(loadTree(dir), state instanceof SavedState st ? st : null, false);
                snaps.put(snap, s);
            }
            return s;
        }
    }

    /** Keeps a new snapshot: the tree without its tmpfs content (that is memory, kept only in {@code state}). */
    void snapshot(String snap, SavedState state) {
        snaps.put(snap, new SnapState(Tmpfs.unmounted(root(), instance.clockMillis()), state, true));
    }

    /** Makes a snapshot's tree and state the instance's. */
    void restore(String snap) {
        SnapState s = snapState(snap);
        replace(s.root(), s.state());
    }

    void deleteSnapshot(String snap) {
        snaps.remove(snap);
    }

    /** Moves a snapshot's tree and state to its new name (written under it at the next save). */
    void renameSnapshot(String old, String renamed) {
        SnapState s = snaps.remove(old);
        if (s != null) {
            s.dirty().set(true);
            snaps.put(renamed, s);
        }
    }

    /** Installs what a migration brought: the tree and the snapshots' trees, no saved state. */
    void installMigrated(Dir tree, Map<String, Dir> snapshotTrees) {
        replace(tree, null);
        snaps.clear();
        snapshotTrees.forEach((n, t) -> snaps.put(n, new SnapState(t, null, true)));
    }

    /** The instance was deleted: nothing more is kept or written. */
    void delete() {
        deleted = true;
        root = MemFs.MINIMAL;
        snaps.clear();
        savedState = null;
    }

    // ---- durability -----------------------------------------------------------------------------------------------

    /** Writes what lives in memory (trees, saved states) into the instance's directories. */
    void saveToDisk() throws IOException {
        if (deleted || instance.isSnapshot()) {
            return;
        }
        Dir r = root;
        if (r != null && r != persisted.peek()) {
            FsTar.save(r, instance.path().resolve(FsTar.ROOTFS_TAR));
            persisted.set(r);
        }
        Object s = savedState;
        if (s instanceof SavedState st) {
            Files.createDirectories(instance.path());
            Files.write(instance.statePath(), st.encode());
        } else if (s == null) {
            Files.deleteIfExists(instance.statePath());
        }
        for (InstanceArgs snap : instance.snapshotDefinitions()) {
            String shortName = NameRules.snapshotPart(snap.name());
            SnapState ss = snaps.get(shortName);
            if (ss == null || !ss.dirty().get()) {
                continue;
            }
            Path dir = instance.snapshotPath(shortName);
            FsTar.save(ss.root(), dir.resolve(FsTar.ROOTFS_TAR));
            if (ss.state() != null) {
                Files.write(dir.resolve("state"), ss.state().encode());
            } else {
                Files.deleteIfExists(dir.resolve("state"));
            }
            ss.dirty().set(false);
        }
    }
}
