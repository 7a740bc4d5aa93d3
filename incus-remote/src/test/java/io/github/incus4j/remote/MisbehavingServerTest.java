package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.InstanceSource;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver against an in-test HTTP server on a unix socket that misbehaves: every fault ends in a typed error
 * within the session's timeout, never in a hang.
 */
class MisbehavingServerTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(2);
    /** What "within the timeout" allows on top: scheduling on a busy 2-core machine, the client's own set-up. */
    private static final Duration SLACK = Duration.ofSeconds(6);
    private static final String TRUSTED = "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"auth\":\"trusted\","
            + "\"api_extensions\":[],\"environment\":{\"server_version\":\"6.0.4\"}}}";

    @TempDir
    Path dir;
    private Server server;
    private Instances session;

    @AfterEach
    void tearDown() throws IOException {
        if (session != null) {
            session.close();
        }
        if (server != null) {
            server.close();
        }
    }

    /** A minimal HTTP/1.1 server: {@code behaviour(method, path)} answers, or returns null to keep silent. */
    static final class Server implements AutoCloseable {
        final Path socket;
        private final ServerSocketChannel listener;
        private final List<SocketChannel> clients = new ArrayList<>();
        private final BiFunction<String, String, String> behaviour;
        /** Every request's method, path and body ({@code "POST /1.0/instances {...}"}), in order. */
        final List<String> requests = java.util.Collections.synchronizedList(new ArrayList<>());

        Server(Path socket, BiFunction<String, String, String> behaviour) throws IOException {
            this.socket = socket;
            this.behaviour = behaviour;
            listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            listener.bind(UnixDomainSocketAddress.of(socket));
            Thread t = new Thread(this::accept, "misbehaving-server");
            t.setDaemon(true);
            t.start();
        }

        private void accept() {
            while (listener.isOpen()) {
                try {
                    SocketChannel c = listener.accept();
                    synchronized (clients) {
                        clients.add(c);
                    }
                    Thread t = new Thread(() -> serve(c), "misbehaving-server-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(SocketChannel c) {
            try (c) {
                InputStream in = Channels.newInputStream(c);
                while (true) {
                    StringBuilder head = new StringBuilder();
                    while (!head.toString().endsWith("\r\n\r\n")) {
                        int b = in.read();
                        if (b < 0) {
                            return;
                        }
                        head.append((char) b);
                    }
                    String[] line = head.toString().split("\r\n")[0].split(" ");
                    int length = 0;
                    for (String h : head.toString().split("\r\n")) {
                        if (h.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                            length = Integer.parseInt(h.substring(15).trim());
                        }
                    }
                    requests.add(line[0] + " " + line[1] + " " + new String(in.readNBytes(length),
                            StandardCharsets.UTF_8));
                    String reply = behaviour.apply(line[0], line[1]);
                    if (reply == null) {
                        Thread.sleep(Long.MAX_VALUE); // silent: never answers, keeps the connection open
                    }
                    if (reply.equals("CLOSE")) {
                        return;
                    }
                    boolean partial = reply.startsWith("PARTIAL ");
                    reply = partial ? reply.substring(8) : reply;
                    ByteBuffer out = ByteBuffer.wrap(reply.getBytes(StandardCharsets.UTF_8));
                    while (out.hasRemaining()) {
                        c.write(out);
                    }
                    if (partial) {
                        return; // the body promised is never completed: the connection just closes
                    }
                }
            } catch (IOException | InterruptedException e) {
                // the test is over
            }
        }

        @Override
        public void close() throws IOException {
            listener.close();
            synchronized (clients) {
                for (SocketChannel c : clients) {
                    c.close();
                }
            }
        }
    }

    static String json(int status, String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return "HTTP/1.1 " + status + " X\r\nContent-Type: application/json\r\nContent-Length: " + b.length
                + "\r\n\r\n" + body;
    }

    /** GET /1.0 trusted; the events subscription refused (so waits use /wait); then {@code rest}. */
    private Instances open(BiFunction<String, String, String> rest) throws IOException {
        server = new Server(dir.resolve("incus.socket"), (method, path) -> {
            if (path.equals("/1.0")) {
                return json(200, TRUSTED);
            }
            if (path.startsWith("/1.0/events")) {
                return json(403, "{\"type\":\"error\",\"error\":\"not allowed\",\"error_code\":403}");
            }
            return rest.apply(method, path);
        });
        session = new IncusDriver().open(dir.resolve("root"), server.socket, TIMEOUT);
        return session;
    }

    private static void assertWithin(Duration limit, long startNanos) {
        Duration took = Duration.ofNanos(System.nanoTime() - startNanos);
        assertTrue(took.compareTo(limit) <= 0, "took " + took + ", more than " + limit);
    }

    @Test
    void aServerClosingMidReplyIsATypedError() throws IOException {
        Instances s = open((method, path) -> "PARTIAL HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"type\":");
        long t0 = System.nanoTime();
        IncusException e = assertThrows(IncusException.class, s::list);
        assertWithin(TIMEOUT.plus(SLACK), t0);
        assertTrue(e.getMessage().contains("/1.0/instances"), e.getMessage());
    }

    @Test
    void aServerClosingWithoutReplyIsATypedError() throws IOException {
        Instances s = open((method, path) -> "CLOSE");
        long t0 = System.nanoTime();
        assertThrows(IncusException.class, () -> s.find("default", "c1"));
        assertWithin(TIMEOUT.plus(SLACK), t0);
    }

    @Test
    void aSilentServerTimesOut() throws IOException {
        Instances s = open((method, path) -> null);
        long t0 = System.nanoTime();
        assertThrows(OperationTimeoutException.class, s::list);
        assertWithin(TIMEOUT.plus(SLACK), t0);
    }

    @Test
    void anOperationThatNeverEndsTimesOutAndIsCancelled() throws IOException {
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        String op = "{\"id\":\"op1\",\"class\":\"task\",\"status\":\"Running\",\"status_code\":103,\"metadata\":null,"
                + "\"may_cancel\":true,\"err\":\"\"}";
        Instances s = open((method, path) -> {
            seen.add(method + " " + path);
            if (method.equals("POST") && path.startsWith("/1.0/instances")) {
                return json(202, "{\"type\":\"async\",\"status_code\":100,\"operation\":\"/1.0/operations/op1\","
                        + "\"metadata\":" + op + "}");
            }
            if (path.startsWith("/1.0/operations/op1/wait")) {
                return null; // the wait never answers
            }
            if (method.equals("DELETE")) {
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{}}");
            }
            return json(404, "{\"type\":\"error\",\"error\":\"Not found\",\"error_code\":404}");
        });
        long t0 = System.nanoTime();
        assertThrows(OperationTimeoutException.class, () -> s.create(InstanceArgs.builder("c1").build(),
                InstanceSource.template("busybox", Map.of())));
        assertWithin(TIMEOUT.plus(TIMEOUT).plus(SLACK), t0);
        assertTrue(seen.contains("DELETE /1.0/operations/op1"), "the operation was cancelled: " + seen);
    }

    @Test
    void aWebsocketThatNeverConnectsIsATypedErrorAndCancelsTheCommand() throws IOException {
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        Instances s = open((method, path) -> {
            seen.add(method + " " + path);
            if (method.equals("GET") && path.startsWith("/1.0/instances/c1?")) {
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"name\":\"c1\","
                        + "\"type\":\"container\",\"status\":\"Running\",\"status_code\":103}}");
            }
            if (method.equals("POST") && path.startsWith("/1.0/instances/c1/exec")) {
                return json(202, "{\"type\":\"async\",\"status_code\":100,\"operation\":\"/1.0/operations/op2\","
                        + "\"metadata\":{\"id\":\"op2\",\"class\":\"websocket\",\"status_code\":103,\"metadata\":"
                        + "{\"fds\":{\"0\":\"a\",\"1\":\"b\",\"2\":\"c\",\"control\":\"d\"}},\"may_cancel\":true}}");
            }
            if (path.startsWith("/1.0/operations/op2/websocket")) {
                return null; // the upgrade is never answered
            }
            if (method.equals("DELETE")) {
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{}}");
            }
            return json(404, "{\"type\":\"error\",\"error\":\"Not found\",\"error_code\":404}");
        });
        Instance c1 = s.load("c1");
        long t0 = System.nanoTime();
        assertThrows(OperationTimeoutException.class, () -> c1.exec(ExecRequest.of("true"), null,
                new ByteArrayOutputStream(), null));
        assertWithin(TIMEOUT.plus(SLACK), t0);
        assertTrue(seen.contains("DELETE /1.0/operations/op2"), "the command was cancelled: " + seen);
    }

    @Test
    void anSftpUpgradeThatIsNeverAnsweredTimesOut() throws IOException {
        Instances s = open((method, path) -> {
            if (method.equals("GET") && path.startsWith("/1.0/instances/c1?")) {
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"name\":\"c1\","
                        + "\"type\":\"container\",\"status\":\"Running\",\"status_code\":103}}");
            }
            return null;
        });
        Instance c1 = s.load("c1");
        long t0 = System.nanoTime();
        assertThrows(OperationTimeoutException.class, c1::fileSftp);
        assertWithin(TIMEOUT.plus(SLACK), t0);
    }

    @Test
    void anUntrustedClientIsRefusedWithTheReason() throws IOException {
        server = new Server(dir.resolve("incus.socket"), (method, path) -> json(200,
                "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"auth\":\"untrusted\"}}"));
        PermissionDeniedException e = assertThrows(PermissionDeniedException.class,
                () -> new IncusDriver().open(dir.resolve("root"), server.socket, TIMEOUT));
        assertTrue(e.getMessage().contains("does not trust this client"), e.getMessage());
        assertFalse(e.getMessage().isEmpty());
    }

    @Test
    void errorsKeepTheServersText() throws IOException {
        Instances s = open((method, path) -> json(400, "{\"type\":\"error\",\"error\":\"Invalid instance name: "
                + "bad\",\"error_code\":400}"));
        IncusException e = assertThrows(io.github.incus4j.api.InvalidArgumentException.class, s::list);
        assertEquals("Invalid instance name: bad", e.getMessage());
    }
}
