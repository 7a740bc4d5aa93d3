package io.github.incus4j.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The guest-agent client against a real {@code qemu-ga} run on the host ({@code -m unix-listen}): the same wire
 * protocol as through a VM's virtio-serial port, without a guest. Skipped unless {@code /usr/sbin/qemu-ga} exists or
 * the system property {@code incus4j.qemu-ga} names the binary (e.g. one unpacked from Debian's
 * {@code qemu-guest-agent} package). Its commands run on the host: only {@code /bin/sh -c} one-liners and files in
 * the test's temporary directory.
 */
@Timeout(60)
class GuestAgentHostTest {
    @TempDir
    Path dir;

    private Process qga;
    private GuestAgentClient agent;

    @BeforeEach
    void start() throws Exception {
        Path binary = Path.of(System.getProperty("incus4j.qemu-ga", "/usr/sbin/qemu-ga"));
        assumeTrue(Files.isExecutable(binary), "no qemu-ga at " + binary + " (set -Dincus4j.qemu-ga=<path>)");
        Path sock = dir.resolve("ga.sock");
        Files.createDirectories(dir.resolve("state"));
        qga = new ProcessBuilder(binary.toString(), "-m", "unix-listen", "-p", sock.toString(), "-t",
                dir.resolve("state").toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("qga.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(sock)) {
            assertTrue(qga.isAlive() && System.nanoTime() < deadline, () -> "qemu-ga did not start: " + log());
            Thread.sleep(5);
        }
        agent = GuestAgentClient.connect(sock, Duration.ofSeconds(5), new FakePeer.Threads());
    }

    private String log() {
        try {
            return Files.readString(dir.resolve("qga.log"));
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    @AfterEach
    void stop() throws InterruptedException {
        try {
            if (agent != null) {
                agent.close();
            }
        } finally {
            if (qga != null) {
                qga.destroyForcibly();
                qga.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void pingInfoAndErrors() {
        agent.ping(Duration.ofSeconds(2));
        assertFalse(agent.osInfo().path("kernel-release").asText().isEmpty());
        assertTrue(agent.execute("guest-info").path("version").asText().matches("\\d+\\.\\d+.*"));
        QmpErrorException e = assertThrows(QmpErrorException.class, () -> agent.execute("no-such-command"));
        assertEquals("CommandNotFound", e.errorClass());
    }

    @Test
    void execCapturesOutputAndExitCode() throws Exception {
        int pid = agent.exec("/bin/sh", List.of("-c", "cat; echo oops >&2; exit 3"), null,
                "hello\n".getBytes(StandardCharsets.UTF_8), true);
        GuestAgentClient.ExecStatus s;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        do {
            Thread.sleep(10);
            s = agent.execStatus(pid);
        } while (!s.exited() && System.nanoTime() < deadline);
        assertTrue(s.exited());
        assertEquals(3, s.exitCode());
        assertEquals("hello\n", new String(s.out(), StandardCharsets.UTF_8));
        assertEquals("oops\n", new String(s.err(), StandardCharsets.UTF_8));
    }

    @Test
    void filesRoundTrip() {
        Path file = dir.resolve("data.bin");
        byte[] data = new byte[200_000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 31);
        }
        long w = agent.fileOpen(file.toString(), "w");
        agent.fileWrite(w, data);
        agent.fileClose(w);
        long r = agent.fileOpen(file.toString(), "r");
        java.io.ByteArrayOutputStream read = new java.io.ByteArrayOutputStream();
        for (byte[] chunk; (chunk = agent.fileRead(r, 65536)).length > 0; ) {
            read.writeBytes(chunk);
        }
        agent.fileClose(r);
        assertArrayEquals(data, read.toByteArray());
        assertThrows(QmpErrorException.class, () -> agent.fileOpen(dir.resolve("missing/x").toString(), "r"));
    }

    @Test
    void aSecondClientResynchronises() {
        agent.close();
        agent = GuestAgentClient.connect(dir.resolve("ga.sock"), Duration.ofSeconds(5), new FakePeer.Threads());
        agent.ping(Duration.ofSeconds(2));
    }
}
