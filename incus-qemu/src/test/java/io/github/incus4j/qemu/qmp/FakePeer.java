package io.github.incus4j.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The server side of a fake QEMU monitor or guest agent: a unix-domain server socket in the test that accepts
 * connections, reads the client's requests line by line (dropping the guest agent's {@code 0xFF} marks) and writes
 * whatever bytes the test wants, when it wants, in as many writes as it wants.
 */
final class FakePeer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
            + "\"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}";

    private static final AtomicInteger THREADS = new AtomicInteger();

    /** Daemon threads named {@code qmp-test-<purpose>-<n>}, counting how many it made. */
    static final class Threads implements ThreadFactory {
        final AtomicInteger made = new AtomicInteger();
        final java.util.List<Thread> threads = new java.util.concurrent.CopyOnWriteArrayList<>();

        @Override
        public Thread newThread(Runnable r) {
            Thread t = new Thread(r, "qmp-test-" + made.incrementAndGet());
            t.setDaemon(true);
            threads.add(t);
            return t;
        }

        /** Waits for every thread made so far to end. */
        boolean allEnded(Duration within) throws InterruptedException {
            long deadline = System.nanoTime() + within.toNanos();
            for (Thread t : threads) {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                if (t.isAlive()) {
                    return false;
                }
            }
            return true;
        }
    }

    private final Path path;
    private final ServerSocketChannel server;

    FakePeer(Path dir) {
        this.path = dir.resolve("fake.sock");
        try {
            Files.deleteIfExists(path);
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(path));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Path path() {
        return path;
    }

    /** The next connection (the client connects first, so this does not block long). */
    Conn accept() {
        try {
            return new Conn(server.accept());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        Files.deleteIfExists(path);
    }

    /** One accepted connection. */
    static final class Conn implements AutoCloseable {
        private final SocketChannel socket;
        private final BlockingQueue<byte[]> lines = new LinkedBlockingQueue<>();

        Conn(SocketChannel socket) {
            this.socket = socket;
            Thread reader = new Thread(this::readLines, "fake-peer-reader-" + THREADS.incrementAndGet());
            reader.setDaemon(true);
            reader.start();
        }

        private void readLines() {
            ByteBuffer in = ByteBuffer.allocate(65536);
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            try {
                while (socket.read(in) >= 0) {
                    in.flip();
                    while (in.hasRemaining()) {
                        byte b = in.get();
                        if (b == '\n') {
                            lines.add(line.toByteArray());
                            line.reset();
                        } else if (b != (byte) 0xFF) {
                            line.write(b);
                        }
                    }
                    in.clear();
                }
            } catch (IOException e) {
                // closed by the test
            }
        }

        /** The next request the client sent, as JSON; fails the test when none comes within 5 s. */
        JsonNode read() {
            return read(Duration.ofSeconds(5));
        }

        JsonNode read(Duration timeout) {
            try {
                byte[] line = lines.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
                assertNotNull(line, "the client sent nothing within " + timeout);
                return JSON.readTree(line);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Whether a request arrives within {@code timeout} (consumed). */
        boolean received(Duration timeout) throws InterruptedException {
            return lines.poll(timeout.toMillis(), TimeUnit.MILLISECONDS) != null;
        }

        /** The next request if one is already there, else null. */
        JsonNode poll() {
            byte[] line = lines.poll();
            try {
                return line == null ? null : JSON.readTree(line);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Writes {@code text} as is, in one write. */
        Conn write(String text) {
            return write(text.getBytes(StandardCharsets.UTF_8));
        }

        Conn write(byte[] bytes) {
            try {
                ByteBuffer b = ByteBuffer.wrap(bytes);
                while (b.hasRemaining()) {
                    socket.write(b);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return this;
        }

        /** Writes one line as QEMU does ({@code \r\n} at the end). */
        Conn line(String json) {
            return write(json + "\r\n");
        }

        /** Answers {@code request} (echoing its id) with {@code {"return": value}}. */
        Conn reply(JsonNode request, String value) {
            return line("{\"return\": " + value + ", \"id\": " + request.get("id") + "}");
        }

        /** Answers {@code request} with {@code {"error": {"class": ..., "desc": ...}}}. */
        Conn error(JsonNode request, String errorClass, String desc) {
            return line("{\"id\": " + request.get("id") + ", \"error\": {\"class\": \"" + errorClass
                    + "\", \"desc\": \"" + desc + "\"}}");
        }

        Conn event(String name, String data) {
            return line("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 123456}, \"event\": \"" + name
                    + "\"" + (data == null ? "" : ", \"data\": " + data) + "}");
        }

        @Override
        public void close() {
            try {
                socket.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * A peer that serves one client at a time and is held by another, as QEMU's chardev socket whose client never
     * leaves: a listener with a backlog of 1 that accepts nothing, its backlog filled by connections of its own. A
     * connect to it blocks (the kernel's unix-domain connect waits for room in the backlog, with no timeout).
     */
    static final class Jammed implements AutoCloseable {
        private final Path path;
        private final ServerSocketChannel server;
        private final java.util.List<SocketChannel> fillers = new java.util.ArrayList<>();

        Jammed(Path dir) throws IOException {
            path = dir.resolve("jammed.sock");
            Files.deleteIfExists(path);
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(path), 1);
            // Non-blocking connects until one fails with EAGAIN: the backlog is full then.
            for (int i = 0; i < 16; i++) {
                SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
                c.configureBlocking(false);
                try {
                    c.connect(UnixDomainSocketAddress.of(path));
                    fillers.add(c);
                } catch (IOException full) {
                    c.close();
                    return;
                }
            }
            throw new IllegalStateException("the backlog of " + path + " never filled up");
        }

        Path path() {
            return path;
        }

        @Override
        public void close() throws IOException {
            for (SocketChannel c : fillers) {
                c.close();
            }
            server.close();
            Files.deleteIfExists(path);
        }
    }
}
