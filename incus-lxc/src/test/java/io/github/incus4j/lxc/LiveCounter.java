package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A counter process in a container ({@code /counter} holds its pid and a count it raises every 100 ms, replaced
 * atomically), and a watcher that reads the file from the host side, in the source's and the target's root
 * filesystems, every 5 ms: the longest time the count stood still is the container's downtime as it sees it (plus
 * up to one 100 ms period).
 */
final class LiveCounter implements AutoCloseable {
    private final List<Path> files;
    private final List<long[]> samples = new ArrayList<>(); // {nanoTime, count}
    private final Thread thread;
    private volatile boolean stop;
    private boolean wentBack;

    /** The longest stand-still: its length and the count it stood at. */
    record Gap(long millis, long at) {
    }

    private LiveCounter(List<Path> files) {
        this.files = files;
        thread = new Thread(this::poll, "lxc-live-counter-watch");
        thread.setDaemon(true);
        thread.start();
    }

    /** Skips without usable CRIU, or fails when CI said it works ({@code INCUS4J_HOST_CRIU=works}). */
    static void requireCriu() {
        Criu c = Criu.host();
        if (LxcHost.expectedCriu().orElse(false) && !c.usable()) {
            fail("INCUS4J_HOST_CRIU=works but CRIU is not usable: " + c.reason());
        }
        assumeTrue(c.usable(), () -> "CRIU cannot checkpoint here: " + c.reason());
    }

    /**
     * Starts the counter as a daemon (setsid): a process left in the exec's session has its session leader outside
     * the container, which CRIU cannot dump (as with Incus).
     */
    static void start(Instance i) {
        try (Cmd c = i.exec(ExecRequest.of("sh", "-c", "setsid sh -c 'n=0; while :; do n=$((n+1)); echo $$ $n"
                + " > /counter.new && mv /counter.new /counter; sleep 0.1; done' </dev/null >/dev/null 2>&1 &"),
                null, new ByteArrayOutputStream(), new ByteArrayOutputStream())) {
            assertEquals(0, c.waitFor(Duration.ofSeconds(20)));
        }
    }

    /** Watches the counter files (the source's root filesystem, then the target's). */
    static LiveCounter watch(Path... rootfs) {
        List<Path> files = new ArrayList<>();
        for (Path r : rootfs) {
            files.add(r.resolve("counter"));
        }
        return new LiveCounter(files);
    }

    private void poll() {
        long[] last = new long[files.size()];
        java.util.Arrays.fill(last, -1);
        while (!stop) {
            for (int i = 0; i < files.size(); i++) {
                long n = read(files.get(i));
                if (n < 0) {
                    continue;
                }
                synchronized (samples) {
                    if (n < last[i] || (i > 0 && last[i] < 0 && n < last[i - 1])) {
                        wentBack = true; // a file's count fell, or the target's started below the source's last
                    }
                    last[i] = n;
                    // The stand-stills are those of the highest count seen in any of the files.
                    if (samples.isEmpty() || samples.get(samples.size() - 1)[1] < n) {
                        samples.add(new long[] {System.nanoTime(), n});
                    }
                }
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static long read(Path f) {
        try {
            String[] parts = Files.readString(f, StandardCharsets.UTF_8).strip().split(" ");
            return parts.length == 2 ? Long.parseLong(parts[1]) : -1;
        } catch (IOException | NumberFormatException e) {
            return -1; // not there yet, or between the write and the rename
        }
    }

    /** Waits until the watcher saw a count of at least {@code n}. */
    void awaitPast(long n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            synchronized (samples) {
                if (!samples.isEmpty() && samples.get(samples.size() - 1)[1] >= n) {
                    return;
                }
            }
            Thread.sleep(20);
        }
        fail("the watcher never saw count " + n + ": " + samples());
    }

    Gap longestGap() {
        synchronized (samples) {
            Gap g = new Gap(0, -1);
            for (int i = 1; i < samples.size(); i++) {
                long ms = (samples.get(i)[0] - samples.get(i - 1)[0]) / 1_000_000;
                if (ms > g.millis()) {
                    g = new Gap(ms, samples.get(i - 1)[1]);
                }
            }
            return g;
        }
    }

    /**
     * Whether no count went back: each file's count only rose, and the target's first count was not below the
     * source's last (no restart from 0).
     */
    boolean monotonic() {
        synchronized (samples) {
            return !wentBack;
        }
    }

    String samples() {
        synchronized (samples) {
            StringBuilder b = new StringBuilder();
            samples.forEach(s -> b.append(s[1]).append(' '));
            return b.toString();
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        thread.join(1000);
    }
}
