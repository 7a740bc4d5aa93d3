package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.migration.MigrationMessage;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.migration.MigrationWire;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Migration between fake drivers (and to or from any driver speaking {@link MigrationWire}): the filesystem is the
 * wire's tar of the in-memory trees, and a live migration of a running instance carries the fake guest's
 * {@link SavedState} on the state connection, ending with the target running and the source stopped.
 */
final class Migration {
    /** The {@code state} header field of a live migration: the fake guest's counters. */
    static final String STATE_FORMAT = "incus4j-fake-state";

    private Migration() {
    }

    static void send(FakeInstance src, MigrateSendArgs sendArgs, Duration timeout) {
        MigrateArgs m = sendArgs.common();
        boolean live = m.live() && src.isRunning();
        List<InstanceArgs> snaps = m.snapshots() ? src.snapshotDefinitions() : List.of();
        Map<String, ImageLayout.RootfsWriter> snapTrees = new LinkedHashMap<>();
        for (InstanceArgs s : snaps) {
            Dir tree = src.disk().snapState(NameRules.snapshotPart(s.name())).root();
            snapTrees.put(NameRules.snapshotPart(s.name()), (w, prefix) -> FsTar.write(tree, w, prefix));
        }
        Map<String, String> header = MigrationWire.header(FakeDriver.NAME, src.type(),
                new InstanceRecord(src.args(), snaps), live, STATE_FORMAT, Map.of());
        Dir tree = src.root();
        FakeInstance.ImageFiles files = src.imageFiles();
        MigrationWire.send(m, header, timeout, "Migration of " + ErrorTexts.quote(src.name()),
                new MigrationWire.Sender() {
                    @Override
                    public void filesystem(OutputStream out) throws IOException {
                        MigrationWire.writeTree(out, files.metadata(), files.templates(),
                                (w, prefix) -> FsTar.write(tree, w, prefix), snapTrees);
                    }

                    @Override
                    public void state(OutputStream out) throws IOException {
                        SavedState state = src.liveState();
                        out.write((state == null ? SavedState.ZERO : state).encode());
                    }
                });
        if (live) {
            src.stop(false);
        }
    }

    static void receive(FakeInstance dst, MigrateReceiveArgs receiveArgs, Duration timeout) {
        MigrationWire.receive(receiveArgs.common(), timeout, "Migration into " + ErrorTexts.quote(dst.name()),
                new MigrationWire.Receiver() {
                    private final MemFs.Builder root = new MemFs.Builder(0755, 0, 0, MemFs.BASE_MTIME);
                    private final Map<String, MemFs.Builder> snapshots = new TreeMap<>();
                    private InstanceRecord record;
                    private MigrationMessage header;
                    private SavedState state;
                    private final MigrationWire.ImageFilesKept tree = new MigrationWire.ImageFilesKept() {
                        @Override
                        public void entry(String snapshot, ImageTar.Entry e, InputStream content)
                                throws IOException {
                            MemFs.Builder b = snapshot == null ? root : snapshots.computeIfAbsent(snapshot,
                                    k -> new MemFs.Builder(0755, 0, 0, MemFs.BASE_MTIME));
                            FsTar.add(b, e.name(), e, content);
                        }
                    };

                    @Override
                    public void header(MigrationMessage h) {
                        record = MigrationWire.check(h, dst.type(), FakeDriver.NAME, STATE_FORMAT);
                        header = h;
                    }

                    @Override
                    public void filesystem(InputStream in) throws IOException {
                        MigrationWire.readTree(in, MigrationWire.snapshotNames(record), tree);
                    }

                    @Override
                    public void state(InputStream in) throws IOException {
                        state = SavedState.decode(in.readAllBytes());
                    }

                    @Override
                    public void commit() {
                        Map<String, Dir> snapTrees = new TreeMap<>();
                        for (InstanceArgs s : record.snapshots()) {
                            String shortName = NameRules.snapshotPart(s.name());
                            MemFs.Builder b = snapshots.get(shortName);
                            snapTrees.put(shortName, b == null ? MemFs.MINIMAL : share(b.build()));
                        }
                        dst.adopt(record);
                        dst.installMigrated(share(root.build()), snapTrees, tree.metadata() == null
                                ? FakeInstance.ImageFiles.NONE
                                : new FakeInstance.ImageFiles(tree.metadata(), tree.templates()));
                        if (MigrationWire.isLive(header)) {
                            dst.startMigrated(state);
                        }
                    }

                    @Override
                    public void abort() {
                        // Nothing was installed: the received trees live in this receiver only.
                    }
                });
    }

    private static Dir share(Dir tree) {
        return (Dir) MemFs.share(MemFs.share(tree, MemFs.BUSYBOX), MemFs.MINIMAL);
    }
}
