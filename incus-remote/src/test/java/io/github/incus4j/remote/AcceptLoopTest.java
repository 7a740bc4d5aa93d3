package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The transport against a server whose accept loop behaves like incusd 6.0.4's unix listener: it reads the first
 * bytes of each new connection before accepting the next one, so a connection the client opens and leaves silent
 * blocks every later one. Under parallel requests no connection of ours may stay silent.
 */
class AcceptLoopTest {
    @TempDir
    Path dir;

    @Test
    void parallelRequestsLeaveNoSilentConnection() throws Exception {
        Path socket = dir.resolve("peek.socket");
        AtomicLong longestSilence = new AtomicLong();
        List<SocketChannel> open = new ArrayList<>();
        ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(socket));
        Thread acceptor = new Thread(() -> {
            while (listener.isOpen()) {
                try {
                    SocketChannel c = listener.accept();
                    synchronized (open) {
                        open.add(c);
                    }
                    // incusd peeks here, in the accept loop, without a deadline.
                    long t0 = System.nanoTime();
                    InputStream in = Channels.newInputStream(c);
                    int first = in.read();
                    longestSilence.accumulateAndGet(System.nanoTime() - t0, Math::max);
                    if (first < 0) {
                        c.close();
                        continue;
                    }
                    Thread t = new Thread(() -> answer(c, in), "accept-loop-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }, "accept-loop");
        acceptor.setDaemon(true);
        acceptor.start();
        ExecutorService pool = Executors.newFixedThreadPool(32);
        try (Transport transport = new Transport(socket, Duration.ofSeconds(5))) {
            List<Future<Integer>> replies = new ArrayList<>();
            for (int k = 0; k < 800; k++) {
                replies.add(pool.submit(() -> transport.send("GET", "/1.0", null, Map.of(), Duration.ofSeconds(5))
                        .status()));
            }
            for (Future<Integer> r : replies) {
                assertEquals(200, r.get(60, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
            listener.close();
            synchronized (open) {
                for (SocketChannel c : open) {
                    c.close();
                }
            }
        }
        assertTrue(longestSilence.get() < TimeUnit.SECONDS.toNanos(2), "a connection stayed silent for "
                + TimeUnit.NANOSECONDS.toMillis(longestSilence.get()) + " ms");
    }

    private static void answer(SocketChannel c, InputStream in) {
        try (c) {
            StringBuilder head = new StringBuilder();
            while (!head.toString().endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) {
                    return;
                }
                head.append((char) b);
            }
            Thread.sleep(ThreadLocalRandom.current().nextInt(3));
            byte[] body = "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{}}".getBytes(StandardCharsets.UTF_8);
            String reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
                    + body.length + "\r\n\r\n" + new String(body, StandardCharsets.UTF_8);
            ByteBuffer out = ByteBuffer.wrap(reply.getBytes(StandardCharsets.UTF_8));
            while (out.hasRemaining()) {
                c.write(out);
            }
        } catch (IOException | InterruptedException e) {
            // the client went away
        }
    }
}
