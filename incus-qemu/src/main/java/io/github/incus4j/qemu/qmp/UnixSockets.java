package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.OperationTimeoutException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.apiguardian.api.API;

/**
 * Connects to a unix-domain socket within a deadline. The JDK's connect has no timeout, and a unix-domain connect
 * blocks for as long as the listener's backlog is full: QEMU's chardev sockets serve one client and leave the next
 * ones in a backlog of 1, so a second client of a held monitor fills it and the third one would block for minutes.
 *
 * <p>A non-blocking connect first: it succeeds or fails at once in every ordinary case. When it fails, the reason may
 * be a refusal (nothing listens, no such file) or a full backlog ({@code EAGAIN}), which the JDK does not tell apart
 * but by a localised message; a blocking connect then tells, on a thread of the caller's factory that is unblocked by
 * closing its channel at the deadline (see {@link Bounded}).
 */
@API(status = INTERNAL)
public final class UnixSockets {
    private UnixSockets() {
    }

    /**
     * A connected channel in blocking mode.
     *
     * @param name what the socket is, for messages ({@code QMP /run/.../qemu.monitor})
     * @param timedOut the message of the timeout
     * @throws OperationTimeoutException {@code timedOut}: still not connected after {@code timeout}
     * @throws QmpException {@code Failed to connect to <name>: <reason>}: nothing listens there, or no such socket
     */
    public static SocketChannel connect(Path path, Duration timeout, ThreadFactory threads, String name,
            String timedOut) {
        long start = System.nanoTime();
        UnixDomainSocketAddress address;
        try {
            address = UnixDomainSocketAddress.of(path);
        } catch (IllegalArgumentException e) { // InvalidPathException too
            throw new QmpException("Failed to connect to " + name + ": " + e.getMessage(), e);
        }
        SocketChannel socket = open();
        try {
            socket.configureBlocking(false);
            if (socket.connect(address) || awaitConnect(socket, start, timeout)) {
                socket.configureBlocking(true);
                return socket;
            }
            closeQuietly(socket);
            throw new OperationTimeoutException(timedOut);
        } catch (IOException e) {
            closeQuietly(socket); // refused, or EAGAIN: the blocking connect below tells which
        }
        SocketChannel blocking = open();
        Bounded.Outcome<Boolean> outcome = Bounded.call(threads, Duration.ofNanos(JsonLineChannel.remaining(start,
                timeout)), () -> blocking.connect(address), () -> closeQuietly(blocking),
                () -> new OperationTimeoutException(timedOut));
        if (outcome.failure() != null) {
            closeQuietly(blocking);
            throw new QmpException("Failed to connect to " + name + ": " + outcome.failure().getMessage(),
                    outcome.failure());
        }
        return blocking;
    }

    // A pending non-blocking connect (not seen on Linux for unix sockets, but allowed by the API).
    private static boolean awaitConnect(SocketChannel socket, long start, Duration timeout) throws IOException {
        try (Selector selector = Selector.open()) {
            socket.register(selector, SelectionKey.OP_CONNECT);
            while (!socket.finishConnect()) {
                long left = JsonLineChannel.remaining(start, timeout);
                if (left == 0) {
                    return false;
                }
                selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                selector.selectedKeys().clear();
            }
            return true;
        }
    }

    private static SocketChannel open() {
        try {
            return SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            throw new QmpException("Failed to open a unix socket: " + e.getMessage(), e);
        }
    }

    static void closeQuietly(SocketChannel socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // nothing to do: it was being given up
        }
    }
}
