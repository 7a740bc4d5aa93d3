package io.github.incus4j.remote;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.migration.MigrationMessage;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;

/**
 * Migration between two Incus servers, or two projects of one, relayed by this client as {@code incus copy --mode
 * relay} relays it: the source server offers its migration websockets ({@code control}, {@code fs}, and {@code criu}
 * for a live move) on a {@code migration: true} operation, the target server takes the instance in push mode and
 * offers the same names, and the two sides' {@link MigrateArgs} carry every websocket message between them unchanged
 * (its type and payload): the control socket's as {@link MigrationMessage}s, {@code fs} over the filesystem
 * connection and {@code criu} over the state connection, each message framed there as a type byte, a length and the
 * payload. Neither side reads Incus's own migration protocol; the servers speak it to each other through the relay.
 *
 * <p>Before relaying, the sides exchange one {@link #HEADER} each: the sender's carries the instance's definition (what
 * the target creates it with) and the source's socket names, the receiver's the target's socket names, which the
 * sender then connects. A side that fails sends {@code control(false, reason)}, so that the other one stops too.
 */
final class IncusMigration {
    private static final System.Logger LOG = System.getLogger(IncusMigration.class.getName());
    private static final AtomicInteger THREADS = new AtomicInteger();

    /** The relay's handshake message: {@code instance} (sender only) and {@code sockets}. */
    static final String HEADER = "incus-relay";
    /** A control websocket message: {@code type} ({@code binary} or {@code text}) and base64 {@code data}. */
    static final String FRAME = "incus-frame";
    /** The control websocket closed on the other side. */
    static final String CLOSE = "incus-close";

    private static final String CONTROL = "control";
    private static final String FILESYSTEM = "fs";
    private static final String STATE = "criu";
    private static final byte BINARY = 'B';
    private static final byte TEXT = 'T';
    private static final byte CLOSED = 'C';
    /** How long a whole migration may take on the servers: a large root filesystem takes minutes. */
    static final Duration MIGRATION_LIMIT = Duration.ofMinutes(30);
    /** The largest websocket message the relay takes from the other side (Incus's are a few KiB). */
    private static final int MAX_MESSAGE = 16 * 1024 * 1024;
    /** How long the control pump waits per poll, so that it notices the end of the relay. */
    private static final Duration POLL = Duration.ofMillis(500);

    private IncusMigration() {
    }

    /** {@code migrateSend}: the source server's side. */
    static void send(IncusInstance source, MigrateSendArgs sendArgs) {
        MigrateArgs args = sendArgs.common();
        Duration timeout = source.timeout();
        relaySide(args, relay -> {
            JsonNode definition = source.get();
            ObjectNode body = Transport.JSON.createObjectNode();
            body.put("migration", true);
            body.put("live", args.live());
            body.put("instance_only", !args.snapshots());
            body.put("allow_inconsistent", sendArgs.allowInconsistent());
            Map<String, String> secrets = relay.open(source.session, source.transport().call("POST",
                    source.path(""), body), args, timeout);
            args.controlSend().send(new MigrationMessage(HEADER, Map.of("instance", definition.toString(),
                    "sockets", String.join(",", secrets.keySet())), true, ""));
            // The server waits 30 s for its control socket: connected now, its first message waits in the wire
            // behind our header until the receiver reads it.
            relay.get().connectControl();
            Set<String> wanted = sockets(expectHeader(args, timeout.multipliedBy(3), "the migration receiver"));
            requireOffered(wanted, secrets.keySet());
            return wanted;
        });
    }

    /** {@code migrateReceive}: {@code target} (stopped, or missing) is replaced by the instance the sender sends. */
    static void receive(IncusInstance target, MigrateReceiveArgs receiveArgs) {
        MigrateArgs args = receiveArgs.common();
        Duration timeout = target.timeout();
        IncusInstances session = target.session;
        try {
            relaySide(args, relay -> {
                MigrationMessage header = expectHeader(args, timeout, "the migration sender");
                JsonNode definition = parse(header.field("instance"));
                if (!receiveArgs.refresh() && session.find(target.project().name(), target.name()).isPresent()) {
                    // The handle stands for the instance being received: its placeholder makes way (a running one
                    // is refused with the server's text).
                    target.delete(false);
                }
                Map<String, String> secrets = relay.open(session, target.transport().call("POST", "/1.0/instances?"
                        + IncusInstances.projectQuery(target.project().name()),
                        createBody(target, definition, args, receiveArgs)), args, timeout);
                if (!secrets.containsKey(CONTROL)) {
                    throw new IncusException("Migration target didn't setup the required \"control\" socket");
                }
                requireOffered(secrets.keySet(), sockets(header));
                relay.get().connectControl();
                args.controlSend().send(new MigrationMessage(HEADER, Map.of("sockets",
                        String.join(",", secrets.keySet())), true, ""));
                return secrets.keySet();
            });
        } finally {
            session.events().forget(target.project().name(), target.name());
        }
    }

    /** Incus's check before a relay: every socket the target wants, the source must offer. */
    private static void requireOffered(Set<String> wanted, Set<String> offered) {
        for (String name : wanted) {
            if (!offered.contains(name)) {
                throw new IncusException("Migration target expects the \"" + name
                        + "\" socket but source isn't providing it");
            }
        }
    }

    /**
     * Connects websockets {@code secrets} of operation {@code opId} and closes them at once: a migration operation
     * waits for every websocket it offered and ends (failed) when they close. Never DELETE it instead: Incus 6.0.4's
     * Cancel of a migration operation dereferences nil and the daemon dies (operations.go:372). A websocket the peer
     * server connected already is refused, which is fine: that one closes with the peer's end.
     */
    static void releaseWebsockets(IncusInstances session, String opId, Map<String, String> secrets, Duration timeout) {
        for (Map.Entry<String, String> e : secrets.entrySet()) {
            try {
                session.transport().websocket("/1.0/operations/" + IncusInstances.seg(opId) + "/websocket?secret="
                        + IncusInstances.seg(e.getValue()), new Session.Listener.AutoDemanding() { }, timeout)
                        .close();
            } catch (RuntimeException ex) {
                LOG.log(System.Logger.Level.DEBUG, "migration websocket {0} of {1} not connected: {2}", e.getKey(),
                        opId, ex.getMessage());
            }
        }
    }

    /** One side's preparation: creates its operation ({@link RelayHolder#open}), connects, and names the sockets. */
    @FunctionalInterface
    private interface Preparation {
        Set<String> prepare(RelayHolder relay);
    }

    /** The relay of one side, once its operation exists. */
    private static final class RelayHolder {
        private Relay relay;

        /** Takes the operation a request started and returns its websockets' secrets. */
        Map<String, String> open(IncusInstances session, Transport.Reply started, MigrateArgs args,
                Duration timeout) {
            String opId = IncusInstances.operationId(started.body().path("operation").asText(""));
            Map<String, String> secrets = secrets(started.metadata().path("metadata"));
            relay = new Relay(session, opId, secrets, args, timeout);
            return secrets;
        }

        Relay get() {
            return relay;
        }
    }

    /**
     * Runs one side: prepares it, relays the named websockets until its operation has ended (bounded by
     * {@link #MIGRATION_LIMIT}, never cancelled: see {@link Relay#abandon}), and on any failure abandons it.
     */
    private static void relaySide(MigrateArgs args, Preparation preparation) {
        RelayHolder holder = new RelayHolder();
        try {
            Set<String> names = preparation.prepare(holder);
            Relay relay = holder.get();
            relay.start(names);
            relay.session.waitOperation(relay.opId, MIGRATION_LIMIT, true, false);
            relay.finish();
        } catch (RuntimeException e) {
            abandon(holder.get(), args, e);
            throw e;
        } finally {
            if (holder.get() != null) {
                holder.get().close();
            }
        }
    }

    /** What {@code incus copy} asks the target for: the source's definition, in push mode. */
    private static ObjectNode createBody(IncusInstance target, JsonNode definition, MigrateArgs args,
            MigrateReceiveArgs receiveArgs) {
        ObjectNode body = Transport.JSON.createObjectNode();
        body.put("name", target.name());
        body.put("type", definition.path("type").asText(target.type().apiName()));
        for (String field : List.of("architecture", "config", "devices", "profiles", "ephemeral", "description",
                "stateful")) {
            if (definition.has(field)) {
                body.set(field, definition.get(field));
            }
        }
        ObjectNode src = body.putObject("source");
        src.put("type", "migration");
        src.put("mode", "push");
        String baseImage = definition.path("config").path("volatile.base_image").asText("");
        if (!baseImage.isEmpty()) {
            src.put("base-image", baseImage);
        }
        src.put("live", args.live());
        src.put("instance_only", !args.snapshots());
        src.put("refresh", receiveArgs.refresh());
        src.put("refresh_exclude_older", receiveArgs.refreshExcludeOlder());
        return body;
    }

    /**
     * Ends this side after a failure: the other side told, the wire cut, and this side's operation (when there is one)
     * brought to its end before the call returns, so that the instance is not left locked by a migration: the server
     * waits for each websocket it offered, so those not connected yet are connected and closed at once.
     */
    private static void abandon(Relay relay, MigrateArgs args, RuntimeException cause) {
        try {
            args.controlSend().send(MigrationMessage.control(false, cause.getMessage()));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "The migration peer was not told of the failure: {0}", e.getMessage());
        }
        args.disconnect().run();
        if (relay != null) {
            relay.abandon();
        }
    }

    private static MigrationMessage expectHeader(MigrateArgs args, Duration timeout, String peer) {
        MigrationMessage m = args.controlReceive().receive(timeout);
        if (m == null) {
            throw new OperationTimeoutException(peer + " sent nothing within " + timeout);
        }
        if ("control".equals(m.kind()) && !m.success()) {
            throw new IncusException("Migration failed on " + peer + ": " + m.message());
        }
        if (!HEADER.equals(m.kind())) {
            throw new IncusException("Unexpected migration message from " + peer + " (an incus driver expects an "
                    + "incus driver on the other side): " + m.kind());
        }
        return m;
    }

    private static Set<String> sockets(MigrationMessage header) {
        Set<String> names = new LinkedHashSet<>();
        for (String n : header.fields().getOrDefault("sockets", "").split(",")) {
            if (!n.isEmpty()) {
                names.add(n);
            }
        }
        return names;
    }

    private static Map<String, String> secrets(JsonNode metadata) {
        Map<String, String> out = new TreeMap<>();
        metadata.properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
        return out;
    }

    private static JsonNode parse(String json) {
        try {
            return Transport.JSON.readTree(json == null ? "{}" : json);
        } catch (JsonProcessingException e) {
            throw new IncusException("The migration sender's instance definition is not JSON: " + e.getMessage(), e);
        }
    }

    /**
     * One side's websockets, connected to its server's migration operation, and the pumps that carry their messages
     * to and from the other side. Closing it closes the websockets and the data connections.
     */
    private static final class Relay implements AutoCloseable {
        private final IncusInstances session;
        private final String opId;
        private final Map<String, String> secrets;
        private final MigrateArgs args;
        private final Duration timeout;
        private final List<Session> sockets = new ArrayList<>();
        private final Set<String> connected = new LinkedHashSet<>();
        private final List<Connection> connections = new ArrayList<>();
        private final List<CompletableFuture<Void>> closed = new ArrayList<>();
        private final AtomicReference<RuntimeException> peerFailure = new AtomicReference<>();
        /** Set when this side is done: the listeners pass nothing more on, the pumps stop. */
        private final AtomicBoolean finished = new AtomicBoolean();
        private Session control;

        Relay(IncusInstances session, String opId, Map<String, String> secrets, MigrateArgs args, Duration timeout) {
            this.session = session;
            this.opId = opId;
            this.secrets = secrets;
            this.args = args;
            this.timeout = timeout;
        }

        /** Connects the control websocket; what the server says on it goes to the other side from now on. */
        void connectControl() {
            CompletableFuture<Void> controlClosed = new CompletableFuture<>();
            closed.add(controlClosed);
            control = connect(CONTROL, new Forwarder(toControl(args), controlClosed, finished));
        }

        /** Starts passing the other side's control messages on, and connects and relays the data websockets. */
        void start(Set<String> names) {
            Session c = control;
            daemon("control", () -> pumpControl(c));
            for (String name : names) {
                if (name.equals(CONTROL)) {
                    continue;
                }
                Connection conn = switch (name) {
                    case FILESYSTEM -> args.filesystemConn().open(timeout);
                    case STATE -> args.stateConn().open(timeout);
                    default -> throw new IncusException("Unknown migration websocket \"" + name + "\"");
                };
                connections.add(conn);
                CompletableFuture<Void> done = new CompletableFuture<>();
                closed.add(done);
                Session ws = connect(name, new Forwarder(toStream(new DataOutputStream(conn.output())), done,
                        finished));
                daemon(name, () -> pumpStream(new DataInputStream(conn.input()), ws));
            }
        }

        private Session connect(String name, Session.Listener listener) {
            Session s = session.transport().websocket("/1.0/operations/" + IncusInstances.seg(opId)
                    + "/websocket?secret=" + IncusInstances.seg(secrets.get(name)), listener, timeout);
            synchronized (sockets) {
                sockets.add(s);
                connected.add(name);
            }
            return s;
        }

        /** After a failure: every offered websocket connected and closed, and the operation's end awaited. */
        void abandon() {
            finished.set(true);
            for (String name : secrets.keySet()) {
                synchronized (sockets) {
                    if (connected.contains(name)) {
                        continue;
                    }
                }
                try {
                    connect(name, new Session.Listener.AutoDemanding() { });
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "migration websocket {0} not connected: {1}", name,
                            e.getMessage());
                }
            }
            close();
            // Never DELETE a migration operation: Incus 6.0.4's Cancel of it dereferences nil and the daemon dies
            // (operations.go:372, seen here). With every websocket closed, the server ends it itself.
            try {
                // Asked of the server: the operation may have ended before (its event consumed by an earlier wait).
                session.transport().send("GET", "/1.0/operations/" + IncusInstances.seg(opId) + "/wait?timeout="
                        + Math.max(1, timeout.toSeconds()), null, Map.of(), timeout.plusSeconds(2));
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "abandoned migration {0}: {1}", opId, e.getMessage());
            }
        }

        private void daemon(String what, Runnable body) {
            Thread t = new Thread(body, "incus4j-remote-migration-" + what + "-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            t.start();
        }

        /** The other side's control messages to this side's control websocket. */
        private void pumpControl(Session control) {
            while (!finished.get()) {
                MigrationMessage m;
                try {
                    m = args.controlReceive().receive(POLL);
                } catch (OperationTimeoutException e) {
                    continue;
                } catch (RuntimeException e) {
                    if (!finished.get()) {
                        LOG.log(System.Logger.Level.DEBUG, "migration control relay ended: {0}", e.getMessage());
                    }
                    return;
                }
                if (m == null) {
                    continue;
                }
                switch (m.kind()) {
                    case FRAME -> {
                        byte[] data = Base64.getDecoder().decode(m.fields().getOrDefault("data", ""));
                        if (!send(control, "text".equals(m.field("type")) ? TEXT : BINARY, data)) {
                            return;
                        }
                    }
                    case CLOSE -> {
                        control.close();
                        return;
                    }
                    case "control" -> {
                        if (!m.success()) {
                            // The server's operation ends when its websockets close (see abandon).
                            peerFailure.set(new IncusException("Migration failed on the other side: "
                                    + m.message()));
                            close();
                            return;
                        }
                    }
                    default -> LOG.log(System.Logger.Level.DEBUG, "migration relay ignores {0}", m.kind());
                }
            }
        }

        /** The other side's messages for one data websocket, framed on its connection, to that websocket. */
        private void pumpStream(DataInputStream in, Session ws) {
            try {
                while (true) {
                    byte type = in.readByte();
                    if (type == CLOSED) {
                        ws.close();
                        return;
                    }
                    int length = in.readInt();
                    if (length < 0 || length > MAX_MESSAGE) {
                        throw new IOException("a relayed message of " + length + " bytes (at most " + MAX_MESSAGE
                                + ")");
                    }
                    byte[] data = new byte[length];
                    in.readFully(data);
                    if (!send(ws, type, data)) {
                        return;
                    }
                }
            } catch (EOFException e) {
                ws.close();
            } catch (IOException e) {
                if (!finished.get()) {
                    LOG.log(System.Logger.Level.DEBUG, "migration data relay ended: {0}", e.getMessage());
                }
                ws.close(); // the server's side of the transfer fails at once rather than waiting for more
            }
        }

        /** Sends one message and waits until the websocket took it (Jetty allows one write at a time). */
        private boolean send(Session ws, byte type, byte[] data) {
            CompletableFuture<Void> sent = new CompletableFuture<>();
            Callback cb = Callback.from(() -> sent.complete(null), sent::completeExceptionally);
            if (type == TEXT) {
                ws.sendText(new String(data, StandardCharsets.UTF_8), cb);
            } else {
                ws.sendBinary(ByteBuffer.wrap(data), cb);
            }
            try {
                sent.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (ExecutionException | TimeoutException e) {
                if (!finished.get()) {
                    LOG.log(System.Logger.Level.DEBUG, "migration relay could not write: {0}", e.toString());
                }
                return false;
            }
        }

        /**
         * After this side's operation has ended: waits until the server has closed its websockets (so that every
         * message it sent has been passed on), then fails if the other side reported a failure.
         */
        void finish() {
            try {
                CompletableFuture.allOf(closed.toArray(CompletableFuture[]::new)).get(timeout.toMillis(),
                        TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                LOG.log(System.Logger.Level.DEBUG, "migration websockets still open after the operation: {0}",
                        e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted while finishing the migration", e);
            }
            RuntimeException failure = peerFailure.get();
            if (failure != null) {
                throw failure;
            }
        }

        @Override
        public void close() {
            finished.set(true);
            synchronized (sockets) {
                for (Session s : sockets) {
                    try {
                        s.close();
                    } catch (RuntimeException e) {
                        LOG.log(System.Logger.Level.DEBUG, "closing a migration websocket", e);
                    }
                }
            }
            for (Connection c : connections) {
                try {
                    c.output().flush();
                    c.close();
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.DEBUG, "closing a migration connection: {0}", e.getMessage());
                }
            }
        }
    }

    /** Where one websocket's messages go: to the other side, as control messages or framed on a connection. */
    @FunctionalInterface
    interface Outlet {
        /** Passes on one message ({@code BINARY} or {@code TEXT}), or the websocket's close ({@code CLOSED}). */
        void pass(byte type, byte[] data) throws IOException;
    }

    /** The control websocket's messages as {@link #FRAME}s, its close as {@link #CLOSE}. */
    private static Outlet toControl(MigrateArgs args) {
        return (type, data) -> args.controlSend().send(type == CLOSED ? new MigrationMessage(CLOSE, Map.of(), true, "")
                : new MigrationMessage(FRAME, Map.of("type", type == TEXT ? "text" : "binary", "data",
                        Base64.getEncoder().encodeToString(data)), true, ""));
    }

    /** A data websocket's messages framed on a connection: the type byte, then (but for a close) length and bytes. */
    private static Outlet toStream(DataOutputStream out) {
        return (type, data) -> {
            synchronized (out) {
                out.writeByte(type);
                if (type != CLOSED) {
                    out.writeInt(data.length);
                    out.write(data);
                }
                out.flush();
            }
        };
    }

    /**
     * (Public for Jetty's listener lookup; unreachable from outside.) One websocket of this side's server: every
     * message and the close go to its {@link Outlet} until the relay has finished.
     */
    public static final class Forwarder implements Session.Listener.AutoDemanding {
        private final Outlet outlet;
        private final CompletableFuture<Void> closed;
        private final AtomicBoolean finished;

        Forwarder(Outlet outlet, CompletableFuture<Void> closed, AtomicBoolean finished) {
            this.outlet = outlet;
            this.closed = closed;
            this.finished = finished;
        }

        @Override
        public void onWebSocketBinary(ByteBuffer payload, Callback callback) {
            pass(BINARY, bytes(payload), callback);
        }

        @Override
        public void onWebSocketText(String message) {
            pass(TEXT, message.getBytes(StandardCharsets.UTF_8), Callback.NOOP);
        }

        @Override
        public void onWebSocketClose(int statusCode, String reason, Callback callback) {
            callback.succeed();
            pass(CLOSED, new byte[0], Callback.NOOP);
            closed.complete(null);
        }

        @Override
        public void onWebSocketError(Throwable cause) {
            closed.complete(null);
        }

        private void pass(byte type, byte[] data, Callback callback) {
            if (finished.get()) {
                callback.succeed();
                return;
            }
            try {
                outlet.pass(type, data);
                callback.succeed();
            } catch (IOException | RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "migration relay could not pass a message on: {0}", e.toString());
                callback.fail(e);
            }
        }
    }

    private static byte[] bytes(ByteBuffer payload) {
        byte[] b = new byte[payload.remaining()];
        payload.get(b);
        return b;
    }
}
