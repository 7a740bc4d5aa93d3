package io.github.incus4j.lxc;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.PowerState;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.image.ImageFiles;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.migration.MigrationWire;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrationMessage;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.spi.InstanceRecord;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Receives a container sent over {@link MigrationWire} (by this driver or another speaking the wire) into the empty
 * instance made for it: staged in {@code path()/.migrating}, owners shifted by this driver's id map (none for a
 * privileged container), moved in place with the sent definition once the source reports success, and, for a live
 * migration, restored from the final CRIU dump received; a failed restore rolls this side back, so nothing of a
 * failed migration stays behind.
 */
final class LxcMigrationReceive implements MigrationWire.Receiver {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstance.class.getName());
    private static final String METADATA = ImageFiles.METADATA;

    private final LxcContainerInstance instance;
    private final LxcInstances driver;
    private final LxcStorage storage;
    private final LxcStatus status;
    private final LxcPower power;
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

    private LxcMigrationReceive(LxcContainerInstance instance, LxcInstances driver, LxcStorage storage,
            LxcStatus status, LxcPower power) {
        this.instance = instance;
        this.driver = driver;
        this.storage = storage;
        this.status = status;
        this.power = power;
        this.staging = instance.path().resolve(".migrating");
    }

    /** Receives the migration {@code receiveArgs} describes into {@code instance}. */
    static void receive(LxcContainerInstance instance, LxcInstances driver, LxcStorage storage, LxcStatus status,
            LxcPower power, MigrateReceiveArgs receiveArgs) {
        MigrationWire.receive(receiveArgs.common(), driver.migrationWait(),
                "Migration into " + ErrorTexts.quote(instance.name()),
                new LxcMigrationReceive(instance, driver, storage, status, power));
    }

    @Override
    public void header(MigrationMessage header) {
        record = MigrationWire.check(header, instance.type(), LxcDriver.NAME, CriuStream.FORMAT);
        // The target of a migration is the empty instance made for it: one with a root filesystem or snapshots
        // is another instance that has the name already (Incus's conflict at create).
        boolean empty;
        try (var entries = Files.list(instance.rootfsPath())) {
            empty = entries.findAny().isEmpty() && instance.snapshots().isEmpty();
        } catch (java.nio.file.NoSuchFileException e) {
            empty = instance.snapshots().isEmpty();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the root filesystem of " + ErrorTexts.quote(instance.name()),
                    e);
        }
        if (!empty) {
            throw new BusyException(ErrorTexts.instanceExists(instance.name()));
        }
        live = MigrationWire.isLive(header);
        if (live) {
            driver.criu().require("Unable to perform container live migration");
        }
        snapshotNames = MigrationWire.snapshotNames(record);
        if (!ConfigValues.isTrue(record.instance().config().get("security.privileged"))) {
            map = driver.allocation().orElseThrow(
                    () -> new InvalidArgumentException(LxcContainerInstance.NO_ALLOCATION));
        }
        base = header.field(LxcMigrationSend.BASE_CONF_FIELD);
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
    private static void prune(Path root, Set<String> keep) throws IOException {
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
        InstanceRecord previous = instance.record();
        Path rootfs = instance.rootfsPath();
        Path path = instance.path();
        try {
            for (String snap : snapshotNames) {
                Files.createDirectories(stagedRootfs(snap)); // a snapshot sent without entries is empty
            }
            Files.createDirectories(stagedRootfs(null));
            for (InstanceArgs old : instance.snapshotDefinitions()) {
                AbstractInstances.deleteTree(storage.snapshotRootfs(old).getParent());
            }
            AbstractInstances.deleteTree(rootfs);
            Files.move(stagedRootfs(null), rootfs);
            for (String snap : snapshotNames) {
                Path target = storage.snapshotRootfs(record.instance().toBuilder()
                        .project(instance.project().name())
                        .name(NameRules.snapshotFullName(instance.name(), snap)).build());
                AbstractInstances.deleteTree(target.getParent());
                Files.createDirectories(target.getParent());
                Files.move(stagedRootfs(snap), target);
            }
            Files.deleteIfExists(path.resolve(METADATA));
            AbstractInstances.deleteTree(instance.templatesPath());
            if (hasMetadata) {
                Files.move(staging.resolve(METADATA), path.resolve(METADATA));
                Files.move(staging.resolve("templates"), instance.templatesPath());
            }
            Files.createDirectories(instance.lxcDir());
            Files.writeString(instance.lxcDir().resolve("base.conf"), base != null ? base
                    : String.join("\n", LxcConfigFile.GENERIC_BASE) + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot put the migrated container " + ErrorTexts.quote(instance.name())
                    + " in place", e);
        }
        List<InstanceArgs> snaps = new ArrayList<>();
        record.snapshots().forEach(snap -> snaps.add(LxcStorage.withIdmap(snap, map)));
        instance.adopt(new InstanceRecord(LxcStorage.withIdmap(record.instance(), map), snaps));
        LxcConfigFile.write(instance);
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
            for (InstanceArgs snap : instance.snapshotDefinitions()) {
                AbstractInstances.deleteTree(storage.snapshotRootfs(snap).getParent());
            }
            try (var children = Files.list(instance.rootfsPath())) {
                children.forEach(AbstractInstances::deleteTree);
            }
            instance.adopt(previous);
            LxcConfigFile.write(instance);
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    @Override
    public void abort() {
        AbstractInstances.deleteTree(staging);
    }

    /** Restores a live-migrated container from the final dump received, as a stateful start does. */
    private void restoreMigrated(Path fin) {
        if (!instance.privileged()) {
            power.requireSearchableParents(instance.rootfsPath());
        }
        try {
            Files.createDirectories(instance.logPath());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + instance.logPath(), e);
        }
        long t0 = System.nanoTime();
        try {
            power.restore(fin);
        } finally {
            status.changed();
        }
        LOG.log(System.Logger.Level.INFO, "{0}: restored in {1} ms", instance.name(),
                (System.nanoTime() - t0) / 1_000_000);
        driver.watchForStop(instance);
        Map<String, String> changes = new HashMap<>(Map.of("volatile.last_state.power", PowerState.RUNNING));
        String next = instance.localConfig().get("volatile.idmap.next");
        if (next != null) {
            changes.put("volatile.idmap.current", next);
            changes.put("volatile.last_state.idmap", next);
        }
        instance.recordVolatiles(changes, true);
    }
}
