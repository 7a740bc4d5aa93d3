package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.OperationTimeoutException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The SSH endpoint against a forwarded port whose far side never speaks (a paused or hung guest), without a VM. */
@Timeout(60)
class GuestSshTest {
    @TempDir
    Path dir;

    @Test
    void aSilentServerIsATimeoutNotAHang() throws Exception {
        List<Thread> made = new CopyOnWriteArrayList<>();
        ThreadFactory threads = r -> {
            Thread t = new Thread(r, "ssh-test-" + made.size());
            t.setDaemon(true);
            made.add(t);
            return t;
        };
        List<Socket> accepted = new CopyOnWriteArrayList<>();
        // QEMU's forwarding accepts at once whatever the guest does: accept, then say nothing (no SSH banner).
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        accepted.add(server.accept());
                    }
                } catch (IOException closed) {
                    // the test is over
                }
            }, "silent-ssh-server");
            acceptor.setDaemon(true);
            acceptor.start();
            Path run = Files.createDirectories(dir.resolve("run"));
            Files.writeString(run.resolve(GuestSsh.PORT_FILE), server.getLocalPort() + "\n");
            long start = System.nanoTime();
            try (GuestSsh ssh = new GuestSsh(run, dir, () -> fail("no agent needed"), Instant.EPOCH, Duration.ZERO,
                    threads)) {
                OperationTimeoutException e = assertThrows(OperationTimeoutException.class, ssh::client);
                assertTrue(e.getMessage().startsWith("Cannot reach the VM's SSH server on 127.0.0.1:"
                        + server.getLocalPort() + ": "), e.getMessage());
            }
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            // Until the first attempt's deadline (5 s after the start, MIN_WAIT), then one more check.
            assertTrue(ms >= 4500 && ms < 12_000, ms + " ms");
            assertTrue(!accepted.isEmpty(), "the client did connect");
            for (Thread t : made) {
                t.join(2000);
                assertTrue(!t.isAlive(), t.getName() + " is left blocked");
            }
        } finally {
            for (Socket s : accepted) {
                s.close();
            }
        }
    }
}
