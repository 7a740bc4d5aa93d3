package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.OperationTimeoutException;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.apiguardian.api.API;

/**
 * A QMP client over QEMU's monitor socket ({@code -qmp unix:<path>,server=on,wait=off} or {@code -chardev socket}),
 * what Incus's {@code qmp} package is to its QEMU driver.
 *
 * <p>{@link #connect} reads the greeting and negotiates capabilities ({@code qmp_capabilities}) within
 * {@link Options#connectTimeout()}. Commands may then be issued from any number of threads: each gets its reply by id
 * (QEMU still runs them one at a time), waits at most its timeout ({@link QmpTimeouts} by default, Incus's table)
 * and fails with Incus's {@code Monitor command timed out: "<command>" after <d>}
 * ({@link OperationTimeoutException}) when QEMU did not answer, with {@code <class>: <desc>}
 * ({@link QmpErrorException}) when QEMU answered with an error, and with {@code Monitor is disconnected}
 * ({@link MonitorDisconnectedException}) at once when QEMU exits, closes the socket or dies while it waits.
 *
 * <p>Events are read as they come, between and before replies, and are never lost to a reply: {@link #expect}
 * waits are matched by the thread that reads them, listeners ({@link #onEvent}) run on the client's event thread in
 * the order QEMU sent the events, so that a slow listener delays other listeners but never a reply.
 * {@link #disconnected()} completes on that same thread after the last event, so a listener has seen every event
 * (say, {@code SHUTDOWN}) when it completes (on the reader thread when no listener was ever registered).
 *
 * <p>Who reads: a caller that finds nobody reading reads its own reply (and whatever comes before it), so that a
 * command costs one thread wake-up, as in a blocking client; the client's reader thread reads when no caller does
 * (events, EOF, concurrent callers, {@link #submit}).
 *
 * <p><b>One client per monitor socket.</b> QEMU serves one QMP client at a time: a second connection is accepted but
 * gets no greeting until the first one closes, so its {@link #connect} fails with {@code QMP connection timed out};
 * so does every further one, whose connect finds the socket's backlog full (it is bounded by the same timeout).
 * Keep one client per VM and share it.
 *
 * <p>Threads from {@link Options#threads()}, all ending with the connection: the reader, an event thread once a
 * listener is registered, and a timer thread once {@link #submit} is used. The handshake runs on the connecting
 * thread (with a short-lived helper only when the socket's backlog is full: see {@link UnixSockets}).
 */
@API(status = INTERNAL)
public final class QmpClient implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(QmpClient.class.getName());

    /** Incus's text when the greeting or the capabilities negotiation did not come in time. */
    public static final String CONNECT_TIMED_OUT = "QMP connection timed out";

    /** Incus's {@code ErrMonitorTimeout} text, the start of every command timeout's message. */
    public static final String COMMAND_TIMED_OUT = "Monitor command timed out";

    // Excluded from the QMP log as in Incus: the console and agent ring buffers are polled all the time.
    private static final List<String> UNLOGGED_COMMANDS = List.of("ringbuf-read");
    private static final List<String> UNLOGGED_EVENTS = List.of("VSERPORT_CHANGE");
    private static final Object END = new Object();

    /**
     * How to connect.
     *
     * @param connectTimeout the time for the greeting and the capabilities negotiation (Incus: 5 s)
     * @param threads the factory of the client's threads (named daemon threads owned by the driver)
     * @param log the QMP wire log to append to (Incus's {@code qemu.qmp.log}), or {@code null} for none
     */
    public record Options(Duration connectTimeout, ThreadFactory threads, Path log) {
        public Options {
            Objects.requireNonNull(connectTimeout, "connectTimeout");
            Objects.requireNonNull(threads, "threads");
        }

        /** 5 s to connect, as Incus, and no wire log. */
        public static Options defaults(ThreadFactory threads) {
            return new Options(Duration.ofSeconds(5), threads, null);
        }
    }

    /** A registration that ends with {@link #close()} (which, unlike {@link AutoCloseable}'s, throws nothing). */
    public interface Subscription extends AutoCloseable {
        @Override
        void close();
    }

    private final Path socket;
    private final QmpLog log;
    private final JsonLineChannel channel;
    private final CompletableFuture<JsonNode> greeting = new CompletableFuture<>();
    private final List<Consumer<QmpEvent>> listeners = new CopyOnWriteArrayList<>();
    private final List<EventWait> waits = new CopyOnWriteArrayList<>();
    private final LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
    private final CompletableFuture<Void> disconnected = new CompletableFuture<>();
    private final ThreadFactory threads;
    // The event thread, started with the first listener: a client nobody listens to costs one thread, not two.
    private Thread dispatcher;
    private boolean ended;

    private QmpClient(Path socket, Options options, QmpLog log, long start) {
        this.socket = socket;
        this.log = log;
        this.threads = options.threads();
        this.channel = JsonLineChannel.open(socket, new JsonLineChannel.Words("QMP " + socket,
                MonitorDisconnectedException.MONITOR, COMMAND_TIMED_OUT, CONNECT_TIMED_OUT), false, new Handler(),
                threads, start, options.connectTimeout());
    }

    /**
     * Connects to the monitor socket at {@code socket}: greeting, then {@code qmp_capabilities}.
     *
     * @throws OperationTimeoutException {@code QMP connection timed out}: no connection (the socket's backlog is full),
     *     no greeting (another client holds the monitor, or this is not a QMP socket) or no capabilities reply
     *     within {@link Options#connectTimeout()}, which bounds the whole connect
     * @throws MonitorDisconnectedException QEMU closed the connection during the handshake
     * @throws QmpException nothing listens on {@code socket}, or the wire log cannot be opened
     */
    public static QmpClient connect(Path socket, Options options) {
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(options, "options");
        long start = System.nanoTime();
        QmpLog log = options.log() == null ? null : QmpLog.open(options.log());
        QmpClient client;
        try {
            client = new QmpClient(socket, options, log, start);
        } catch (RuntimeException e) {
            if (log != null) {
                log.close();
            }
            throw e;
        }
        try {
            client.handshake(start, options.connectTimeout());
            client.channel.start();
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    // On the connecting thread, before the reader starts: no thread handoff on the way.
    private void handshake(long start, Duration timeout) {
        if (!channel.readUntil(greeting::isDone, start, timeout)) {
            throw new OperationTimeoutException(CONNECT_TIMED_OUT);
        }
        if (!greeting.isDone() || greeting.isCompletedExceptionally()) {
            throw new MonitorDisconnectedException(); // EOF instead
        }
        try {
            channel.callInline("qmp_capabilities", null, start, timeout);
        } catch (OperationTimeoutException e) {
            throw new OperationTimeoutException(CONNECT_TIMED_OUT);
        }
    }

    /** QEMU's greeting: the {@code "QMP"} object ({@code version}, {@code capabilities}). */
    public JsonNode greeting() {
        return greeting.getNow(null);
    }

    /** Runs {@code command} without arguments, waiting its {@link QmpTimeouts#forCommand default timeout}. */
    public JsonNode execute(String command) {
        return execute(command, null);
    }

    /**
     * Runs {@code command}, waiting its {@link QmpTimeouts#forCommand default timeout}.
     *
     * @param arguments a {@code Map}, a Jackson {@code ObjectNode} or a record (its package must be open to Jackson
     *     on the module path); {@code null} for none. {@code null} properties are left out.
     * @return the reply's {@code "return"} value
     */
    public JsonNode execute(String command, Object arguments) {
        return execute(command, arguments, QmpTimeouts.forCommand(command));
    }

    /** Runs {@code command}, waiting up to {@code timeout} for its reply; see {@link #execute(String, Object)}. */
    public JsonNode execute(String command, Object arguments, Duration timeout) {
        return channel.call(command, arguments, timeout);
    }

    /**
     * Sends {@code command} without waiting. The future completes with the {@code "return"} value, or fails with the
     * exceptions of {@link #execute(String, Object, Duration)} (wrapped in a {@code CompletionException} where
     * {@code CompletableFuture} wraps them). Cancelling it forgets the reply.
     */
    public CompletableFuture<JsonNode> submit(String command, Object arguments, Duration timeout) {
        return channel.submit(command, arguments, timeout);
    }

    /**
     * Calls {@code listener} with every event read from now on, on the client's event thread, in QEMU's order. A
     * listener that throws is logged and stays registered. Close the subscription to remove it.
     */
    public Subscription onEvent(Consumer<QmpEvent> listener) {
        Objects.requireNonNull(listener, "listener");
        listeners.add(listener);
        synchronized (this) {
            if (dispatcher == null && !ended) {
                dispatcher = threads.newThread(this::dispatch);
                dispatcher.start();
            }
        }
        return () -> listeners.remove(listener);
    }

    /**
     * Arms a wait for the first event matching {@code match}: call it <em>before</em> issuing the command that causes
     * the event. {@code match} runs on the thread that reads (the reader thread, or a caller reading its own reply)
     * and must be quick.
     */
    public EventWait expect(Predicate<QmpEvent> match) {
        Objects.requireNonNull(match, "match");
        EventWait wait = new EventWait(match, waits::remove);
        waits.add(wait);
        if (!channel.isOpen()) {
            waits.remove(wait);
            wait.disconnected(new MonitorDisconnectedException());
        }
        return wait;
    }

    /**
     * Completes when the connection ended (EOF, QEMU died, {@link #close()}), on the event thread after the listeners
     * have seen every event read before the end (or on the reader thread when there never was a listener).
     */
    public CompletionStage<Void> disconnected() {
        return disconnected.minimalCompletionStage();
    }

    /** Whether the connection is up: no EOF seen and not closed. */
    public boolean isConnected() {
        return channel.isOpen();
    }

    /** Closes the connection; pending calls fail with {@code Monitor is disconnected}. Never blocks. */
    @Override
    public void close() {
        channel.close();
    }

    @Override
    public String toString() {
        return "QmpClient[" + socket + (isConnected() ? "]" : ", disconnected]");
    }

    // ---- reader and event threads -------------------------------------------------------------------------------

    private final class Handler implements JsonLineChannel.Handler {
        @Override
        public void message(ObjectNode message, JsonLineChannel.Frame frame) {
            JsonNode name = message.get("event");
            if (name != null) {
                event(name.asText(), message, frame);
            } else if (message.has("QMP")) {
                greeting.complete(message.get("QMP"));
            } else {
                LOG.log(Level.WARNING, "QMP {0}: ignoring an unexpected message: {1}", socket, frame.text());
            }
        }

        @Override
        public void sending(String command, byte[] request) {
            if (log != null && !UNLOGGED_COMMANDS.contains(command)) {
                log.query(request);
            }
        }

        @Override
        public void replied(String command, JsonLineChannel.Frame frame) {
            if (log != null && !UNLOGGED_COMMANDS.contains(command)) {
                log.reply(frame.text());
            }
        }

        @Override
        public void closed() {
            MonitorDisconnectedException gone = new MonitorDisconnectedException();
            greeting.completeExceptionally(gone);
            for (EventWait wait : waits) {
                wait.disconnected(gone);
            }
            waits.clear();
            if (log != null) {
                log.close();
            }
            synchronized (QmpClient.this) {
                ended = true;
                if (dispatcher != null) {
                    events.add(END); // the event thread completes disconnected() after the events before it
                    return;
                }
            }
            disconnected.complete(null);
        }
    }

    private void event(String name, ObjectNode message, JsonLineChannel.Frame frame) {
        if (log != null && !UNLOGGED_EVENTS.contains(name)) {
            log.event(frame.text());
        }
        JsonNode data = message.get("data");
        JsonNode ts = message.get("timestamp");
        Instant timestamp = ts != null && ts.has("seconds")
                ? Instant.ofEpochSecond(ts.path("seconds").asLong(), ts.path("microseconds").asLong() * 1000)
                : Instant.now();
        QmpEvent event = new QmpEvent(name, data != null ? data : JsonLineChannel.MAPPER.createObjectNode(),
                timestamp);
        for (EventWait wait : waits) {
            try {
                if (wait.offer(event)) {
                    waits.remove(wait);
                }
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "QMP " + socket + ": an event predicate failed", e);
            }
        }
        if (!listeners.isEmpty()) {
            events.add(event);
        }
    }

    private void dispatch() {
        try {
            while (true) {
                Object next = events.take();
                if (next == END) {
                    break;
                }
                QmpEvent event = (QmpEvent) next;
                for (Consumer<QmpEvent> listener : listeners) {
                    try {
                        listener.accept(event);
                    } catch (RuntimeException e) {
                        LOG.log(Level.WARNING, "QMP " + socket + ": a listener failed on " + event.name(), e);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            disconnected.complete(null);
        }
    }
}
