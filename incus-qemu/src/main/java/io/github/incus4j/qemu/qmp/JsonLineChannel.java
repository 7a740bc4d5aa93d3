package io.github.incus4j.qemu.qmp;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * One connection of QEMU's JSON-lines protocols (QMP and the guest agent) over a unix-domain socket: the part both
 * clients share. Requests are {@code {"execute":...,"arguments":...,"id":N}} with {@code N} a per-connection counter;
 * replies ({@code "return"} or {@code "error"}) are matched to their call by that id, whatever order they come in. Any
 * other message (greeting, event, guest-sync answer) goes to the {@link Handler}.
 *
 * <p>Reading splits the byte stream into frames at {@code \n} (and at {@code 0xFF} when {@code ffResets}, the guest
 * agent's resynchronisation mark, which also drops the partial frame before it), whatever the read boundaries and
 * however long a frame is (QMP's schema is one 207 KB line), and parses each frame with Jackson. Frames that are not
 * JSON objects, error replies without an id (QEMU's answer to malformed input) and replies to calls nobody waits for
 * any more (they timed out) are logged and dropped.
 *
 * <p>Who reads: one thread at a time, the holder of the read role, in stream order. The protocol's handshake
 * (QMP's greeting and capabilities, the agent's sync) runs on the connecting thread ({@link #readUntil},
 * {@link #callInline}); then {@link #start()} starts the reader thread (from the caller's {@link ThreadFactory}),
 * which reads whenever no caller does, so that events and EOF are seen while no call is pending. A caller of
 * {@link #call} that finds the role free reads its reply itself, dispatching whatever comes before it: a sequential
 * caller then costs one wake-up per command, as a blocking client's would, instead of the reader's and its own. While
 * callers read, and for {@link #LINGER} after, the reader thread stands aside; it takes over at once when calls are
 * left that nobody reads for ({@link #submit}, concurrent callers).
 *
 * <p>At EOF, on a read or write error and at {@link #close()} every pending call fails at once with
 * {@link MonitorDisconnectedException}, and so does every later call. Calls are thread-safe; writes are serialised
 * by a lock.
 */
final class JsonLineChannel implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(JsonLineChannel.class.getName());

    /** The mapper of both protocols; {@code null} properties and map values are left out, as QAPI rejects them. */
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .defaultPropertyInclusion(JsonInclude.Value.construct(JsonInclude.Include.NON_NULL,
                    JsonInclude.Include.NON_NULL))
            .build();

    /** How long the reader thread leaves reading to callers after the last one: the next command is likely near. */
    static final long LINGER = TimeUnit.MILLISECONDS.toNanos(10);

    private static final int READ_BUFFER = 64 * 1024;
    private static final Duration FOREVER = Duration.ofDays(365L * 200);
    private static final long WRITE_RETRY = TimeUnit.MICROSECONDS.toNanos(50);

    /**
     * The protocol on top. {@link #message} and {@link #closed} are called by whichever thread reads (the reader
     * thread, a caller, the connecting thread), one at a time, in stream order: they must be quick and never call
     * this channel.
     */
    interface Handler {
        /** A message that is not a reply to a call: a greeting, an event, a guest-sync answer. */
        void message(ObjectNode message, Frame frame);

        /** The connection ended; every pending call has already failed. Called exactly once. */
        void closed();

        /** A request is about to be written (on the caller's thread): for wire logs. */
        default void sending(String command, byte[] request) {
        }

        /** The reply to {@code command} arrived, before its caller sees it: for wire logs. */
        default void replied(String command, Frame frame) {
        }
    }

    /** The words of the protocol's errors (Incus's for QMP). */
    record Words(String name, String disconnected, String timedOut, String connectTimedOut) {
    }

    /** A frame as read, for logs: {@link #text()} decodes it only when asked. */
    record Frame(byte[] buffer, int offset, int length) {
        String text() {
            int end = offset + length;
            while (end > offset && (buffer[end - 1] == '\r' || buffer[end - 1] == ' ')) {
                end--;
            }
            return new String(buffer, offset, end - offset, StandardCharsets.UTF_8);
        }
    }

    /** A call waiting for its reply; completes with the whole reply object. */
    private static final class Call extends CompletableFuture<ObjectNode> {
        final long id;
        final String command;

        Call(long id, String command) {
            this.id = id;
            this.command = command;
        }
    }

    private final SocketChannel socket;
    private final Words words;
    private final boolean ffResets;
    private final Handler handler;
    private final ThreadFactory threads;
    private final Map<Long, Call> pending = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final ReentrantLock writeLock = new ReentrantLock();
    private final AtomicBoolean closing = new AtomicBoolean();
    private final AtomicBoolean finished = new AtomicBoolean();

    // The read role and what only its holder touches: the read state and the callers' selector.
    private final ReentrantLock readRole = new ReentrantLock();
    private final ByteBuffer in = ByteBuffer.allocateDirect(READ_BUFFER);
    private byte[] buffer = new byte[READ_BUFFER];
    private int length; // bytes in buffer not yet framed
    private final Selector callerSelector;

    private volatile Thread reader;
    private Selector readerSelector; // the reader thread's own, set before it starts
    private volatile long lastCallerRead = System.nanoTime() - LINGER;
    private volatile boolean eof; // seen by a reader; the reader thread then finishes
    // Set when the connection is over (finish()); calls registered after that fail at once (see register()).
    private volatile boolean closed;
    // Timers of submit(): created on first use only, as execute() waits on the caller's thread.
    private ScheduledThreadPoolExecutor timer;

    private JsonLineChannel(SocketChannel socket, Selector callerSelector, Words words, boolean ffResets,
            Handler handler, ThreadFactory threads) {
        this.socket = socket;
        this.callerSelector = callerSelector;
        this.words = words;
        this.ffResets = ffResets;
        this.handler = handler;
        this.threads = threads;
    }

    /**
     * Connects to {@code path} within what is left of {@code timeout} since {@code start}; nothing is read until
     * {@link #readUntil} or {@link #start()}.
     *
     * @throws OperationTimeoutException {@link Words#connectTimedOut()}: the socket's backlog stayed full (another
     *     client holds the peer, which serves one at a time)
     * @throws QmpException naming the socket when nothing listens there
     */
    static JsonLineChannel open(Path path, Words words, boolean ffResets, Handler handler, ThreadFactory threads,
            long start, Duration timeout) {
        SocketChannel socket = UnixSockets.connect(path, Duration.ofNanos(remaining(start, timeout)), threads,
                words.name(), words.connectTimedOut());
        Selector selector = null;
        try {
            // Non-blocking for good: every reader waits in a selector, so that the reader thread can stand aside.
            socket.configureBlocking(false);
            selector = Selector.open();
            socket.register(selector, SelectionKey.OP_READ);
            return new JsonLineChannel(socket, selector, words, ffResets, handler, threads);
        } catch (IOException e) {
            closeQuietly(socket);
            closeQuietly(selector);
            throw new QmpException("Failed to set up the " + words.name() + " socket: " + e.getMessage(), e);
        }
    }

    /**
     * Starts the reader thread: the handshake is over. Not before: the new thread's start-up would compete with the
     * handshake for the CPU. It leaves reading to callers for {@link #LINGER} first, as a command usually follows.
     */
    void start() {
        lastCallerRead = System.nanoTime();
        try {
            readerSelector = Selector.open();
            socket.register(readerSelector, SelectionKey.OP_READ);
        } catch (IOException e) {
            close();
            throw new QmpException("Failed to set up the " + words.name() + " reader: " + e.getMessage(), e);
        }
        Thread t = threads.newThread(this::readLoop);
        reader = t;
        t.start();
    }

    /**
     * Reads until {@code done} holds, the connection ends (then {@code true}) or {@code timeout} since {@code start}
     * runs out ({@code false}). On the connecting thread before {@link #start()}, else under the read role.
     */
    boolean readUntil(BooleanSupplier done, long start, Duration timeout) {
        try {
            while (!done.getAsBoolean()) {
                if (eof || closing.get()) {
                    return true;
                }
                int n = readOnce();
                if (n < 0) {
                    endOfStream();
                    return true;
                }
                if (n == 0) {
                    long left = remaining(start, timeout);
                    if (left == 0) {
                        return false;
                    }
                    callerSelector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                    callerSelector.selectedKeys().clear();
                }
            }
            return true;
        } catch (IOException | ClosedSelectorException e) {
            if (!closing.get()) {
                LOG.log(Level.DEBUG, "{0}: read failed: {1}", words.name(), e.toString());
            }
            endOfStream();
            return true;
        }
    }

    private void endOfStream() {
        eof = true;
        if (reader == null) {
            finish(); // the handshake: there is no reader thread to do it
        } else {
            wakeReader();
        }
    }

    /**
     * Before {@link #start()}: runs {@code command} and reads its reply on the calling thread.
     *
     * @throws OperationTimeoutException no reply within {@code timeout} since {@code start}
     */
    JsonNode callInline(String command, Object arguments, long start, Duration timeout) {
        Call call = send(command, arguments, start, timeout);
        if (!readUntil(call::isDone, start, timeout)) {
            pending.remove(call.id);
            throw timeout(command, timeout);
        }
        return await(call, start, timeout);
    }

    // ---- calls --------------------------------------------------------------------------------------------------

    /** Sends {@code command} and waits up to {@code timeout} for its {@code "return"} value. */
    JsonNode call(String command, Object arguments, Duration timeout) {
        long start = System.nanoTime();
        Call call = send(command, arguments, start, timeout);
        // Read the reply ourselves when nobody else reads: no handoff from another thread on the way back.
        if (!call.isDone() && readRole.tryLock()) {
            try {
                readUntil(call::isDone, start, timeout);
            } finally {
                lastCallerRead = System.nanoTime();
                readRole.unlock();
                if (eof || !pending.isEmpty()) {
                    wakeReader(); // replies left for other callers, or the end to finish
                }
            }
        }
        return await(call, start, timeout);
    }

    /** Sends {@code command}; the future completes with its {@code "return"} value or fails after {@code timeout}. */
    CompletableFuture<JsonNode> submit(String command, Object arguments, Duration timeout) {
        Call call = send(command, arguments, System.nanoTime(), timeout);
        wakeReader(); // nobody else will read for it
        CompletableFuture<JsonNode> result = call.thenApply(reply -> unwrap(call.command, reply));
        if (!call.isDone()) {
            try {
                var expiry = timer().schedule(() -> {
                    if (pending.remove(call.id) != null) {
                        call.completeExceptionally(timeout(command, timeout));
                    }
                }, nanos(timeout), TimeUnit.NANOSECONDS);
                call.whenComplete((r, t) -> expiry.cancel(false));
            } catch (RejectedExecutionException e) {
                // The connection ended meanwhile: finish() fails the call.
            }
        }
        // A caller that gives up on the future gives up on the reply too.
        result.whenComplete((r, t) -> {
            if (t instanceof CancellationException) {
                pending.remove(call.id);
            }
        });
        return result;
    }

    /** Writes bytes that are no call (the guest agent's resynchronisation), under the write lock. */
    void writeRaw(byte[] bytes, Duration timeout) {
        write(bytes, "(raw)", System.nanoTime(), timeout);
    }

    /** {@code {"execute":command,"arguments":arguments,"id":id}} and a newline; no id when {@code id} is null. */
    static byte[] encode(String command, Object arguments, Long id) {
        ObjectNode args = arguments(command, arguments);
        ByteArrayBuilder out = new ByteArrayBuilder(64 + (args == null ? 0 : 64));
        try (JsonGenerator g = MAPPER.getFactory().createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("execute", command);
            if (args != null) {
                g.writeFieldName("arguments");
                MAPPER.writeTree(g, args);
            }
            if (id != null) {
                g.writeNumberField("id", id);
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new IncusException("Failed to encode the arguments of " + ErrorTexts.quote(command) + ": "
                    + e.getMessage(), e);
        }
        out.append('\n');
        return out.toByteArray();
    }

    private static ObjectNode arguments(String command, Object arguments) {
        if (arguments == null) {
            return null;
        }
        JsonNode tree;
        try {
            tree = arguments instanceof JsonNode node ? node : MAPPER.valueToTree(arguments);
        } catch (IllegalArgumentException e) {
            throw new InvalidArgumentException("Cannot encode the arguments of " + ErrorTexts.quote(command) + ": "
                    + e.getMessage());
        }
        if (tree instanceof ObjectNode object) {
            return object;
        }
        throw new InvalidArgumentException("The arguments of " + ErrorTexts.quote(command)
                + " must be a JSON object (a Map, an ObjectNode or a record), not " + tree.getNodeType());
    }

    private Call send(String command, Object arguments, long start, Duration timeout) {
        if (command == null || command.isEmpty()) {
            throw new InvalidArgumentException("A command name is required");
        }
        long id = ids.incrementAndGet();
        byte[] request = encode(command, arguments, id);
        Call call = register(new Call(id, command));
        try {
            handler.sending(command, request);
            write(request, command, start, timeout);
        } catch (RuntimeException e) {
            pending.remove(id);
            throw e;
        }
        return call;
    }

    private Call register(Call call) {
        if (!closed) {
            pending.put(call.id, call);
            // finish() sets closed before it fails the pending calls: a call that sees closed == false here was in
            // the map before they were failed, and one that was not is removed and failed by us.
            if (!closed) {
                return call;
            }
            pending.remove(call.id);
        }
        throw new MonitorDisconnectedException(words.disconnected());
    }

    private void write(byte[] bytes, String command, long start, Duration timeout) {
        try {
            // A full socket buffer means QEMU stopped reading long ago: later calls then time out waiting for the
            // lock instead of queueing behind it forever.
            if (!writeLock.tryLock(remaining(start, timeout), TimeUnit.NANOSECONDS)) {
                throw timeout(command, timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QmpException("Interrupted while sending " + ErrorTexts.quote(command), e);
        }
        try {
            ByteBuffer out = ByteBuffer.wrap(bytes);
            while (out.hasRemaining()) {
                if (socket.write(out) == 0) {
                    if (remaining(start, timeout) == 0) {
                        if (out.position() > 0) {
                            close(); // half a request on the wire: the stream cannot be trusted any more
                        }
                        throw timeout(command, timeout);
                    }
                    LockSupport.parkNanos(WRITE_RETRY);
                }
            }
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "{0}: write failed, closing: {1}", words.name(), e.toString());
            close();
            throw new MonitorDisconnectedException(words.disconnected());
        } finally {
            writeLock.unlock();
        }
    }

    private JsonNode await(Call call, long start, Duration timeout) {
        ObjectNode reply;
        try {
            reply = call.get(remaining(start, timeout), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            if (pending.remove(call.id) != null || !call.isDone()) {
                throw timeout(call.command, timeout);
            }
            reply = call.getNow(null); // the reply won the race against the deadline
        } catch (ExecutionException e) {
            throw rethrow(e.getCause());
        } catch (InterruptedException e) {
            pending.remove(call.id);
            Thread.currentThread().interrupt();
            throw new QmpException("Interrupted while waiting for the reply to " + ErrorTexts.quote(call.command), e);
        }
        return unwrap(call.command, reply);
    }

    // A fresh exception on the caller's thread, so that its stack trace shows the caller.
    private RuntimeException rethrow(Throwable t) {
        if (t instanceof MonitorDisconnectedException) {
            return new MonitorDisconnectedException(t.getMessage());
        }
        return t instanceof RuntimeException r ? r : new QmpException(t.toString(), t);
    }

    private static JsonNode unwrap(String command, ObjectNode reply) {
        JsonNode error = reply.get("error");
        if (error != null) {
            throw new QmpErrorException(error.path("class").asText(), error.path("desc").asText());
        }
        return reply.path("return");
    }

    private OperationTimeoutException timeout(String command, Duration timeout) {
        // Incus: "%w: %q after %s" around ErrMonitorTimeout.
        return new OperationTimeoutException(words.timedOut() + ": " + ErrorTexts.quote(command) + " after "
                + ErrorTexts.duration(timeout));
    }

    private synchronized ScheduledThreadPoolExecutor timer() {
        if (timer == null) {
            timer = new ScheduledThreadPoolExecutor(1, threads);
            timer.setRemoveOnCancelPolicy(true);
            if (closed) {
                timer.shutdown();
            }
        }
        return timer;
    }

    // ---- state --------------------------------------------------------------------------------------------------

    /** Whether the connection is still up (not closed, no EOF seen). */
    boolean isOpen() {
        return !closed && !closing.get() && !eof;
    }

    /** Closes the socket; pending calls then fail and the reader thread ends. Idempotent, never blocks. */
    @Override
    public void close() {
        if (closing.compareAndSet(false, true)) {
            closeQuietly(socket);
            callerSelector.wakeup();
            if (reader == null) {
                finish(); // no reader thread to see the end
            } else {
                wakeReader();
            }
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            if (c != null) {
                c.close();
            }
        } catch (Exception e) {
            LOG.log(Level.DEBUG, "Closing {0} failed: {1}", c, e.toString());
        }
    }

    // ---- reading ------------------------------------------------------------------------------------------------

    private void wakeReader() {
        Thread t = reader;
        if (t != null) {
            LockSupport.unpark(t);
            readerSelector.wakeup();
        }
    }

    private void readLoop() {
        try {
            while (!eof && !closing.get()) {
                standAside();
                if (eof || closing.get()) {
                    break;
                }
                readerSelector.select();
                readerSelector.selectedKeys().clear();
                if (readRole.tryLock()) {
                    try {
                        int n;
                        do {
                            n = readOnce();
                        } while (n > 0);
                        if (n < 0) {
                            LOG.log(Level.DEBUG, "{0}: EOF", words.name());
                            eof = true;
                        }
                    } finally {
                        readRole.unlock();
                    }
                }
            }
        } catch (IOException | ClosedSelectorException e) {
            if (!closing.get()) {
                LOG.log(Level.DEBUG, "{0}: read failed: {1}", words.name(), e.toString());
            }
        } catch (RuntimeException | Error e) {
            LOG.log(Level.ERROR, words.name() + ": reader failed", e);
        } finally {
            finish();
        }
    }

    // Leaves the socket to callers while one reads and shortly after, unless calls wait that nobody reads for.
    private void standAside() {
        while (!eof && !closing.get()) {
            if (readRole.isLocked()) {
                LockSupport.parkNanos(this, LINGER);
                continue;
            }
            if (!pending.isEmpty()) {
                return;
            }
            long idle = System.nanoTime() - lastCallerRead;
            if (idle >= LINGER) {
                return;
            }
            LockSupport.parkNanos(this, LINGER - idle);
        }
    }

    /** One read: frames and dispatches what came. The bytes read, 0 when none were ready, -1 at EOF. */
    private int readOnce() throws IOException {
        in.clear();
        int n = socket.read(in);
        if (n <= 0) {
            return n;
        }
        if (length + n > buffer.length) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, length + n));
        }
        in.flip();
        in.get(buffer, length, n);
        int start = 0;
        for (int i = length, end = length + n; i < end; i++) {
            byte b = buffer[i];
            if (b == '\n') {
                frame(buffer, start, i - start);
                start = i + 1;
            } else if (b == (byte) 0xFF && ffResets) {
                // The agent's sync mark: whatever came before it is stale.
                start = i + 1;
            }
        }
        length += n;
        if (start > 0) {
            System.arraycopy(buffer, start, buffer, 0, length - start);
            length -= start;
            if (length == 0 && buffer.length > 4 * READ_BUFFER) {
                buffer = new byte[READ_BUFFER]; // do not keep a huge reply's buffer for the connection's life
            }
        }
        return n;
    }

    private void frame(byte[] buffer, int offset, int length) {
        if (isBlank(buffer, offset, length)) {
            return;
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(buffer, offset, length);
        } catch (IOException e) {
            LOG.log(junkLevel(), "{0}: ignoring a frame that is not JSON: {1}", words.name(),
                    new Frame(buffer, offset, length).text());
            return;
        }
        if (!(node instanceof ObjectNode message)) {
            LOG.log(junkLevel(), "{0}: ignoring a frame that is not a JSON object: {1}", words.name(), node);
            return;
        }
        Frame frame = new Frame(buffer, offset, length);
        try {
            JsonNode id = message.get("id");
            boolean reply = message.has("return") || message.has("error");
            if (reply && id != null) {
                Call call = id.isIntegralNumber() && id.canConvertToLong() ? pending.remove(id.longValue()) : null;
                if (call == null) {
                    LOG.log(Level.DEBUG, "{0}: dropping a reply nobody waits for (timed out?): {1}", words.name(),
                            frame.text());
                    return;
                }
                handler.replied(call.command, frame);
                call.complete(message);
            } else if (reply && message.has("error")) {
                // qemu-ga answers each 0xFF of a sync with a parse error about U+FFFD, late when the 0xFF waited in
                // the virtio-serial buffer while the guest booted: expected, whenever it comes.
                boolean syncAnswer = message.path("error").path("desc").asText().contains("\uFFFD");
                LOG.log(syncAnswer ? Level.DEBUG : junkLevel(),
                        "{0}: ignoring an error reply without id (to malformed input): {1}", words.name(),
                        frame.text());
            } else {
                handler.message(message, frame);
            }
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, words.name() + ": handling a message failed", e);
        }
    }

    // Junk is expected during the agent's sync (stale bytes, the answer to our 0xFF), a surprise afterwards.
    private Level junkLevel() {
        return reader != null ? Level.WARNING : Level.DEBUG;
    }

    private static boolean isBlank(byte[] buffer, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            byte b = buffer[i];
            if (b != ' ' && b != '\r' && b != '\t') {
                return false;
            }
        }
        return true;
    }

    private void finish() {
        if (!finished.compareAndSet(false, true)) {
            return;
        }
        closed = true;
        closing.set(true);
        closeQuietly(socket);
        closeQuietly(callerSelector);
        closeQuietly(readerSelector);
        MonitorDisconnectedException gone = new MonitorDisconnectedException(words.disconnected());
        for (Iterator<Call> it = pending.values().iterator(); it.hasNext(); ) {
            Call call = it.next();
            it.remove();
            call.completeExceptionally(gone);
        }
        synchronized (this) {
            if (timer != null) {
                timer.shutdownNow();
            }
        }
        try {
            handler.closed();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, words.name() + ": close handler failed", e);
        }
    }

    /** What is left of {@code timeout} since {@code start} ({@link System#nanoTime()}), never negative. */
    static long remaining(long start, Duration timeout) {
        return Math.max(0, nanos(timeout) - (System.nanoTime() - start));
    }

    // Saturating: a timeout of ChronoUnit.FOREVER waits "forever", a negative one not at all.
    static long nanos(Duration d) {
        return d.compareTo(FOREVER) > 0 ? Long.MAX_VALUE : Math.max(0, d.toNanos());
    }
}
