package io.github.incus4j.qemu;

import static io.github.incus4j.qemu.QemuHost.deleteQuietly;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.migration.MigrationMessage;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.internal.image.ImageFiles;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.migration.MigrationWire;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Migration of a {@link QemuVm} over {@link MigrationWire}. The filesystem tar carries the qcow2 disk as
 * {@code rootfs.img} (its disk snapshots live inside it) and each snapshot's directory files (the qcow2 snapshot tag,
 * a stateful snapshot's state). A live migration of a running VM is QEMU's pre-copy ({@link QemuPrecopy}): the disk
 * travels while the guest runs (its writes kept in an overlay), then the RAM, iteratively, then the overlay and the
 * device state while the guest is paused; the target runs it and the source stops. A running VM sent offline is
 * paused while its disk is read, so that the copy is consistent, and runs on after.
 */
final class QemuMigration {
    static final String DISK_ENTRY = "rootfs.img";
    private static final String PREVIOUS_DISK = "previous.img";
    private static final String SNAPSHOT_DIR = "snapshots/";
    private static final Duration WAIT = Duration.ofMinutes(2);

    private QemuMigration() {
    }

    /** The source's side; {@code qmp} is the running VM's monitor (null when stopped). */
    static void send(QemuVm vm, MigrateSendArgs sendArgs, QmpClient qmp) {
        MigrateArgs m = sendArgs.common();
        boolean live = m.live() && qmp != null;
        InstanceRecord record = vm.record();
        List<InstanceArgs> snaps = m.snapshots() ? record.snapshots() : List.of();
        Map<String, Path> snapDirs = new LinkedHashMap<>();
        for (Instance s : vm.snapshots()) {
            if (m.snapshots()) {
                snapDirs.put(NameRules.snapshotPart(s.name()), s.path());
            }
        }
        Map<String, String> header = MigrationWire.header(QemuDriver.NAME, vm.type(),
                new InstanceRecord(record.instance(), snaps), live, QemuPrecopy.STATE_FORMAT,
                live ? Map.of(MigrationWire.READY, "true") : Map.of());
        ImageMetadata metadata = ImageFiles.metadata(vm.path());
        Map<String, byte[]> templates = ImageFiles.templates(vm.templatesPath());
        String what = "Migration of " + ErrorTexts.quote(vm.name());
        if (live) {
            sendLive(vm, m, header, metadata, templates, snapDirs, qmp, what);
            return;
        }
        boolean resume = qmp != null && "running".equals(qmp.execute("query-status").path("status").asText());
        try {
            if (resume) {
                qmp.execute("stop"); // the disk is read as of one instant
            }
            MigrationWire.send(m, header, WAIT, what, out -> MigrationWire.writeTree(out, metadata, templates,
                    (w, prefix) -> writeDisk(w, vm.disk(), snapDirs), Map.of()));
        } finally {
            if (resume) {
                qmp.execute("cont");
                vm.refreshStatus();
            }
        }
    }

    /**
     * A live migration ({@link QemuPrecopy}): the overlay over the disk, the disk while the guest runs, the pre-copy
     * over the state connection; the source stops once the target runs and merges the overlay into its disk. On
     * failure the guest runs on here.
     */
    private static void sendLive(QemuVm vm, MigrateArgs m, Map<String, String> header, ImageMetadata metadata,
            Map<String, byte[]> templates, Map<String, Path> snapDirs, QmpClient qmp, String what) {
        Path overlay = vm.disk().resolveSibling(QemuPrecopy.OVERLAY);
        QemuPrecopy.addOverlay(qmp, vm.disk(), overlay);
        try {
            MigrationWire.send(m, header, WAIT, what, new MigrationWire.Sender() {
                @Override
                public void filesystem(OutputStream out) throws IOException {
                    MigrationWire.writeTree(out, metadata, templates, (w, prefix) -> writeDisk(w, vm.disk(),
                            snapDirs), Map.of());
                }

                @Override
                public void state(OutputStream out) throws IOException {
                    vm.lastMigration = QemuPrecopy.send(qmp, overlay, out, vm.name());
                }
            });
        } catch (RuntimeException e) {
            try {
                QemuPrecopy.resumeAndMerge(qmp, overlay);
                vm.refreshStatus();
            } catch (RuntimeException merge) {
                e.addSuppressed(merge);
            }
            throw e;
        }
        vm.stop(false); // the VM runs on the target now
        QemuPrecopy.mergeOffline(overlay);
    }

    /** The VM's disk as {@code rootfs.img}, then each snapshot directory's files (the prefix is not used). */
    private static void writeDisk(ImageTar.Writer w, Path disk, Map<String, Path> snapDirs) throws IOException {
        addFile(w, DISK_ENTRY, disk);
        for (Map.Entry<String, Path> s : snapDirs.entrySet()) {
            if (!Files.isDirectory(s.getValue())) {
                continue;
            }
            try (Stream<Path> files = Files.list(s.getValue())) {
                for (Path f : (Iterable<Path>) files.sorted()::iterator) {
                    if (Files.isRegularFile(f)) {
                        addFile(w, SNAPSHOT_DIR + s.getKey() + "/" + f.getFileName(), f);
                    }
                }
            }
        }
    }

    private static void addFile(ImageTar.Writer w, String name, Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            w.add(new ImageTar.Entry(name, ImageTar.Kind.FILE, 0600, 0, 0,
                    Instant.ofEpochSecond(Files.getLastModifiedTime(file).toInstant().getEpochSecond()),
                    Files.size(file), ""), in);
        }
    }

    /**
     * The target's side: everything is staged in {@code Path()/.migrating} and moved in place once the source
     * reports success (a live migration's VM is put in place and started before, to take the pre-copy);
     * {@code adopt} takes over the received definition.
     */
    static void receive(QemuVm vm, MigrateReceiveArgs receiveArgs, Consumer<InstanceRecord> adopt) {
        MigrationWire.receive(receiveArgs.common(), WAIT, "Migration into " + ErrorTexts.quote(vm.name()),
                new Received(vm, vm.path().resolve(".migrating"), adopt));
    }

    private static final class Received implements MigrationWire.Receiver {
        private final QemuVm vm;
        private final Path staging;
        private final Consumer<InstanceRecord> adopt;
        private List<String> snapshotNames = List.of();
        private InstanceRecord record;
        private boolean live;
        private boolean started;
        private InstanceRecord previous;
        /** The stream's image files, kept for the commit; only the disks are staged on disk. */
        private final MigrationWire.ImageFilesKept tree = new MigrationWire.ImageFilesKept() {
            @Override
            public void entry(String snapshot, ImageTar.Entry e, InputStream content) {
                throw new IncusException("Unexpected container filesystem entry " + ErrorTexts.quote(e.name())
                        + " in the migration of a VM");
            }

            @Override
            public void file(String snapshot, ImageTar.Entry e, InputStream content) throws IOException {
                Path dir = snapshot == null ? staging : staging.resolve("snapshots").resolve(snapshot);
                if (snapshot == null && !e.name().equals(DISK_ENTRY)) {
                    return;
                }
                PrivateFiles.createDirectories(dir);
                PrivateFiles.copy(content, dir.resolve(e.name()));
            }
        };

        Received(QemuVm vm, Path staging, Consumer<InstanceRecord> adopt) {
            this.vm = vm;
            this.staging = staging;
            this.adopt = adopt;
        }

        @Override
        public void header(MigrationMessage header) {
            record = MigrationWire.check(header, vm.type(), QemuDriver.NAME, QemuPrecopy.STATE_FORMAT);
            snapshotNames = MigrationWire.snapshotNames(record);
            live = MigrationWire.isLive(header);
            AbstractInstances.deleteTree(staging);
        }

        @Override
        public void filesystem(InputStream in) throws IOException {
            PrivateFiles.createDirectories(staging);
            MigrationWire.readTree(in, snapshotNames, tree);
            if (!Files.isRegularFile(staging.resolve(DISK_ENTRY))) {
                throw new IncusException("The migration stream holds no " + DISK_ENTRY + ": the source sent no VM"
                        + " disk");
            }
        }

        /**
         * A live migration: the VM is put in place and its QEMU started waiting for the pre-copy, which it takes
         * from the state connection; it runs once that completes, and merges the overlay into its disk.
         */
        @Override
        public void state(InputStream in) throws IOException {
            install();
            Path overlay = vm.disk().resolveSibling(QemuPrecopy.OVERLAY);
            QemuPrecopy.createOverlay(vm.disk(), overlay);
            started = true;
            vm.startIncoming(overlay, qmp -> {
                try {
                    QemuPrecopy.receive(qmp, in, overlay);
                } catch (IOException e) {
                    throw HostIo.failure("Live migration into " + ErrorTexts.quote(vm.name()) + " failed", e);
                }
            });
            QemuPrecopy.activeCommit(vm.qmpOrNull());
            deleteQuietly(overlay);
        }

        @Override
        public void commit() {
            if (!live) {
                install();
            }
            AbstractInstances.deleteTree(staging);
        }

        private void install() {
            try {
                previous = vm.record();
                for (Instance old : vm.snapshots()) {
                    AbstractInstances.deleteTree(old.path());
                }
                if (live && Files.exists(vm.disk())) {
                    // Kept until the migration succeeds: a failed live migration puts it back.
                    Files.move(vm.disk(), staging.resolve(PREVIOUS_DISK), StandardCopyOption.REPLACE_EXISTING);
                }
                Files.move(staging.resolve(DISK_ENTRY), vm.disk(), StandardCopyOption.REPLACE_EXISTING);
                Files.deleteIfExists(vm.path().resolve(ImageFiles.METADATA));
                AbstractInstances.deleteTree(vm.templatesPath());
                if (tree.metadata() != null) {
                    ImageFiles.keep(vm.path(), vm.templatesPath(), tree.metadata(), tree.templates());
                }
                adopt.accept(record);
                Set<String> tags = new HashSet<>();
                Map<String, Path> dirs = new TreeMap<>();
                for (Instance s : vm.snapshots()) {
                    dirs.put(NameRules.snapshotPart(s.name()), s.path());
                }
                for (Map.Entry<String, Path> d : dirs.entrySet()) {
                    Path from = staging.resolve("snapshots").resolve(d.getKey());
                    AbstractInstances.deleteTree(d.getValue());
                    PrivateFiles.createDirectories(d.getValue().getParent());
                    if (Files.isDirectory(from)) {
                        Files.move(from, d.getValue());
                    } else {
                        PrivateFiles.createDirectories(d.getValue());
                    }
                    Path tag = d.getValue().resolve("qcow2-snapshot");
                    if (Files.isRegularFile(tag)) {
                        tags.add(Files.readString(tag).trim());
                    }
                }
                dropOtherDiskSnapshots(vm.disk(), tags);
            } catch (IOException e) {
                throw HostIo.failure("Cannot put the migrated VM " + ErrorTexts.quote(vm.name()) + " in place", e);
            }
        }

        @Override
        public void abort() {
            if (started && vm.isRunning()) {
                vm.stop(false); // a live migration that failed after its QEMU started: the source runs on
            }
            deleteQuietly(vm.disk().resolveSibling(QemuPrecopy.OVERLAY));
            if (live && previous != null) {
                // Back to what this side was before the live migration put the VM in place.
                try {
                    Files.deleteIfExists(vm.disk());
                    if (Files.exists(staging.resolve(PREVIOUS_DISK))) {
                        Files.move(staging.resolve(PREVIOUS_DISK), vm.disk());
                    }
                    for (Instance s : vm.snapshots()) {
                        AbstractInstances.deleteTree(s.path());
                    }
                } catch (IOException e) {
                    throw HostIo.failure("Cannot put back the VM " + ErrorTexts.quote(vm.name()), e);
                } finally {
                    adopt.accept(previous);
                }
            }
            AbstractInstances.deleteTree(staging);
        }
    }

    /** Deletes the disk snapshots of {@code disk} not named in {@code keep} (those of snapshots not sent). */
    private static void dropOtherDiskSnapshots(Path disk, Set<String> keep) {
        QemuHost host = QemuHost.get();
        JsonNode info;
        try {
            info = new ObjectMapper().readTree(host.qemuImg(List.of("info", "--output=json", disk.toString())));
        } catch (IOException e) {
            throw new IncusException("Unreadable qemu-img info of " + disk + ": " + e.getMessage(), e);
        }
        for (JsonNode s : info.path("snapshots")) {
            String tag = s.path("name").asText();
            if (!keep.contains(tag)) {
                host.qemuImg(List.of("snapshot", "-d", tag, disk.toString()));
            }
        }
    }
}
