package io.github.incus4j.lxc.binding;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.NotSupportedException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The kernel notices the lxc status watcher waits for, on plain processes and files (no liblxc needed). */
class StatusEventsTest {
    private static final int WAIT_MS = 10_000;

    @TempDir
    Path dir;
    private StatusEvents events;

    @BeforeEach
    void open() {
        try {
            events = StatusEvents.open();
        } catch (NotSupportedException e) {
            assumeTrue(false, "status events unavailable: " + e.getMessage());
        }
    }

    @AfterEach
    void close() {
        if (events != null) {
            events.close();
        }
    }

    @Test
    void aPidfdBecomesReadableWhenItsProcessExits() throws Exception {
        Process p = new ProcessBuilder("sleep", "60").start();
        int fd = events.openPidfd((int) p.pid());
        try {
            assertTrue(fd >= 0);
            assertTrue(events.await(new int[] {fd}, 0).isEmpty(), "readable while the process runs");
            p.destroyForcibly();
            StatusEvents.Ready ready = events.await(new int[] {fd}, WAIT_MS);
            assertArrayEquals(new int[] {fd}, ready.exitedPidfds());
        } finally {
            events.closeFd(fd);
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aWrittenFileIsReportedAndAGoneOneIsNot() throws IOException {
        Path file = Files.writeString(dir.resolve("freezer.state"), "THAWED\n");
        int wd = events.watch(file);
        assertTrue(wd >= 0);
        assertTrue(events.await(new int[0], 0).isEmpty());
        Files.writeString(file, "FROZEN\n");
        StatusEvents.Ready ready = events.await(new int[0], WAIT_MS);
        assertTrue(ready.writtenWatches().length >= 1 && ready.writtenWatches()[0] == wd,
                "the watch of the written file: " + java.util.Arrays.toString(ready.writtenWatches()));
        events.unwatch(wd);
        assertEquals(-1, events.watch(dir.resolve("no-such-file")));
    }

    @Test
    void aGoneProcessHasNoPidfd() throws Exception {
        Process p = new ProcessBuilder("true").start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(-1, events.openPidfd((int) p.pid()), "a reaped process");
    }

    @Test
    void wakeEndsAWaitAtOnce() throws Exception {
        Thread waker = new Thread(() -> {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                return;
            }
            events.wake();
        });
        waker.start();
        long t0 = System.nanoTime();
        assertTrue(events.await(new int[0], WAIT_MS).isEmpty());
        // Far below the wait's bound: only the wake-up can have ended it.
        assertTrue(System.nanoTime() - t0 < TimeUnit.MILLISECONDS.toNanos(WAIT_MS / 2));
        waker.join();
    }

    @Test
    void descriptorsAreClosed() throws Exception {
        events.close();
        events = null;
        long before = openFds();
        for (int i = 0; i < 20; i++) {
            try (StatusEvents e = StatusEvents.open()) {
                int fd = e.openPidfd((int) ProcessHandle.current().pid());
                int wd = e.watch(Files.writeString(dir.resolve("f" + i), "x"));
                e.unwatch(wd);
                e.closeFd(fd);
            }
        }
        assertTrue(openFds() <= before + 2, "descriptors grew from " + before + " to " + openFds());
    }

    private static long openFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
