package io.github.incus4j.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.OperationTimeoutException;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The bounded unix-domain connect that the QMP, guest agent and console connections go through. */
class UnixSocketsTest extends FakePeerTest {
    @Test
    void connectsAtOnceWithoutAHelperThread() throws Exception {
        try (SocketChannel c = UnixSockets.connect(fake.path(), Duration.ofSeconds(5), threads, "test", "late")) {
            assertTrue(c.isConnected() && c.isBlocking());
            cleanup.add(fake.accept());
        }
        assertEquals(0, threads.made.get(), "the ordinary connect needs no thread");
    }

    @Test
    void aFullBacklogTimesOutAndLeavesNoThread() throws Exception {
        try (FakePeer.Jammed jammed = new FakePeer.Jammed(dir)) {
            long start = System.nanoTime();
            OperationTimeoutException e = assertThrows(OperationTimeoutException.class,
                    () -> UnixSockets.connect(jammed.path(), Duration.ofMillis(250), threads, "test", "late"));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertEquals("late", e.getMessage());
            assertTrue(ms >= 250 && ms < 1500, ms + " ms");
            assertTrue(threads.allEnded(Duration.ofSeconds(2)), "the helper ends once its channel is closed");
        }
    }

    @Test
    void aRefusalFailsAtOnceNamingTheSocket() {
        Path missing = dir.resolve("missing.sock");
        long start = System.nanoTime();
        QmpException e = assertThrows(QmpException.class,
                () -> UnixSockets.connect(missing, Duration.ofSeconds(5), threads, "QMP " + missing, "late"));
        assertTrue(e.getMessage().startsWith("Failed to connect to QMP " + missing + ": "), e.getMessage());
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 1000);
    }
}
