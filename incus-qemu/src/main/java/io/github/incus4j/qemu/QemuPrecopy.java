package io.github.incus4j.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Pre-copy live migration of a running VM, QEMU's own: the source's {@code migrate} streams the RAM while the guest
 * runs, iterating over the pages it dirties, and converges under a downtime limit (with auto-converge throttling a
 * guest that dirties faster than the link); the target QEMU, started with {@code -incoming defer}, takes it with
 * {@code migrate-incoming}. Both QEMUs talk to a unix socket of ours; the bytes travel over the migration's state
 * connection in frames ({@code Q}: QEMU's stream, {@code O}: the disk overlay, {@code E}: the end).
 *
 * <p>The disk: before the filesystem is sent, the source puts an overlay over its disk ({@code blockdev-snapshot}),
 * so that the disk sent is stable while the guest writes into the overlay. With {@code pause-before-switchover}
 * QEMU stops the guest (flushing its disks) before it sends the device state; the overlay then goes over, into the
 * target's overlay file, which its QEMU opened inactive and re-reads when it takes over. Each side then merges the
 * overlay back into its disk (an active {@code block-commit} on the running target, {@code qemu-img commit} on the
 * stopped source, or the source's active commit when the migration failed and its guest runs on).
 */
final class QemuPrecopy {
    private static final System.Logger LOG = System.getLogger(QemuPrecopy.class.getName());
    /** The {@code state} header field of a pre-copy live migration. */
    static final String STATE_FORMAT = "qemu-precopy-framed";
    static final String OVERLAY = "migration-overlay.qcow2";
    /** The downtime QEMU aims at when it decides to switch over (ms). */
    static final long DOWNTIME_LIMIT_MS = 300;
    /** Pre-copy that has not converged by then is finished by pausing the guest: stop-and-copy. */
    static final Duration PRECOPY_LIMIT = Duration.ofSeconds(60);
    /** The limit in force: {@link #PRECOPY_LIMIT}; tests shorten it to measure stop-and-copy itself. */
    static volatile Duration precopyLimit = PRECOPY_LIMIT;
    private static final long MAX_BANDWIDTH = 4L << 30; // QEMU 7.2 defaults to 32 MiB/s
    private static final String COMMIT_JOB = "incus-mig-commit";
    private static final int Q = 'Q';
    private static final int O = 'O';
    private static final int E = 'E';
    private static final long POLL_MILLIS = 20;

    /** What a migration measured: QEMU's {@code total-time} and {@code downtime}, its RAM passes. */
    record Figures(long totalMillis, long downtimeMillis, long passes, boolean stopAndCopy) {
    }

    private QemuPrecopy() {
    }

    // ---- the source ------------------------------------------------------------------------------------------

    /** Puts {@code overlay} (created here) over the running VM's root disk: the disk no longer changes. */
    static void addOverlay(QmpClient qmp, Path disk, Path overlay) {
        QemuHost host = QemuHost.get();
        QemuHost.deleteQuietly(overlay);
        host.qemuImg(List.of("create", "-q", "-f", "qcow2", "-u", "-b", disk.getFileName().toString(), "-F", "qcow2",
                overlay.toString(), Long.toString(virtualSize(disk, true))));
        qmp.execute("blockdev-add", Map.of("driver", "qcow2", "node-name", VmCommandLine.OVERLAY_NODE,
                "file", Map.of("driver", "file", "filename", overlay.toString()), "backing", NULL));
        qmp.execute("blockdev-snapshot", Map.of("node", VmCommandLine.ROOT_NODE, "overlay",
                VmCommandLine.OVERLAY_NODE));
    }

    /** JSON null for the QMP client's map arguments. */
    private static final Object NULL = com.fasterxml.jackson.databind.node.NullNode.getInstance();

    private static long virtualSize(Path disk, boolean shared) {
        String json = QemuHost.get().qemuImg(shared ? List.of("info", "-U", "--output=json", disk.toString())
                : List.of("info", "--output=json", disk.toString()));
        try {
            return new ObjectMapper().readTree(json).path("virtual-size").asLong();
        } catch (IOException e) {
            throw new IncusException("Unreadable qemu-img info of " + disk + ": " + e.getMessage(), e);
        }
    }

    /**
     * Runs the source's migration into {@code out}: QEMU's stream while the guest runs, the overlay once QEMU has
     * paused the guest before the switchover, the end mark. Returns once QEMU reports the migration completed (the
     * guest then stays paused, {@code postmigrate}).
     */
    static Figures send(QmpClient qmp, Path overlay, OutputStream out, String vmName) throws IOException {
        DataOutputStream d = new DataOutputStream(new BufferedOutputStream(out, 1 << 16));
        Path dir = Files.createTempDirectory("i4jq");
        Path sock = dir.resolve("s");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            qmp.execute("migrate-set-capabilities", Map.of("capabilities", List.of(
                    Map.of("capability", "pause-before-switchover", "state", true),
                    Map.of("capability", "auto-converge", "state", true))));
            qmp.execute("migrate-set-parameters", Map.of("downtime-limit", DOWNTIME_LIMIT_MS,
                    "max-bandwidth", MAX_BANDWIDTH));
            CompletableFuture<Void> pumped = new CompletableFuture<>();
            Thread pump = new Thread(() -> {
                try (SocketChannel ch = server.accept()) {
                    ByteBuffer buf = ByteBuffer.allocate(1 << 16);
                    while (ch.read(buf) >= 0) {
                        buf.flip();
                        synchronized (d) {
                            d.writeByte(Q);
                            d.writeInt(buf.remaining());
                            d.write(buf.array(), 0, buf.remaining());
                        }
                        buf.clear();
                    }
                    pumped.complete(null);
                } catch (IOException | RuntimeException e) {
                    pumped.completeExceptionally(e);
                }
            }, "incus4j-qemu-migration-pump");
            pump.setDaemon(true);
            pump.start();
            long start = System.nanoTime();
            Duration limit = precopyLimit;
            boolean stopAndCopy = false;
            qmp.execute("migrate", Map.of("uri", "unix:" + sock));
            try {
                while (true) {
                    JsonNode info = qmp.execute("query-migrate");
                    String status = info.path("status").asText("none");
                    if (status.equals("completed")) {
                        pumped.get(QemuState.TRANSFER_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                        synchronized (d) {
                            d.writeByte(E);
                            d.flush();
                        }
                        Figures f = new Figures(info.path("total-time").asLong(), info.path("downtime").asLong(),
                                info.path("ram").path("dirty-sync-count").asLong(), stopAndCopy);
                        LOG.log(System.Logger.Level.INFO, "Live migration of {0}: {1}", vmName, f);
                        return f;
                    }
                    if (status.equals("failed") || status.equals("cancelled")) {
                        throw new IncusException("Live migration failed in QEMU: "
                                + info.path("error-desc").asText(status));
                    }
                    if (status.equals("pre-switchover")) {
                        // The guest is paused and its disks flushed: the overlay is final.
                        synchronized (d) {
                            d.writeByte(O);
                            d.writeLong(Files.size(overlay));
                            Files.copy(overlay, d);
                            d.flush();
                        }
                        qmp.execute("migrate-continue", Map.of("state", "pre-switchover"));
                        Thread.sleep(POLL_MILLIS);
                        continue;
                    }
                    if (pumped.isCompletedExceptionally()) {
                        pumped.get(); // the connection broke: report it
                    }
                    long elapsed = System.nanoTime() - start;
                    if (!stopAndCopy && status.equals("active") && elapsed > limit.toNanos()) {
                        LOG.log(System.Logger.Level.WARNING, "Live migration of {0} does not converge after {1}"
                                + " ms: pausing the guest, stop-and-copy", vmName, limit.toMillis());
                        qmp.execute("stop");
                        stopAndCopy = true;
                    }
                    if (elapsed > QemuState.TRANSFER_TIMEOUT.toNanos()) {
                        throw new OperationTimeoutException("Live migration of " + vmName + " not completed within "
                                + QemuState.TRANSFER_TIMEOUT.toMinutes() + " minutes (status " + status + ")");
                    }
                    Thread.sleep(POLL_MILLIS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted while migrating " + vmName, e);
            } catch (ExecutionException e) {
                cancel(qmp);
                if (e.getCause() instanceof IOException io) {
                    throw io;
                }
                throw new IncusException("Live migration of " + vmName + " failed: " + e.getCause(), e);
            } catch (TimeoutException e) {
                throw new OperationTimeoutException("QEMU's migration stream of " + vmName + " did not end");
            } catch (IOException | RuntimeException e) {
                cancel(qmp);
                throw e;
            }
        } finally {
            QemuHost.deleteQuietly(sock);
            QemuHost.deleteQuietly(dir);
        }
    }

    private static void cancel(QmpClient qmp) {
        try {
            qmp.execute("migrate_cancel");
        } catch (RuntimeException ignored) {
            // QEMU is gone or the migration ended meanwhile
        }
    }

    /**
     * The migration failed on the source: its guest runs on (resumed when QEMU paused it), and the overlay is
     * merged back into the disk while it runs.
     */
    static void resumeAndMerge(QmpClient qmp, Path overlay) {
        String status = qmp.execute("query-status").path("status").asText();
        if (!status.equals("running")) {
            qmp.execute("cont");
        }
        activeCommit(qmp);
        QemuHost.deleteQuietly(overlay);
    }

    /** The stopped source's overlay merged into its disk, then deleted. */
    static void mergeOffline(Path overlay) {
        QemuHost.get().qemuImg(List.of("commit", "-q", "-f", "qcow2", overlay.toString()));
        QemuHost.deleteQuietly(overlay);
    }

    /** Merges the active overlay into the root disk while the guest runs; the device then uses the disk again. */
    static void activeCommit(QmpClient qmp) {
        qmp.execute("block-commit", Map.of("job-id", COMMIT_JOB, "device", VmCommandLine.OVERLAY_NODE));
        long deadline = System.nanoTime() + QemuState.TRANSFER_TIMEOUT.toNanos();
        boolean completing = false;
        try {
            while (System.nanoTime() < deadline) {
                JsonNode job = null;
                for (JsonNode j : qmp.execute("query-block-jobs")) {
                    if (COMMIT_JOB.equals(j.path("device").asText())) {
                        job = j;
                    }
                }
                if (job == null) {
                    if (!completing) {
                        throw new IncusException("The merge of the migration overlay ended before it was ready");
                    }
                    dropOverlayNode(qmp);
                    return;
                }
                if (!completing && job.path("ready").asBoolean()) {
                    qmp.execute("block-job-complete", Map.of("device", COMMIT_JOB));
                    completing = true;
                }
                Thread.sleep(POLL_MILLIS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while merging the migration overlay", e);
        }
        throw new OperationTimeoutException("The merge of the migration overlay did not finish within "
                + QemuState.TRANSFER_TIMEOUT.toMinutes() + " minutes");
    }

    /**
     * Deletes the merged overlay's node: out of the chain it stays in QEMU (its node name taken, its file open), and
     * the next live migration of this VM could not add its overlay under that name.
     */
    private static void dropOverlayNode(QmpClient qmp) {
        try {
            qmp.execute("blockdev-del", Map.of("node-name", VmCommandLine.OVERLAY_NODE));
        } catch (RuntimeException e) {
            // The guest runs on its disk either way; only a later live migration of this QEMU would fail.
            LOG.log(System.Logger.Level.WARNING, "Cannot delete the merged migration overlay node: {0}",
                    e.getMessage());
        }
    }

    // ---- the target ------------------------------------------------------------------------------------------

    /** The target's overlay over the received {@code disk}, for QEMU to open at start; its content comes later. */
    static void createOverlay(Path disk, Path overlay) {
        QemuHost.deleteQuietly(overlay);
        QemuHost.get().qemuImg(List.of("create", "-q", "-f", "qcow2", "-u", "-b", disk.getFileName().toString(),
                "-F", "qcow2", overlay.toString(), Long.toString(virtualSize(disk, false))));
    }

    /**
     * Feeds the frames of {@code in} into the QEMU behind {@code qmp} (started with {@code -incoming defer}): QEMU's
     * stream into its socket, the overlay into {@code overlay} in place (QEMU holds it open, inactive, and re-reads
     * it when it takes over). Returns once QEMU has loaded the migration; the guest is then paused.
     */
    static void receive(QmpClient qmp, InputStream in, Path overlay) throws IOException {
        DataInputStream d = new DataInputStream(new BufferedInputStream(in, 1 << 16));
        Path dir = Files.createTempDirectory("i4jq");
        Path sock = dir.resolve("s");
        try {
            qmp.execute("migrate-incoming", Map.of("uri", "unix:" + sock));
            try (SocketChannel ch = connect(sock)) {
                OutputStream toQemu = Channels.newOutputStream(ch);
                byte[] buf = new byte[1 << 16];
                boolean overlayReceived = false;
                while (true) {
                    int kind = d.read();
                    if (kind == Q) {
                        int n = d.readInt();
                        if (n < 0 || n > buf.length) {
                            throw new InvalidArgumentException("Invalid migration frame of " + n + " bytes");
                        }
                        d.readFully(buf, 0, n);
                        toQemu.write(buf, 0, n);
                    } else if (kind == O) {
                        long size = d.readLong();
                        writeInPlace(d, overlay, size);
                        overlayReceived = true;
                    } else if (kind == E) {
                        if (!overlayReceived) {
                            throw new InvalidArgumentException("The live migration stream holds no disk overlay");
                        }
                        ch.shutdownOutput();
                        break;
                    } else if (kind < 0) {
                        throw new EOFException("The live migration stream ended before its end mark");
                    } else {
                        throw new InvalidArgumentException("Unknown live migration frame " + kind);
                    }
                }
                awaitIncoming(qmp);
            }
        } finally {
            QemuHost.deleteQuietly(sock);
            QemuHost.deleteQuietly(dir);
        }
    }

    /** QEMU listens once {@code migrate-incoming} returns; retried briefly all the same. */
    private static SocketChannel connect(Path sock) throws IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (true) {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                ch.connect(UnixDomainSocketAddress.of(sock));
                return ch;
            } catch (IOException e) {
                ch.close();
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                try {
                    Thread.sleep(POLL_MILLIS);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IncusException("Interrupted while connecting to QEMU's migration socket", ie);
                }
            }
        }
    }

    /** {@code size} bytes of {@code in} into {@code file}, truncated and written through the same inode. */
    private static void writeInPlace(DataInputStream in, Path file, long size) throws IOException {
        try (FileChannel f = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            OutputStream out = Channels.newOutputStream(f);
            byte[] buf = new byte[1 << 16];
            long left = size;
            while (left > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                if (n < 0) {
                    throw new EOFException("The live migration stream ended inside the disk overlay");
                }
                out.write(buf, 0, n);
                left -= n;
            }
            f.force(true);
        }
    }

    private static void awaitIncoming(QmpClient qmp) {
        long deadline = System.nanoTime() + QemuState.TRANSFER_TIMEOUT.toNanos();
        try {
            while (System.nanoTime() < deadline) {
                JsonNode info = qmp.execute("query-migrate");
                String status = info.path("status").asText("none");
                if (status.equals("completed")) {
                    return;
                }
                if (status.equals("failed") || status.equals("cancelled")) {
                    throw new IncusException("Live migration failed in the target QEMU: "
                            + info.path("error-desc").asText(status));
                }
                Thread.sleep(POLL_MILLIS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while receiving a live migration", e);
        }
        throw new OperationTimeoutException("The target QEMU did not complete the live migration within "
                + QemuState.TRANSFER_TIMEOUT.toMinutes() + " minutes");
    }
}
