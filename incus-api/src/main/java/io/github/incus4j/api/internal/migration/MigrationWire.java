package io.github.incus4j.api.internal.migration;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.store.BackupYaml;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrationMessage;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.spi.InstanceRecord;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The wire of a migration between incus4j drivers, over {@link MigrateArgs}' channels as Incus migrates: the source
 * sends a {@code header} (its driver, the filesystem format {@link #TAR}, the instance type, its {@code backup.yaml}
 * with the snapshots sent, whether the migration is live and the format of the state), streams the filesystem as one
 * tar over the filesystem connection ({@code metadata.yaml}, {@code templates/}, {@code rootfs/},
 * {@code snapshots/<name>/rootfs/}, ids as inside the instance; a VM's disk image as {@code rootfs.img} instead, and
 * its snapshots' files beside their {@code rootfs/}), the running state over the state connection when
 * live, then a {@code control} message with its outcome; the target answers with its own once it has made the
 * instance durable. Either side that fails tells the other and disconnects; the side that sees the connection break
 * reports the other side's failure ({@link PeerFailed}) rather than the broken pipe.
 */
@API(status = INTERNAL)
public final class MigrationWire {
    /** The {@code fs} header field's value: the tar layout above. */
    public static final String TAR = "incus4j-tar";
    /** Header fields. */
    public static final String DRIVER = "driver";
    public static final String FS = "fs";
    public static final String TYPE = "type";
    public static final String BACKUP = "backup";
    public static final String SNAPSHOTS = "snapshots";
    public static final String LIVE = "live";
    public static final String STATE = "state";
    /**
     * Header field: when {@code true}, the target answers the header with a control message once it has checked it,
     * and the source sends nothing more before that answer, so that a refusal comes before any data moves (a live
     * sender would otherwise stop its instance for a target that never takes it).
     */
    public static final String READY = "ready";

    private static final String METADATA = "metadata.yaml";
    private static final String TEMPLATES = "templates/";
    private static final String ROOTFS = "rootfs/";
    private static final String SNAPSHOT_DIR = "snapshots/";
    private static final Duration PEER_REPORT_WAIT = Duration.ofMillis(200);

    private MigrationWire() {
    }

    /** This side failed because the other one did: the other side's error is the one to report. */
    public static final class PeerFailed extends IncusException {
        private static final long serialVersionUID = 1L;

        PeerFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * The header of a migration of {@code record} (whose snapshots are those sent) from driver {@code driver};
     * {@code stateFormat} names what the state connection carries when {@code live}, {@code extra} adds the driver's
     * own fields.
     */
    public static Map<String, String> header(String driver, InstanceType type, InstanceRecord record, boolean live,
            String stateFormat, Map<String, String> extra) {
        List<String> names = new ArrayList<>();
        for (InstanceArgs s : record.snapshots()) {
            names.add(NameRules.snapshotPart(s.name()));
        }
        Map<String, String> h = new HashMap<>(extra == null ? Map.of() : extra);
        h.put(DRIVER, driver);
        h.put(FS, TAR);
        h.put(TYPE, type.apiName());
        h.put(BACKUP, new String(BackupYaml.write(record), StandardCharsets.UTF_8));
        h.put(SNAPSHOTS, String.join(",", names));
        h.put(LIVE, Boolean.toString(live));
        h.put(STATE, live ? stateFormat : "");
        return h;
    }

    /**
     * The record a header carries, after checking that it can be received by a {@code receiver} driver's instance
     * of type {@code type}: the filesystem format, the type, the snapshot names; and when live, that the state is in
     * {@code stateFormat} (null: this driver receives no running state).
     */
    public static InstanceRecord check(MigrationMessage header, InstanceType type, String receiver,
            String stateFormat) {
        if (!TAR.equals(header.field(FS))) {
            throw new InvalidArgumentException("Unsupported migration filesystem format "
                    + ErrorTexts.quote(String.valueOf(header.field(FS))) + ": the " + receiver + " driver receives "
                    + ErrorTexts.quote(TAR));
        }
        if (!type.apiName().equals(header.field(TYPE))) {
            throw new InvalidArgumentException("Instance type mismatch: the source is a " + header.field(TYPE)
                    + ", the target a " + type.apiName());
        }
        if (isLive(header) && (stateFormat == null || !stateFormat.equals(header.field(STATE)))) {
            throw new InvalidArgumentException("Unsupported live migration state "
                    + ErrorTexts.quote(String.valueOf(header.field(STATE))) + " from the "
                    + header.field(DRIVER) + " driver: the " + receiver + " driver "
                    + (stateFormat == null ? "receives no running state" : "receives " + ErrorTexts.quote(stateFormat)));
        }
        String backup = header.field(BACKUP);
        if (backup == null) {
            throw new InvalidArgumentException("Migration header without the instance's backup.yaml");
        }
        InstanceRecord record = BackupYaml.read(backup.getBytes(StandardCharsets.UTF_8));
        for (InstanceArgs s : record.snapshots()) {
            NameRules.validateSnapshotName(NameRules.snapshotPart(s.name()));
        }
        return record;
    }

    /** Whether the header announces a running state on the state connection. */
    public static boolean isLive(MigrationMessage header) {
        return Boolean.parseBoolean(header.field(LIVE));
    }

    // ---- the filesystem tar --------------------------------------------------------------------------------------

    /**
     * Writes the filesystem tar: {@code metadata.yaml} and {@code templates/} when {@code metadata} is not null, the
     * root filesystem under {@code rootfs/}, each snapshot's under {@code snapshots/<name>/rootfs/} (in the map's
     * order). The stream is not closed.
     */
    public static void writeTree(OutputStream out, ImageMetadata metadata, Map<String, byte[]> templates,
            ImageLayout.RootfsWriter rootfs, Map<String, ImageLayout.RootfsWriter> snapshots) throws IOException {
        ImageTar.Writer w = ImageTar.writer(out);
        if (metadata != null) {
            w.addFile(METADATA, RestJson.toYaml(metadata), 0644);
            for (Map.Entry<String, byte[]> t : templates.entrySet()) {
                w.addFile(TEMPLATES + t.getKey(), t.getValue(), 0644);
            }
        }
        rootfs.write(w, ROOTFS);
        for (Map.Entry<String, ImageLayout.RootfsWriter> s : snapshots.entrySet()) {
            s.getValue().write(w, SNAPSHOT_DIR + s.getKey() + "/" + ROOTFS);
        }
        w.finish();
    }

    /** What {@link #readTree} hands over. */
    public interface TreeReader {
        /** The instance's image metadata. */
        void metadata(ImageMetadata metadata) throws IOException;

        /** One template file. */
        void template(String name, byte[] content) throws IOException;

        /**
         * One entry of the root filesystem ({@code snapshot} null) or of snapshot {@code snapshot}'s, named relative
         * to that root ({@code ""} for the root itself), hard link targets relative to the same root.
         */
        void entry(String snapshot, ImageTar.Entry e, InputStream content) throws IOException;

        /**
         * A file outside the rootfs trees: at the top level ({@code snapshot} null, e.g. a VM's {@code rootfs.img})
         * or in snapshot {@code snapshot}'s directory beside its rootfs (e.g. a VM's saved state), named relative to
         * that directory. Skipped by default.
         */
        default void file(String snapshot, ImageTar.Entry e, InputStream content) throws IOException {
        }
    }

    /**
     * A {@link TreeReader} that keeps the image metadata and the templates in memory, for a receiver that installs
     * them at commit; the subclass takes the filesystem entries.
     */
    public abstract static class ImageFilesKept implements TreeReader {
        private ImageMetadata metadata;
        private final Map<String, byte[]> templates = new TreeMap<>();

        @Override
        public final void metadata(ImageMetadata md) {
            metadata = md;
        }

        @Override
        public final void template(String name, byte[] content) {
            templates.put(name, content);
        }

        /** The metadata read, {@code null} when the stream had none. */
        public final ImageMetadata metadata() {
            return metadata;
        }

        /** The templates read, by name. */
        public final Map<String, byte[]> templates() {
            return templates;
        }
    }

    /** The short names of {@code record}'s snapshots, the list {@link #readTree} accepts entries of. */
    public static List<String> snapshotNames(InstanceRecord record) {
        List<String> names = new ArrayList<>();
        record.snapshots().forEach(s -> names.add(NameRules.snapshotPart(s.name())));
        return names;
    }

    /**
     * Reads a filesystem tar written by {@link #writeTree}, to its end. Entries of a snapshot not in
     * {@code snapshots}, hard links from one root into another and template names with a {@code /} are refused;
     * other files at the top level or in a snapshot's directory go to {@link TreeReader#file}, anything else is
     * skipped.
     */
    public static void readTree(InputStream in, List<String> snapshots, TreeReader reader) throws IOException {
        ImageTar.read(in, (e, content) -> {
            String n = e.name();
            if (n.equals(METADATA) && e.kind() == ImageTar.Kind.FILE) {
                reader.metadata(RestJson.fromYaml(content.readAllBytes(), ImageMetadata.class));
            } else if (n.startsWith(TEMPLATES) && e.kind() == ImageTar.Kind.FILE) {
                String t = n.substring(TEMPLATES.length());
                if (t.contains("/")) {
                    throw new InvalidArgumentException("Invalid template name " + ErrorTexts.quote(t)
                            + " in the migration stream");
                }
                reader.template(t, content.readAllBytes());
            } else if (n.equals("rootfs") || n.startsWith(ROOTFS)) {
                reader.entry(null, relative(e, "rootfs"), content);
            } else if (n.startsWith(SNAPSHOT_DIR)) {
                String rest = n.substring(SNAPSHOT_DIR.length());
                int slash = rest.indexOf('/');
                String snap = slash < 0 ? rest : rest.substring(0, slash);
                String under = slash < 0 ? "" : rest.substring(slash + 1);
                if (!snapshots.contains(snap)) {
                    throw new InvalidArgumentException("Unexpected snapshot " + ErrorTexts.quote(snap)
                            + " in the migration stream (sent: " + snapshots + ")");
                }
                if (under.equals("rootfs") || under.startsWith(ROOTFS)) {
                    reader.entry(snap, relative(e, SNAPSHOT_DIR + snap + "/rootfs"), content);
                } else if (isFile(e, under)) {
                    reader.file(snap, relative(e, SNAPSHOT_DIR + snap), content);
                }
            } else if (isFile(e, n)) {
                reader.file(null, e, content);
            }
        });
        in.transferTo(OutputStream.nullOutputStream());
    }

    /** Whether {@code e} is a regular file named {@code name} directly in its directory. */
    private static boolean isFile(ImageTar.Entry e, String name) {
        return e.kind() == ImageTar.Kind.FILE && !name.isEmpty() && !name.contains("/");
    }

    /** {@code e} with {@code root} (and its slash) removed from its name and hard link target. */
    private static ImageTar.Entry relative(ImageTar.Entry e, String root) {
        String name = e.name().equals(root) ? "" : e.name().substring(root.length() + 1);
        String link = e.linkTarget();
        if (e.kind() == ImageTar.Kind.HARDLINK) {
            if (!link.startsWith(root + "/")) {
                throw new InvalidArgumentException("Invalid migration stream: hard link " + ErrorTexts.quote(e.name())
                        + " points outside " + root + " to " + ErrorTexts.quote(link));
            }
            link = link.substring(root.length() + 1);
        }
        return new ImageTar.Entry(name, e.kind(), e.mode(), e.uid(), e.gid(), e.modified(), e.size(), link);
    }

    // ---- the two sides -------------------------------------------------------------------------------------------

    /** What the source puts on the connections. */
    public interface Sender {
        /** Writes the filesystem (e.g. with {@link #writeTree}); the stream is buffered and closed after. */
        void filesystem(OutputStream out) throws IOException;

        /** Writes the running state of a live migration; the stream is closed after. */
        default void state(OutputStream out) throws IOException {
            throw new IllegalStateException("This sender has no running state");
        }
    }

    /**
     * Runs the source's side: the header, the filesystem, the state when the header says live, the outcome, then
     * waits for the target's. Every wait lasts at most {@code timeout}.
     *
     * @param what names the migration in errors, e.g. {@code Migration of "c1"}
     */
    public static void send(MigrateArgs m, Map<String, String> header, Duration timeout, String what, Sender s) {
        Objects.requireNonNull(s, "sender");
        boolean started = false;
        try {
            m.controlSend().send(MigrationMessage.header(header));
            if (Boolean.parseBoolean(header.get(READY))) {
                MigrationMessage ready = m.controlReceive().receive(timeout);
                if (ready == null || !ready.success()) {
                    throw new PeerFailed("Migration refused by the target: " + (ready == null ? "no answer within "
                            + timeout.toMillis() + " ms" : ready.message()), null);
                }
            }
            started = true;
            try (Connection c = m.filesystemConn().open(timeout)) {
                OutputStream out = new BufferedOutputStream(c.output(), 1 << 16);
                s.filesystem(out);
                out.flush();
                c.output().close();
            }
            if (Boolean.parseBoolean(header.get(LIVE))) {
                try (Connection c = m.stateConn().open(timeout)) {
                    s.state(c.output());
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
            throw failed(m, started, "target", e, what);
        }
    }

    /** What the target does with what arrives. */
    public interface Receiver {
        /** Checks the header (e.g. with {@link #check}); called first. */
        void header(MigrationMessage header);

        /** Reads the filesystem connection (e.g. with {@link #readTree}) into a staging area. */
        void filesystem(InputStream in) throws IOException;

        /** Reads the running state of a live migration. */
        default void state(InputStream in) throws IOException {
            throw new IllegalStateException("This receiver takes no running state");
        }

        /** The source succeeded: makes the received instance durable (and running, when live). */
        void commit();

        /** The migration failed before or during {@link #commit()}: removes what was staged. */
        void abort();
    }

    /**
     * Runs the target's side: receives and checks the header, the filesystem, the state when live and the source's
     * outcome, commits, then reports success. On failure {@link Receiver#abort()} runs and the source is told.
     */
    public static void receive(MigrateArgs m, Duration timeout, String what, Receiver r) {
        Objects.requireNonNull(r, "receiver");
        try {
            MigrationMessage header = m.controlReceive().receive(timeout);
            if (header == null) {
                throw new OperationTimeoutException("No migration header within " + timeout.toMillis() + " ms");
            }
            if (!"header".equals(header.kind())) {
                if (!header.success()) {
                    throw new PeerFailed("Migration failed on the source: " + header.message(), null);
                }
                throw new IncusException("Unexpected migration message " + ErrorTexts.quote(header.kind()));
            }
            r.header(header);
            if (Boolean.parseBoolean(header.field(READY))) {
                m.controlSend().send(MigrationMessage.control(true, "ready"));
            }
            try (Connection c = m.filesystemConn().open(timeout)) {
                r.filesystem(c.input());
            }
            if (isLive(header)) {
                try (Connection c = m.stateConn().open(timeout)) {
                    r.state(c.input());
                }
            }
            MigrationMessage done = m.controlReceive().receive(timeout);
            if (done == null || !done.success()) {
                throw new PeerFailed("Migration failed on the source: "
                        + (done == null ? "no answer within " + timeout.toMillis() + " ms" : done.message()), null);
            }
            r.commit();
            m.controlSend().send(MigrationMessage.control(true, ""));
        } catch (IOException | RuntimeException e) {
            try {
                r.abort();
            } catch (RuntimeException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw failed(m, true, "source", e, what);
        }
    }

    /**
     * Refuses a migration before anything was sent or received: tells the other side why and disconnects, so that
     * it does not wait for what will not come. Returns {@code e} for the caller to throw.
     */
    public static RuntimeException abandon(MigrateArgs m, RuntimeException e) {
        tellFailure(m, e.getMessage());
        return e;
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
        if (e instanceof RuntimeException re) {
            return re;
        }
        // Our own type: a broken connection's IOException must not escape the public migrate methods raw.
        return new IncusException(what + " failed: " + e.getMessage(), e);
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

    /** Tells the other side this one failed (best effort: it may be gone already), then disconnects. */
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
