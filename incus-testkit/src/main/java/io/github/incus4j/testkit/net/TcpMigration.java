package io.github.incus4j.testkit.net;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.io.BulkOutputStream;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrationMessage;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apiguardian.api.API;

/**
 * A migration's connections over TCP between two network namespaces of a {@link NetnsPair}, as between two hosts:
 * the target listens on b's address, the source connects from a; one connection each for the control messages, the
 * filesystem and the state (a first byte says which). Nothing else is shared by the two ends. {@code cutStateAfter}
 * (when positive) resets every connection once the source has written that many bytes of state: a cable cut
 * mid-transfer.
 */
@API(status = EXPERIMENTAL)
public final class TcpMigration implements AutoCloseable {
    private static final int PORT = 8443;
    private final Socket[] sourceSockets = new Socket[3];
    private final Socket[] targetSockets = new Socket[3];
    private final MigrateArgs source;
    private final MigrateArgs target;

    private TcpMigration(NetnsPair net, boolean live, long cutStateAfter) throws Exception {
        ServerSocket listener = net.inB(() -> {
            ServerSocket s = new ServerSocket();
            s.bind(new InetSocketAddress(net.addressB(), PORT));
            s.setSoTimeout(20_000);
            return s;
        });
        try (listener) {
            for (int kind = 0; kind < 3; kind++) {
                int k = kind;
                // Connected inside a: a Socket makes its descriptor (in the thread's namespace) when it connects.
                sourceSockets[kind] = net.inA(() -> connectOne(new InetSocketAddress(net.addressB(), PORT), k));
            }
            acceptAll(listener, targetSockets);
        }
        Runnable cut = this::reset;
        source = args(sourceSockets, live, cutStateAfter, cut, "source");
        target = args(targetSockets, live, 0, cut, "target");
    }

    /**
     * Connects the two ends across {@code net}; {@code live} is the migration's flag (snapshots are not sent),
     * {@code cutStateAfter} the state bytes after which every connection is reset (0: never).
     */
    public static TcpMigration open(NetnsPair net, boolean live, long cutStateAfter) throws Exception {
        return new TcpMigration(net, live, cutStateAfter);
    }

    /**
     * One end of a migration whose other end runs elsewhere (another JVM, another host): its three connections and
     * the arguments made of them. Closing closes the connections.
     */
    @API(status = EXPERIMENTAL)
    public static final class End implements AutoCloseable {
        private final Socket[] sockets;
        private final MigrateArgs args;

        private End(Socket[] sockets, boolean live, long cutStateAfter, String side) throws IOException {
            this.sockets = sockets;
            this.args = TcpMigration.args(sockets, live, cutStateAfter, () -> reset(List.<Socket[]>of(sockets)), side);
        }

        /** The arguments for this end's {@code migrateSend} or {@code migrateReceive}. */
        public MigrateArgs args() {
            return args;
        }

        @Override
        public void close() {
            closeAll(sockets);
        }
    }

    /**
     * The source's end: connects to a target listening at {@code target} (from the calling thread's network
     * namespace, e.g. inside {@link NetnsPair#inA}); {@code cutStateAfter} as for {@link #open} (the reset cuts this
     * end's connections: the peer sees them reset).
     */
    public static End connect(InetSocketAddress target, boolean live, long cutStateAfter) throws IOException {
        Socket[] s = new Socket[3];
        try {
            for (int kind = 0; kind < 3; kind++) {
                s[kind] = connectOne(target, kind);
            }
            return new End(s, live, cutStateAfter, "source");
        } catch (IOException | RuntimeException e) {
            closeAll(s);
            throw e;
        }
    }

    /** The target's end: accepts the source's three connections on {@code listener} (20 s each at most). */
    public static End accept(ServerSocket listener, boolean live) throws IOException {
        Socket[] s = new Socket[3];
        try {
            listener.setSoTimeout(20_000);
            acceptAll(listener, s);
            return new End(s, live, 0, "target");
        } catch (IOException | RuntimeException e) {
            closeAll(s);
            throw e;
        }
    }

    private static Socket connectOne(InetSocketAddress target, int kind) throws IOException {
        Socket s = new Socket();
        try {
            s.connect(target, 20_000);
            s.getOutputStream().write(kind);
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    private static void acceptAll(ServerSocket listener, Socket[] into) throws IOException {
        for (int i = 0; i < 3; i++) {
            Socket s = listener.accept();
            s.setSoTimeout(20_000);
            int kind = s.getInputStream().read();
            if (kind < 0 || kind > 2 || into[kind] != null) {
                s.close();
                throw new IOException("Unexpected migration connection kind " + kind);
            }
            // A stalled data connection fails a read after a minute; the control reader waits for messages.
            s.setSoTimeout(kind == 0 ? 0 : 60_000);
            into[kind] = s;
        }
    }

    /** The source's arguments (namespace a). */
    public MigrateArgs source() {
        return source;
    }

    /** The target's arguments (namespace b). */
    public MigrateArgs target() {
        return target;
    }

    private static MigrateArgs args(Socket[] s, boolean live, long cutStateAfter, Runnable cut, String side)
            throws IOException {
        BlockingQueue<Optional<MigrationMessage>> in = new LinkedBlockingQueue<>();
        DataOutputStream control = new DataOutputStream(new BufferedOutputStream(s[0].getOutputStream()));
        DataInputStream controlIn = new DataInputStream(s[0].getInputStream());
        Thread reader = new Thread(() -> {
            try {
                while (true) {
                    in.add(Optional.of(read(controlIn)));
                }
            } catch (IOException e) {
                in.add(Optional.empty()); // closed: every later receive fails at once
            }
        }, "tcp-migration-control-" + side);
        reader.setDaemon(true);
        reader.start();
        return new MigrateArgs(m -> {
            synchronized (control) {
                try {
                    write(control, m);
                } catch (IOException e) {
                    throw new IncusException("The migration control connection broke: " + e.getMessage(), e);
                }
            }
        }, timeout -> {
            try {
                Optional<MigrationMessage> m = in.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
                if (m == null) {
                    return null;
                }
                if (m.isEmpty()) {
                    in.add(m);
                    throw new IncusException("The migration control connection is closed");
                }
                return m.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new OperationTimeoutException("Interrupted");
            }
        }, timeout -> connection(s[2], cutStateAfter, cut), timeout -> connection(s[1], 0, cut), false, live,
                () -> closeAll(s), null, null);
    }

    private static Connection connection(Socket s, long cutAfter, Runnable cut) {
        try {
            InputStream in = s.getInputStream();
            OutputStream raw = s.getOutputStream();
            AtomicLong written = new AtomicLong();
            OutputStream out = new BulkOutputStream() {
                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    if (cutAfter > 0 && written.addAndGet(len) > cutAfter) {
                        cut.run();
                        throw new IOException("Connection reset (cut by the test)");
                    }
                    raw.write(b, off, len);
                }

                @Override
                public void close() throws IOException {
                    if (!s.isClosed() && !s.isOutputShutdown()) {
                        s.shutdownOutput(); // a half close: the peer reads the end, the socket stays
                    }
                }
            };
            return Connection.of(in, out);
        } catch (IOException e) {
            throw new IncusException("The migration connection is closed: " + e.getMessage(), e);
        }
    }

    private static void write(DataOutputStream out, MigrationMessage m) throws IOException {
        str(out, m.kind());
        out.writeBoolean(m.success());
        str(out, m.message());
        out.writeInt(m.fields().size());
        for (Map.Entry<String, String> f : m.fields().entrySet()) {
            str(out, f.getKey());
            str(out, f.getValue());
        }
        out.flush();
    }

    private static MigrationMessage read(DataInputStream in) throws IOException {
        String kind = str(in);
        boolean success = in.readBoolean();
        String message = str(in);
        int n = in.readInt();
        Map<String, String> fields = new HashMap<>();
        for (int i = 0; i < n; i++) {
            fields.put(str(in), str(in));
        }
        return new MigrationMessage(kind, fields, success, message);
    }

    private static void str(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    private static String str(DataInputStream in) throws IOException {
        byte[] b = new byte[in.readInt()];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Resets every connection of both ends (SO_LINGER 0: an RST, as a broken link ends up). */
    private void reset() {
        reset(List.of(sourceSockets, targetSockets));
    }

    private static void reset(List<Socket[]> sides) {
        for (Socket[] side : sides) {
            for (Socket s : side) {
                try {
                    s.setSoLinger(true, 0);
                } catch (IOException ignored) {
                    // closed already
                }
            }
            closeAll(side);
        }
    }

    private static void closeAll(Socket[] sockets) {
        for (Socket s : sockets) {
            try {
                if (s != null) {
                    s.close();
                }
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    /** Runs the target's receive on a thread and the source's send on the caller's; the first failure wins. */
    public static void migrate(io.github.incus4j.api.Instance src, io.github.incus4j.api.Instance dst, TcpMigration tcp,
            Duration timeout) throws Exception {
        java.util.concurrent.CompletableFuture<Void> received = new java.util.concurrent.CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                dst.migrateReceive(new io.github.incus4j.api.migration.MigrateReceiveArgs(tcp.target, null, false,
                        false));
                received.complete(null);
            } catch (Throwable e) {
                received.completeExceptionally(e);
            }
        }, "tcp-migration-receiver");
        t.setDaemon(true);
        t.start();
        RuntimeException sendError = null;
        try {
            src.migrateSend(new io.github.incus4j.api.migration.MigrateSendArgs(tcp.source, false));
        } catch (RuntimeException e) {
            sendError = e;
        }
        try {
            received.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (sendError == null) {
                throw e.getCause() instanceof Exception x ? x : e;
            }
            sendError.addSuppressed(e.getCause());
        }
        if (sendError != null) {
            throw sendError;
        }
    }

    /** Closes every connection of both ends. */
    @Override
    public void close() {
        closeAll(sourceSockets);
        closeAll(targetSockets);
    }
}
