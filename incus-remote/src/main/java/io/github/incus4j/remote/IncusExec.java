package io.github.incus4j.remote;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;

/**
 * A command run by {@code POST /1.0/instances/<n>/exec} with one websocket per fd (0, 1, 2 and control; 0 and
 * control for interactive commands). Its exit status comes from the operation's metadata ({@code return}), and
 * {@link #waitFor} returns only when the operation has ended and the output websockets have drained.
 */
final class IncusExec implements Cmd {
    private static final System.Logger LOG = System.getLogger(IncusExec.class.getName());
    private static final AtomicInteger THREADS = new AtomicInteger();
    /** The terminal's end-of-input character (Ctrl+D, VEOF). */
    private static final byte EOT = 4;

    private final IncusInstances session;
    private final String opId;
    private final CompletableFuture<Integer> exit = new CompletableFuture<>();
    private final List<CompletableFuture<Void>> drained = new ArrayList<>();
    private final List<Session> sockets = new ArrayList<>();
    private volatile Session control;
    private volatile Session stdinSocket;

    private IncusExec(IncusInstances session, String opId) {
        this.session = session;
        this.opId = opId;
    }

    static IncusExec start(IncusInstance instance, ExecRequest request, InputStream stdin, OutputStream stdout,
            OutputStream stderr) {
        ObjectNode body = Transport.JSON.createObjectNode();
        body.set("command", Transport.JSON.valueToTree(request.command()));
        body.set("environment", Transport.JSON.valueToTree(request.environment()));
        if (!request.cwd().isEmpty()) {
            body.put("cwd", request.cwd());
        }
        body.put("user", request.user());
        body.put("group", request.group());
        body.put("interactive", request.interactive());
        body.put("width", request.width());
        body.put("height", request.height());
        body.put("wait-for-websocket", true);
        body.put("record-output", false);
        Transport.Reply r = instance.transport().call("POST", instance.path("/exec"), body);
        JsonNode op = r.metadata();
        String id = op.path("id").asText();
        JsonNode fds = op.path("metadata").path("fds");
        IncusExec exec = new IncusExec(instance.session, id);
        try {
            exec.connect(fds, request.interactive(), stdin, stdout, stderr);
        } catch (RuntimeException e) {
            exec.cancel();
            exec.close();
            throw e;
        }
        exec.watch();
        return exec;
    }

    private String wsPath(JsonNode fds, String fd) {
        return "/1.0/operations/" + IncusInstances.seg(opId) + "/websocket?secret="
                + IncusInstances.seg(fds.path(fd).asText());
    }

    private void connect(JsonNode fds, boolean interactive, InputStream stdin, OutputStream stdout,
            OutputStream stderr) {
        Duration limit = session.timeout();
        long deadline = System.nanoTime() + limit.toNanos();
        // incusd starts the command as soon as its last required socket connects (0, 1 and 2; control too when
        // interactive) and may send output right behind that socket's 101 reply, which was lost when an output
        // socket came last (parallel execs lost their whole output that way): the socket that completes the set is
        // one that carries no output, stdin (interactive: control). One after the other: opening them side by side
        // saved 2-3 ms of 35 but made Jetty's pool open spare connections, and a spare stalls incusd's accept loop
        // for up to 250 ms (see Transport).
        if (interactive) {
            // One bidirectional socket: the pty's output comes back on fd 0.
            CompletableFuture<Void> out = new CompletableFuture<>();
            drained.add(out);
            stdinSocket = open(wsPath(fds, "0"), new Sink(stdout, out, true), deadline);
            control = open(wsPath(fds, "control"), new Sink(null, null), deadline);
        } else {
            CompletableFuture<Void> out = new CompletableFuture<>();
            CompletableFuture<Void> err = new CompletableFuture<>();
            drained.add(out);
            drained.add(err);
            control = open(wsPath(fds, "control"), new Sink(null, null), deadline);
            open(wsPath(fds, "1"), new Sink(stdout, out), deadline);
            open(wsPath(fds, "2"), new Sink(stderr, err), deadline);
            stdinSocket = open(wsPath(fds, "0"), new Sink(null, null), deadline);
        }
        LOG.log(System.Logger.Level.TRACE, "exec {0}: websockets connected within {1}", opId, limit);
        pumpStdin(stdin, interactive);
    }

    /** Opens a websocket, bounded by what is left until {@code deadline}, and keeps it for {@link #close}. */
    private Session open(String path, Sink sink, long deadline) {
        Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
        Session s = session.transport().websocket(path, sink, left);
        synchronized (sockets) {
            sockets.add(s);
        }
        return s;
    }

    private void pumpStdin(InputStream stdin, boolean interactive) {
        Session s = stdinSocket;
        if (stdin == null) {
            if (!interactive) {
                barrier(s);
            }
            return;
        }
        Thread t = new Thread(() -> {
            byte[] buf = new byte[32768];
            try {
                int n;
                while ((n = stdin.read(buf)) >= 0) {
                    if (n > 0) {
                        CompletableFuture<Void> sent = new CompletableFuture<>();
                        s.sendBinary(ByteBuffer.wrap(buf, 0, n).slice(), Callback.from(() -> sent.complete(null),
                                sent::completeExceptionally));
                        sent.get(session.timeout().toMillis(), TimeUnit.MILLISECONDS);
                        buf = new byte[32768];
                    }
                }
                if (interactive) {
                    // incusd copies this socket into the pty's master and ignores the barrier there: the end of
                    // input is the terminal's, Ctrl+D, which a program reading lines takes as EOF on an empty line
                    // (as the lxc driver types it).
                    CompletableFuture<Void> sent = new CompletableFuture<>();
                    s.sendBinary(ByteBuffer.wrap(new byte[] {EOT}), Callback.from(() -> sent.complete(null),
                            sent::completeExceptionally));
                    sent.get(session.timeout().toMillis(), TimeUnit.MILLISECONDS);
                } else {
                    barrier(s);
                }
            } catch (IOException | ExecutionException | TimeoutException e) {
                LOG.log(System.Logger.Level.DEBUG, "exec {0}: stdin pump ended: {1}", opId, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "incus4j-remote-exec-stdin-" + THREADS.incrementAndGet());
        t.setDaemon(true);
        t.start();
    }

    /** Incus's end of input on a websocket: an empty text message. */
    private static void barrier(Session s) {
        s.sendText("", Callback.NOOP);
    }

    /** Completes {@link #exit} when the operation ends (from events, else a named thread asking the server). */
    private void watch() {
        Events.Pending p = session.events().operation(opId);
        p.done.whenComplete((md, e) -> {
            session.events().release(opId);
            if (e == null) {
                finish(md);
            } else {
                Thread t = new Thread(this::pollUntilDone, "incus4j-remote-exec-wait-" + THREADS.incrementAndGet());
                t.setDaemon(true);
                t.start();
            }
        });
    }

    private void pollUntilDone() {
        while (!exit.isDone()) {
            try {
                Transport.Reply w = session.transport().send("GET", "/1.0/operations/" + IncusInstances.seg(opId)
                        + "/wait?timeout=30", null, Map.of(), Duration.ofSeconds(35));
                if (w.status() >= 400 || "error".equals(w.body().path("type").asText())) {
                    exit.completeExceptionally(Errors.map(0, w.body().path("error").asText("exec failed")));
                    return;
                }
                if (w.metadata().path("status_code").asInt() >= 200) {
                    finish(w.metadata());
                }
            } catch (IncusException e) {
                exit.completeExceptionally(e);
            }
        }
    }

    private void finish(JsonNode md) {
        if (md.path("status_code").asInt() == 200) {
            exit.complete(md.path("metadata").path("return").asInt(-1));
        } else {
            String err = md.path("err").asText("");
            exit.completeExceptionally(Errors.map(0, err.isEmpty() ? "exec failed" : err));
        }
    }

    private void cancel() {
        try {
            session.transport().send("DELETE", "/1.0/operations/" + IncusInstances.seg(opId), null, Map.of(),
                    Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "exec {0}: cancel failed: {1}", opId, e.getMessage());
        }
    }

    @Override
    public int pid() {
        return 0; // Incus does not tell the command's PID.
    }

    @Override
    public void signal(int signal) {
        sendControl("{\"command\":\"signal\",\"signal\":" + signal + "}");
    }

    @Override
    public void windowResize(int width, int height) {
        sendControl("{\"command\":\"window-resize\",\"args\":{\"width\":\"" + width + "\",\"height\":\"" + height
                + "\"}}");
    }

    private void sendControl(String json) {
        Session c = control;
        if (c == null || !c.isOpen()) {
            throw new IncusException("The command's control channel is closed");
        }
        CompletableFuture<Void> sent = new CompletableFuture<>();
        c.sendText(json, Callback.from(() -> sent.complete(null), sent::completeExceptionally));
        await(sent, session.timeout(), "sending " + json);
    }

    @Override
    public int waitFor(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int code;
        try {
            code = await(exit, timeout, "the command");
        } catch (OperationTimeoutException e) {
            throw new OperationTimeoutException(io.github.incus4j.api.internal.text.ErrorTexts.commandStillRunning(timeout), e);
        }
        long left = Math.max(0, deadline - System.nanoTime());
        // The exit status is known; the output still in flight must be delivered before we return.
        await(CompletableFuture.allOf(drained.toArray(CompletableFuture[]::new)), Duration.ofNanos(left)
                .plusMillis(50), "the command's output");
        return code;
    }

    private static <T> T await(CompletableFuture<T> f, Duration limit, String what) {
        try {
            return f.get(limit.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new OperationTimeoutException("Timed out after " + limit + " waiting for " + what, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted waiting for " + what, e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IncusException ie) {
                throw ie;
            }
            throw new IncusException("Failed waiting for " + what + ": " + Transport.describe(e.getCause()),
                    e.getCause());
        }
    }

    @Override
    public OptionalInt exitCode() {
        Integer code = exit.isDone() && !exit.isCompletedExceptionally() ? exit.join() : null;
        return code == null ? OptionalInt.empty() : OptionalInt.of(code);
    }

    @Override
    public void close() {
        // incusd kills a command whose control websocket closes; Cmd.close must not, so a running command's
        // websockets are closed when it ends (the server closes them then anyway).
        if (!exit.isDone()) {
            exit.whenComplete((code, e) -> closeSockets());
            return;
        }
        closeSockets();
    }

    private void closeSockets() {
        synchronized (sockets) {
            for (Session s : sockets) {
                try {
                    s.close();
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "closing an exec websocket", e);
                }
            }
        }
    }

    /** (Public for Jetty, which invokes listeners through public lookups; unreachable from outside.) Writes what a websocket brings to {@code out}; the barrier (empty text) or a close ends it. */
    public static final class Sink implements Session.Listener.AutoDemanding {
        private final OutputStream out;
        private final CompletableFuture<Void> done;

        /** Whether the server's barrier is answered by closing the socket (the interactive one, see onWebSocketText). */
        private final boolean closeOnBarrier;
        private volatile Session session;

        Sink(OutputStream out, CompletableFuture<Void> done) {
            this(out, done, false);
        }

        Sink(OutputStream out, CompletableFuture<Void> done, boolean closeOnBarrier) {
            this.out = out;
            this.done = done;
            this.closeOnBarrier = closeOnBarrier;
        }

        @Override
        public void onWebSocketOpen(Session session) {
            this.session = session;
        }

        @Override
        public void onWebSocketBinary(ByteBuffer payload, Callback callback) {
            try {
                if (out != null) {
                    byte[] b = new byte[payload.remaining()];
                    payload.get(b);
                    out.write(b);
                    out.flush();
                }
                callback.succeed();
            } catch (IOException e) {
                callback.fail(e);
            }
        }

        @Override
        public void onWebSocketText(String message) {
            if (message.isEmpty()) {
                end();
                Session s = session;
                if (closeOnBarrier && s != null) {
                    // The pty's output has ended (the command is gone). incusd ends the exec operation only when
                    // its copy from this socket into the pty ends too, which the Go client brings about by closing
                    // the socket after the server's barrier: so do we, else the operation never ends.
                    s.close();
                }
            }
        }

        @Override
        public void onWebSocketClose(int statusCode, String reason, Callback callback) {
            callback.succeed();
            end();
        }

        @Override
        public void onWebSocketError(Throwable cause) {
            end();
        }

        private void end() {
            if (done != null) {
                done.complete(null);
            }
        }
    }
}
