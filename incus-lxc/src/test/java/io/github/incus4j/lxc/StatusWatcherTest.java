package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.StatusCode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver's status watcher on real containers: {@code statusCode()} answers from memory, and changes made behind
 * the driver's back (lxc-stop, lxc-freeze, a killed init) show within 100 ms. The latency checks are bounded
 * functional checks, not speed measurements. The watcher's periodic re-query is pushed out to a minute here, so a
 * change seen at all was seen through an event (pidfd, inotify). Each check runs three rounds: the median must be
 * within 100 ms, and every round within {@value #NOISY_MS} ms, because on the shared 2-core machine a thread can
 * wait that long for a core (observed: 0.01 to 70 ms under a load average of 20).
 */
class StatusWatcherTest {
    /** What the issue asks: a change behind the driver's back is seen within this. */
    private static final long SEEN_WITHIN_MS = 100;
    /** The bound of a single round on a loaded machine. */
    private static final long NOISY_MS = 300;
    /** How long a check waits at most before failing (a generous bound for a loaded 2-core machine). */
    private static final long GIVE_UP_MS = 10_000;
    private static final Duration TOOL_WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;
    private LxcInstances lxc;

    @BeforeEach
    void open() {
        LxcHost.require();
        StatusWatcher.resyncMillis = 60_000;
        lxc = new LxcDriver().open(LxcHost.searchable(dir.resolve("root")), Duration.ofSeconds(30));
    }

    @AfterEach
    void close() {
        StatusWatcher.resyncMillis = StatusWatcher.RESYNC_MILLIS;
        LxcHost.deleteAll(lxc);
    }

    /** Three rounds' latencies: median within {@link #SEEN_WITHIN_MS}, each within {@link #NOISY_MS}. */
    private static void assertSeenInTime(String what, long[] ms) {
        long[] sorted = ms.clone();
        java.util.Arrays.sort(sorted);
        String all = java.util.Arrays.toString(ms) + " ms";
        assertTrue(sorted[1] <= SEEN_WITHIN_MS, what + " seen after a median of " + sorted[1] + " ms: " + all);
        assertTrue(sorted[2] <= NOISY_MS, what + " seen after " + sorted[2] + " ms in one round: " + all);
    }

    @Test
    void statusComesFromMemoryWhileRenderStateAsksLiblxc() {
        LxcContainerInstance c = (LxcContainerInstance) LxcHost.runningBusybox(lxc, "stw-");
        assertEquals(StatusCode.RUNNING, c.watchedStatus, "kept by the watcher after start");
        assertEquals(StatusCode.RUNNING, c.statusCode());
        assertEquals(1, lxc.statusWatcher().watched());
        // A wrong remembered value shows through statusCode() (it is not asked again)...
        c.watchedStatus = StatusCode.FROZEN;
        assertEquals(StatusCode.FROZEN, c.statusCode());
        // ...while renderState() asks liblxc, and the remembered status is corrected on the way.
        assertEquals("Running", c.renderState(List.of()).status());
        assertEquals(StatusCode.RUNNING, c.statusCode());
        c.stop(false);
        assertEquals(StatusCode.STOPPED, c.watchedStatus);
        assertEquals(0, lxc.statusWatcher().watched(), "descriptors closed with the stop");
    }

    @Test
    void lxcStopBehindTheDriversBackIsSeenWithin100Ms() throws Exception {
        Instance c = LxcHost.runningBusybox(lxc, "stw-");
        String name = ((LxcContainerInstance) c).lxcName();
        long[] ms = new long[3];
        for (int round = 0; round < ms.length; round++) {
            if (round > 0) {
                c.start(false);
            }
            assertEquals(StatusCode.RUNNING, c.statusCode());
            tool("lxc-stop", "-k", "-n", name); // returns once liblxc says STOPPED
            ms[round] = millisUntil(c, StatusCode.STOPPED);
        }
        assertSeenInTime("lxc-stop", ms);
    }

    @Test
    void lxcFreezeAndUnfreezeBehindTheDriversBackAreSeenWithin100Ms() throws Exception {
        Instance c = LxcHost.runningBusybox(lxc, "stw-");
        String name = ((LxcContainerInstance) c).lxcName();
        long[] frozen = new long[3];
        long[] thawed = new long[3];
        for (int round = 0; round < frozen.length; round++) {
            tool("lxc-freeze", "-n", name);
            frozen[round] = millisUntil(c, StatusCode.FROZEN);
            tool("lxc-unfreeze", "-n", name);
            thawed[round] = millisUntil(c, StatusCode.RUNNING);
        }
        assertSeenInTime("lxc-freeze", frozen);
        assertSeenInTime("lxc-unfreeze", thawed);
        c.freeze(); // the driver's own freeze and thaw agree with the kept status at once
        assertEquals(StatusCode.FROZEN, c.statusCode());
        c.unfreeze();
        assertEquals(StatusCode.RUNNING, c.statusCode());
    }

    @Test
    void killedInitIsSeenWithin100Ms() throws Exception {
        Instance c = LxcHost.runningBusybox(lxc, "stw-");
        long[] ms = new long[3];
        for (int round = 0; round < ms.length; round++) {
            if (round > 0) {
                c.start(false);
            }
            int pid = c.initPid();
            assertTrue(pid > 0);
            long t0 = System.nanoTime();
            ProcessHandle.of(pid).orElseThrow().destroyForcibly(); // SIGKILL from the host
            ms[round] = millisUntilNot(c, t0, StatusCode.RUNNING);
            millisUntil(c, StatusCode.STOPPED); // and it ends stopped
            assertEquals(0, lxc.statusWatcher().watched(), "descriptors closed once stopped");
        }
        assertSeenInTime("a killed init", ms);
    }

    @Test
    void fiftyStartStopCyclesLeakNoDescriptor() throws IOException {
        Instance c = LxcHost.runningBusybox(lxc, "stw-");
        c.stop(false);
        c.start(false); // warm up whatever the JDK opens lazily
        c.stop(false);
        long before = openFds();
        for (int i = 0; i < 50; i++) {
            c.start(false);
            assertEquals(StatusCode.RUNNING, c.statusCode());
            c.stop(false);
            assertEquals(StatusCode.STOPPED, c.statusCode());
        }
        long after = openFds();
        // A leak of one descriptor per cycle would add 50; leave room for a JDK file opened meanwhile.
        assertTrue(after <= before + 3, "open descriptors grew from " + before + " to " + after);
        assertEquals(0, lxc.statusWatcher().watched());
    }

    @Test
    void theWatcherThreadIsNamedDaemonAndEndsWithTheSession() {
        LxcContainerInstance c = (LxcContainerInstance) LxcHost.runningBusybox(lxc, "stw-");
        assertEquals(StatusCode.RUNNING, c.statusCode());
        List<Thread> threads = statusThreads();
        assertEquals(1, threads.size(), "one watcher thread per session: " + threads);
        assertTrue(threads.get(0).isDaemon());
        c.stop(false);
        c.delete(false);
        LxcInstances closed = lxc;
        lxc = null; // nothing left for close() to delete
        closed.close();
        assertTrue(statusThreads().isEmpty(), "watcher thread still alive after close");
        assertNull(c.watchedStatus, "a closed session keeps no status");
        assertFalse(closed.statusWatcher().active());
    }

    private static List<Thread> statusThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .filter(t -> t.getName().startsWith("incus4j-lxc-status-")).toList();
    }

    private static long openFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    private void tool(String... command) throws IOException, InterruptedException {
        List<String> cmd = new java.util.ArrayList<>(List.of(command));
        cmd.add(1, "-P");
        cmd.add(2, lxc.lxcpath().toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        assertTrue(p.waitFor(TOOL_WAIT.toSeconds(), TimeUnit.SECONDS), cmd + " did not end");
        assertEquals(0, p.exitValue(), cmd + " failed");
    }

    /** Milliseconds from now until {@code c} says {@code expected}, polled every 1 ms, at most {@link #GIVE_UP_MS}. */
    private static long millisUntil(Instance c, StatusCode expected) throws InterruptedException {
        long t0 = System.nanoTime();
        while (c.statusCode() != expected) {
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < GIVE_UP_MS, "still " + c.statusCode() + " after " + ms + " ms, expected " + expected);
            Thread.sleep(1);
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }

    /** Milliseconds from {@code t0} until {@code c} no longer says {@code old}. */
    private static long millisUntilNot(Instance c, long t0, StatusCode old) throws InterruptedException {
        while (c.statusCode() == old) {
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < GIVE_UP_MS, "still " + old + " after " + ms + " ms");
            Thread.sleep(1);
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertNotEquals(StatusCode.ERROR, c.statusCode());
        return ms;
    }
}
