package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import org.apiguardian.api.API;

/**
 * A client of QEMU's guest agent ({@code qemu-ga}) over the host side of its virtio-serial port
 * ({@code -chardev socket,path=<socket>,server=on,wait=off} + {@code virtserialport name=org.qemu.guest_agent.0}).
 * The wire protocol is QMP's JSON lines without greeting or events, and the same client machinery
 * ({@link JsonLineChannel}): calls from many threads, replies matched by id, a timeout on every call,
 * {@link MonitorDisconnectedException} ({@value #DISCONNECTED}) at once when the socket closes.
 *
 * <p>The chardev may still hold bytes for an earlier client, and the agent may be half-way through its own parse, so
 * {@link #connect} synchronises as the agent's protocol asks: it writes {@code 0xFF} (the agent's parser resets on
 * it) and {@code guest-sync-delimited} with a random id, drops everything up to the agent's {@code 0xFF} mark and every
 * message that is not the answer to that id. The agent answers nothing while the guest boots or is paused, so the
 * request is repeated every second until the connect timeout. Replies that come after their call timed out carry an
 * id nobody waits for and are dropped, so no resynchronisation is needed after a timeout.
 *
 * <p>The agent serves one client at a time. Methods without a timeout wait {@link #CALL_TIMEOUT}.
 */
@API(status = INTERNAL)
public final class GuestAgentClient implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(GuestAgentClient.class.getName());

    /** The message of {@link MonitorDisconnectedException} once the agent's socket closed. */
    public static final String DISCONNECTED = "Guest agent is disconnected";

    /** The start of a call timeout's message ({@code Guest agent command timed out: "<command>" after <d>}). */
    public static final String COMMAND_TIMED_OUT = "Guest agent command timed out";

    /** The message when the agent did not answer {@code guest-sync-delimited} within the connect timeout. */
    public static final String CONNECT_TIMED_OUT = "Guest agent connection timed out";

    /** The timeout of the methods that take none. The agent answers in milliseconds; exec and file calls in tens. */
    public static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    /** How long {@link #shutdown} waits for an error: the agent answers a successful shutdown with nothing. */
    public static final Duration SHUTDOWN_ERROR_WINDOW = Duration.ofSeconds(1);

    private static final Duration RESYNC_INTERVAL = Duration.ofSeconds(1);
    private static final int WRITE_CHUNK = 1 << 20;
    private static final Set<String> SHUTDOWN_MODES = Set.of("powerdown", "reboot", "halt");

    /**
     * The state of a process started by {@link #exec} ({@code guest-exec-status}).
     *
     * @param exited whether it ended; the other fields but the output are meaningless until then
     * @param exitCode its exit code when it exited normally, else {@code null}
     * @param signal the signal that ended it, else {@code null}
     * @param out standard output captured since the last status (the agent hands each byte out once); empty if none
     * @param err standard error likewise
     * @param outTruncated whether the agent dropped output beyond its buffer (16 MB in qemu-ga 7.2)
     * @param errTruncated likewise for standard error
     */
    public record ExecStatus(boolean exited, Integer exitCode, Integer signal, byte[] out, byte[] err,
            boolean outTruncated, boolean errTruncated) {
    }

    private final Path socket;
    private final JsonLineChannel channel;
    private final Set<Long> syncIds = ConcurrentHashMap.newKeySet();
    private final CompletableFuture<Void> synced = new CompletableFuture<>();

    private GuestAgentClient(Path socket, ThreadFactory threads, long start, Duration timeout) {
        this.socket = socket;
        this.channel = JsonLineChannel.open(socket, new JsonLineChannel.Words("guest agent " + socket, DISCONNECTED,
                COMMAND_TIMED_OUT, CONNECT_TIMED_OUT), true, new Handler(), threads, start, timeout);
    }

    /**
     * Connects to the agent's chardev socket and synchronises with the agent, waiting up to {@code timeout} for it
     * to answer (it does not while the guest boots, before qemu-ga runs, or while the VM is paused).
     *
     * @param threads the factory of the reader thread (a named daemon thread owned by the driver)
     * @throws OperationTimeoutException {@value #CONNECT_TIMED_OUT}
     * @throws MonitorDisconnectedException QEMU closed the socket meanwhile
     * @throws QmpException nothing listens on {@code socket}
     */
    public static GuestAgentClient connect(Path socket, Duration timeout, ThreadFactory threads) {
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(timeout, "timeout");
        Objects.requireNonNull(threads, "threads");
        long start = System.nanoTime();
        GuestAgentClient client = new GuestAgentClient(socket, threads, start, timeout);
        try {
            client.sync(start, timeout);
            client.channel.start();
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    private void sync(long start, Duration timeout) {
        while (true) {
            long id = ThreadLocalRandom.current().nextLong(1, 1L << 53);
            syncIds.add(id);
            byte[] request = JsonLineChannel.encode("guest-sync-delimited", Map.of("id", id), null);
            byte[] framed = new byte[request.length + 1];
            framed[0] = (byte) 0xFF;
            System.arraycopy(request, 0, framed, 1, request.length);
            channel.writeRaw(framed, timeout);
            // On the connecting thread, before the reader thread starts.
            long attempt = System.nanoTime();
            Duration wait = Duration.ofNanos(Math.min(JsonLineChannel.remaining(start, timeout),
                    RESYNC_INTERVAL.toNanos()));
            if (channel.readUntil(synced::isDone, attempt, wait)) {
                if (!synced.isDone() || synced.isCompletedExceptionally()) {
                    throw new MonitorDisconnectedException(DISCONNECTED); // EOF instead
                }
                return;
            }
            if (JsonLineChannel.remaining(start, timeout) == 0) {
                throw new OperationTimeoutException(CONNECT_TIMED_OUT);
            }
            LOG.log(Level.DEBUG, "Guest agent {0}: no answer to guest-sync-delimited yet, asking again", socket);
        }
    }

    private final class Handler implements JsonLineChannel.Handler {
        @Override
        public void message(ObjectNode message, JsonLineChannel.Frame frame) {
            JsonNode value = message.get("return");
            if (!synced.isDone() && value != null && value.isIntegralNumber() && syncIds.contains(value.longValue())) {
                synced.complete(null);
            } else {
                // Stale answers of an earlier client, or of an earlier sync request of ours.
                LOG.log(Level.DEBUG, "Guest agent {0}: dropping {1}", socket, frame.text());
            }
        }

        @Override
        public void closed() {
            synced.completeExceptionally(new MonitorDisconnectedException(DISCONNECTED));
        }
    }

    // ---- generic calls ------------------------------------------------------------------------------------------

    /** Runs agent command {@code command} without arguments, waiting up to {@link #CALL_TIMEOUT}. */
    public JsonNode execute(String command) {
        return execute(command, null, CALL_TIMEOUT);
    }

    /** Runs agent command {@code command}, waiting up to {@link #CALL_TIMEOUT}. */
    public JsonNode execute(String command, Object arguments) {
        return execute(command, arguments, CALL_TIMEOUT);
    }

    /**
     * Runs agent command {@code command}, waiting up to {@code timeout}.
     *
     * @param arguments a {@code Map}, a Jackson {@code ObjectNode} or a record; {@code null} for none
     * @return the reply's {@code "return"} value
     * @throws QmpErrorException the agent answered with an error ({@code <class>: <desc>})
     * @throws OperationTimeoutException {@code Guest agent command timed out: "<command>" after <timeout>}
     * @throws MonitorDisconnectedException {@value #DISCONNECTED}
     */
    public JsonNode execute(String command, Object arguments, Duration timeout) {
        return channel.call(command, arguments, timeout);
    }

    /** {@code guest-ping}: whether the agent answers within {@code timeout} (else the exceptions of execute). */
    public void ping(Duration timeout) {
        execute("guest-ping", null, timeout);
    }

    // ---- processes ----------------------------------------------------------------------------------------------

    /**
     * Starts {@code path} in the guest ({@code guest-exec}) and returns its pid, for {@link #execStatus}.
     *
     * @param args the arguments after the program name; {@code null} for none
     * @param env the whole environment as {@code NAME=value}; {@code null} to inherit the agent's (an empty list is
     *     an empty environment)
     * @param input bytes for its standard input, which is then closed; {@code null} for none
     * @param captureOutput whether to collect standard output and error for {@link #execStatus}
     */
    public int exec(String path, List<String> args, List<String> env, byte[] input, boolean captureOutput) {
        Objects.requireNonNull(path, "path");
        Map<String, Object> arguments = new LinkedHashMap<>();
        arguments.put("path", path);
        arguments.put("arg", args);
        arguments.put("env", env);
        arguments.put("input-data", input == null ? null : Base64.getEncoder().encodeToString(input));
        arguments.put("capture-output", captureOutput);
        return execute("guest-exec", arguments).path("pid").intValue();
    }

    /** {@code guest-exec-status} of a process started by {@link #exec}; its output is handed out once. */
    public ExecStatus execStatus(int pid) {
        JsonNode r = execute("guest-exec-status", Map.of("pid", pid));
        return new ExecStatus(r.path("exited").asBoolean(), integer(r.get("exitcode")), integer(r.get("signal")),
                base64(r.get("out-data")), base64(r.get("err-data")), r.path("out-truncated").asBoolean(),
                r.path("err-truncated").asBoolean());
    }

    private static Integer integer(JsonNode n) {
        return n == null || n.isNull() ? null : n.intValue();
    }

    private static byte[] base64(JsonNode n) {
        return n == null || n.isNull() ? new byte[0] : Base64.getDecoder().decode(n.asText());
    }

    // ---- files --------------------------------------------------------------------------------------------------

    /** {@code guest-file-open}: a handle for the file at {@code path}, opened with fopen's {@code mode} ("r"...). */
    public long fileOpen(String path, String mode) {
        Objects.requireNonNull(path, "path");
        Map<String, Object> arguments = new LinkedHashMap<>();
        arguments.put("path", path);
        arguments.put("mode", mode);
        return execute("guest-file-open", arguments).asLong();
    }

    /** {@code guest-file-read}: up to {@code count} bytes from the handle's position; empty at end of file. */
    public byte[] fileRead(long handle, int count) {
        if (count <= 0) {
            throw new InvalidArgumentException("Invalid read size " + count + ": must be positive");
        }
        return base64(execute("guest-file-read", Map.of("handle", handle, "count", count)).get("buf-b64"));
    }

    /** {@code guest-file-write}: all of {@code data} at the handle's position, in requests of at most 1 MiB. */
    public void fileWrite(long handle, byte[] data) {
        int done = 0;
        do {
            int n = Math.min(WRITE_CHUNK, data.length - done);
            byte[] chunk = done == 0 && n == data.length ? data : Arrays.copyOfRange(data, done, done + n);
            int written = execute("guest-file-write", Map.of("handle", handle, "buf-b64",
                    Base64.getEncoder().encodeToString(chunk), "count", n)).path("count").intValue();
            if (written <= 0 && n > 0) {
                throw new QmpException("The guest agent wrote nothing to file handle " + handle);
            }
            done += written;
        } while (done < data.length);
    }

    /** {@code guest-file-close}. */
    public void fileClose(long handle) {
        execute("guest-file-close", Map.of("handle", handle));
    }

    // ---- guest information and power ----------------------------------------------------------------------------

    /** {@code guest-get-osinfo}: {@code id}, {@code name}, {@code version-id}, {@code kernel-release}... */
    public JsonNode osInfo() {
        return execute("guest-get-osinfo");
    }

    /** {@code guest-network-get-interfaces}: the guest's interfaces with their addresses and statistics. */
    public JsonNode networkInterfaces() {
        return execute("guest-network-get-interfaces");
    }

    /**
     * {@code guest-shutdown}. The agent answers a shutdown that works with nothing at all and one that fails with an
     * error, so this waits {@link #SHUTDOWN_ERROR_WINDOW} for an error and returns when none came (or the connection
     * closed, as it does when the guest powers off).
     *
     * @param mode {@code powerdown}, {@code reboot} or {@code halt}
     */
    public void shutdown(String mode) {
        if (!SHUTDOWN_MODES.contains(mode)) {
            throw new InvalidArgumentException("Invalid shutdown mode " + (mode == null ? "null" : ErrorTexts.quote(mode))
                    + ": must be one of powerdown, reboot, halt");
        }
        try {
            execute("guest-shutdown", Map.of("mode", mode), SHUTDOWN_ERROR_WINDOW);
        } catch (OperationTimeoutException | MonitorDisconnectedException e) {
            LOG.log(Level.DEBUG, "Guest agent {0}: {1} accepted", socket, mode);
        }
    }

    // ---- state --------------------------------------------------------------------------------------------------

    /** Whether the connection is up. */
    public boolean isConnected() {
        return channel.isOpen();
    }

    /** Closes the connection; pending calls fail with {@value #DISCONNECTED}. Never blocks. */
    @Override
    public void close() {
        channel.close();
    }

    @Override
    public String toString() {
        return "GuestAgentClient[" + socket + (isConnected() ? "]" : ", disconnected]");
    }
}
