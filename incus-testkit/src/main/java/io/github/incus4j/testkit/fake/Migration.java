package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.MigrateArgs;
import io.github.incus4j.api.MigrateReceiveArgs;
import io.github.incus4j.api.MigrateSendArgs;
import io.github.incus4j.api.MigrationMessage;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.spi.BackupYaml;
import io.github.incus4j.api.spi.ImageTar;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.spi.Names;
import io.github.incus4j.api.spi.Texts;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Migration between fake drivers, over {@link MigrateArgs}' channels as Incus migrates: the source sends a
 * {@code header} (the instance's {@code backup.yaml} as the field {@code backup}, its type, the snapshots sent and
 * whether the migration is live), streams the filesystem as one tar over the filesystem connection
 * ({@code metadata.yaml}, {@code templates/}, {@code rootfs/}, {@code snapshots/<name>/rootfs/}), the guest state
 * over the state connection when live, then a {@code control} message with its outcome; the target answers with its
 * own. A live migration of a running instance ends with the target running and the source stopped.
 */
final class Migration {
    /** The {@code fs} header field: what the filesystem connection carries. */
    static final String FS_FORMAT = "incus4j-fake-tar";
    private static final Duration PEER_REPORT_WAIT = Duration.ofMillis(200);

    private Migration() {
    }

    /** This side failed because the other one did: the other side's error is the cause to report. */
    static final class PeerFailed extends IncusException {
        private static final long serialVersionUID = 1L;

        PeerFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    static void send(FakeInstance src, MigrateSendArgs sendArgs, Duration timeout) {
        MigrateArgs m = sendArgs.common();
        boolean live = m.live() && src.isRunning();
        List<InstanceArgs> snaps = m.snapshots() ? src.snapshotDefinitions() : List.of();
        Map<String, Dir> snapTrees = new LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        for (InstanceArgs s : snaps) {
            String shortName = Names.snapshotPart(s.name());
            snapTrees.put(shortName, src.snapState(shortName).root);
            names.add(shortName);
        }
        InstanceRecord record = new InstanceRecord(src.args(), snaps);
        Map<String, String> header = Map.of(
                "driver", FakeDriver.NAME,
                "fs", FS_FORMAT,
                "type", src.type().apiName(),
                "backup", new String(BackupYaml.write(record), StandardCharsets.UTF_8),
                "snapshots", String.join(",", names),
                "live", Boolean.toString(live));
        boolean started = false;
        try {
            m.controlSend().send(MigrationMessage.header(header));
            started = true;
            Dir tree = src.root();
            FakeInstance.ImageFiles files = src.imageFiles();
            try (Connection c = m.filesystemConn().open(timeout)) {
                OutputStream out = new BufferedOutputStream(c.output(), 1 << 16);
                writeFs(out, tree, snapTrees, files);
                out.flush();
                c.output().close();
            }
            if (live) {
                SavedState state = src.liveState();
                try (Connection c = m.stateConn().open(timeout)) {
                    c.output().write((state == null ? SavedState.ZERO : state).encode());
                    c.output().close();
                }
            }
            m.controlSend().send(MigrationMessage.control(true, ""));
            MigrationMessage reply = m.controlReceive().receive(timeout);
            if (reply == null || !reply.success()) {
                throw new PeerFailed("Migration failed on the target: "
                        + (reply == null ? "no answer within " + timeout.toMillis() + " ms" : reply.message()), null);
            }
        } catch (IOException | RuntimeException e) {
            throw failed(m, started, "target", e, "Migration of " + Texts.quote(src.name()) + " failed");
        }
        if (live) {
            src.stop(false);
        }
    }

    private static void writeFs(OutputStream out, Dir tree, Map<String, Dir> snapTrees, FakeInstance.ImageFiles files)
            throws IOException {
        ImageTar.Writer w = ImageTar.writer(out);
        if (files.metadata() != null) {
            w.addFile("metadata.yaml", RestJson.toYaml(files.metadata()), 0644);
            for (Map.Entry<String, byte[]> t : files.templates().entrySet()) {
                w.addFile("templates/" + t.getKey(), t.getValue(), 0644);
            }
        }
        FsTar.write(tree, w, "rootfs/");
        for (Map.Entry<String, Dir> s : snapTrees.entrySet()) {
            FsTar.write(s.getValue(), w, "snapshots/" + s.getKey() + "/rootfs/");
        }
        w.finish();
    }

    static void receive(FakeInstance dst, MigrateReceiveArgs receiveArgs, Duration timeout) {
        MigrateArgs m = receiveArgs.common();
        try {
            MigrationMessage header = m.controlReceive().receive(timeout);
            if (header == null) {
                throw new OperationTimeoutException("No migration header within " + timeout.toMillis() + " ms");
            }
            if (!"header".equals(header.kind())) {
                if (!header.success()) {
                    throw new PeerFailed("Migration failed on the source: " + header.message(), null);
                }
                throw new IncusException("Unexpected migration message " + Texts.quote(header.kind()));
            }
            if (!FS_FORMAT.equals(header.field("fs"))) {
                throw new InvalidArgumentException("Unsupported migration filesystem format "
                        + Texts.quote(String.valueOf(header.field("fs"))) + ": the fake driver receives from fake "
                        + "drivers only");
            }
            if (!dst.type().apiName().equals(header.field("type"))) {
                throw new InvalidArgumentException("Instance type mismatch: the source is a "
                        + header.field("type") + ", the target a " + dst.type().apiName());
            }
            InstanceRecord record = BackupYaml.read(header.field("backup").getBytes(StandardCharsets.UTF_8));
            boolean live = Boolean.parseBoolean(header.field("live"));
            Received r;
            try (Connection c = m.filesystemConn().open(timeout)) {
                r = readFs(c.input());
            }
            SavedState state = null;
            if (live) {
                try (Connection c = m.stateConn().open(timeout)) {
                    state = SavedState.decode(c.input().readAllBytes());
                }
            }
            MigrationMessage done = m.controlReceive().receive(timeout);
            if (done == null || !done.success()) {
                throw new PeerFailed("Migration failed on the source: "
                        + (done == null ? "no answer within " + timeout.toMillis() + " ms" : done.message()), null);
            }
            Map<String, Dir> snapTrees = new TreeMap<>();
            for (InstanceArgs s : record.snapshots()) {
                String shortName = Names.snapshotPart(s.name());
                MemFs.Builder b = r.snapshots.get(shortName);
                snapTrees.put(shortName, b == null ? MemFs.MINIMAL : share(b.build()));
            }
            dst.adopt(record);
            dst.installMigrated(share(r.root.build()), snapTrees, r.files());
            if (live) {
                dst.startMigrated(state);
            }
            m.controlSend().send(MigrationMessage.control(true, ""));
        } catch (IOException | RuntimeException e) {
            throw failed(m, true, "source", e, "Migration into " + Texts.quote(dst.name()) + " failed");
        }
    }

    /**
     * Ends this side after {@code e}: tells the other side, and reports the other side's failure instead when the
     * transfer broke because of it (once data flows, a peer that fails closes the connections under us).
     */
    private static RuntimeException failed(MigrateArgs m, boolean transferring, String peerSide, Exception e,
            String what) {
        PeerFailed peer = transferring && !(e instanceof PeerFailed) ? peerFailure(m, peerSide, e) : null;
        tellFailure(m, e.getMessage());
        if (peer != null) {
            return peer;
        }
        if (e instanceof RuntimeException r) {
            return r;
        }
        return new UncheckedIOException(what + ": " + e.getMessage(), (IOException) e);
    }

    private static Dir share(Dir tree) {
        return (Dir) MemFs.share(MemFs.share(tree, MemFs.BUSYBOX), MemFs.MINIMAL);
    }

    /** What the filesystem connection brought. */
    private static final class Received {
        final MemFs.Builder root = new MemFs.Builder(0755, 0, 0, MemFs.BASE_MTIME);
        final Map<String, MemFs.Builder> snapshots = new TreeMap<>();
        final Map<String, byte[]> templates = new TreeMap<>();
        ImageMetadata metadata;

        FakeInstance.ImageFiles files() {
            return metadata == null ? FakeInstance.ImageFiles.NONE : new FakeInstance.ImageFiles(metadata, templates);
        }
    }

    private static Received readFs(InputStream in) throws IOException {
        Received r = new Received();
        ImageTar.read(in, (e, content) -> {
            String n = e.name();
            while (n.startsWith("./") || n.startsWith("/")) {
                n = n.substring(n.startsWith("./") ? 2 : 1);
            }
            if (n.equals("metadata.yaml")) {
                r.metadata = RestJson.fromYaml(content.readAllBytes(), ImageMetadata.class);
            } else if (n.startsWith("templates/") && e.kind() == ImageTar.Kind.FILE) {
                r.templates.put(n.substring("templates/".length()), content.readAllBytes());
            } else if (n.equals("rootfs") || n.startsWith("rootfs/")) {
                FsTar.add(r.root, n.substring("rootfs".length()), e, content);
            } else if (n.startsWith("snapshots/")) {
                String rest = n.substring("snapshots/".length());
                int slash = rest.indexOf('/');
                if (slash > 0 && rest.startsWith("rootfs", slash + 1)) {
                    MemFs.Builder b = r.snapshots.computeIfAbsent(rest.substring(0, slash),
                            k -> new MemFs.Builder(0755, 0, 0, MemFs.BASE_MTIME));
                    FsTar.add(b, rest.substring(slash + 1 + "rootfs".length()), e, content);
                }
            }
        });
        in.transferTo(OutputStream.nullOutputStream());
        return r;
    }

    /**
     * The other side's failure, when a broken connection is its doing: it reports before it disconnects, so its
     * message is already waiting (a short wait covers the race).
     */
    private static PeerFailed peerFailure(MigrateArgs m, String side, Exception broken) {
        try {
            MigrationMessage msg = m.controlReceive().receive(PEER_REPORT_WAIT);
            if (msg != null && !msg.success()) {
                return new PeerFailed("Migration failed on the " + side + ": " + msg.message(), broken);
            }
        } catch (RuntimeException none) {
            // No report: the connection broke on its own.
        }
        return null;
    }

    /** Tells the other side this one failed (best effort: it may be gone already). */
    private static void tellFailure(MigrateArgs m, String message) {
        try {
            m.controlSend().send(MigrationMessage.control(false, message == null ? "unknown error" : message));
        } catch (RuntimeException ignored) {
            // The peer is gone; the caller reports the failure.
        }
        try {
            m.disconnect().run();
        } catch (RuntimeException ignored) {
            // Nothing more to release.
        }
    }
}
