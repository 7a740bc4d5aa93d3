package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A heartbeat the guest writes to a serial port every 10 ms (a count, one line each), and a watcher reading what
 * QEMU's {@code file} chardev appends to the host file ({@link #rawQemu}), every 2 ms: the longest time between two
 * beats is the guest's own view of a stand-still (its clock, stopped with it under TCG, cannot tell). Source and
 * target QEMU append to the same file, so the beats run on across a migration.
 */
final class GuestHeartbeat implements AutoCloseable {
    private final Path file;
    private final Thread thread;
    private final List<long[]> beats = new ArrayList<>(); // {nanoTime, count}
    private volatile boolean stop;
    private boolean wentBack;

    /** The longest gap between two beats: its length, the count before it, when it ended (nanoTime). */
    record Gap(long millis, long after, long endNanos) {
    }

    private GuestHeartbeat(Path file) {
        this.file = file;
        thread = new Thread(this::poll, "qemu-guest-heartbeat-watch");
        thread.setDaemon(true);
        thread.start();
    }

    /** {@code raw.qemu} adding a second serial port (the guest's {@code ttyS1}) whose output goes to {@code file}. */
    static String rawQemu(Path file) {
        return "-chardev file,id=heartbeat,path=" + file + ",append=on -serial chardev:heartbeat";
    }

    /** The guest's loop, a daemon (setsid) so that the exec ends. */
    static String guestLoop() {
        return "stty -F /dev/ttyS1 115200 raw -echo; setsid sh -c 'n=0; while :; do n=$((n+1)); echo $n > /dev/ttyS1;"
                + " usleep 10000; done' </dev/null >/dev/null 2>&1 &";
    }

    static GuestHeartbeat watch(Path file) {
        return new GuestHeartbeat(file);
    }

    private void poll() {
        FileChannel ch = null;
        long pos = 0;
        StringBuilder line = new StringBuilder();
        ByteBuffer buf = ByteBuffer.allocate(1 << 16);
        try {
            while (!stop) {
                if (ch == null) {
                    try {
                        ch = FileChannel.open(file, StandardOpenOption.READ);
                    } catch (NoSuchFileException e) {
                        Thread.sleep(2);
                        continue;
                    }
                }
                buf.clear();
                int n = ch.read(buf, pos);
                long now = System.nanoTime();
                if (n > 0) {
                    pos += n;
                    String text = new String(buf.array(), 0, n, StandardCharsets.US_ASCII);
                    for (char c : text.toCharArray()) {
                        if (c == '\n' || c == '\r') {
                            beat(now, line);
                            line.setLength(0);
                        } else {
                            line.append(c);
                        }
                    }
                    continue;
                }
                Thread.sleep(2);
            }
        } catch (IOException | InterruptedException e) {
            // ends the watch
        } finally {
            try {
                if (ch != null) {
                    ch.close();
                }
            } catch (IOException ignored) {
                // read only
            }
        }
    }

    private void beat(long now, CharSequence line) {
        long count;
        try {
            count = Long.parseLong(line.toString().strip());
        } catch (NumberFormatException e) {
            return; // an empty line of a CR LF, or the guest's own noise
        }
        synchronized (beats) {
            if (!beats.isEmpty() && beats.get(beats.size() - 1)[1] >= count) {
                wentBack = true;
            }
            beats.add(new long[] {now, count});
        }
    }

    /** The last count seen (-1: none yet). */
    long count() {
        synchronized (beats) {
            return beats.isEmpty() ? -1 : beats.get(beats.size() - 1)[1];
        }
    }

    /** Waits until the count passes {@code n}. */
    void awaitPast(long n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (count() <= n) {
            if (System.nanoTime() > deadline) {
                fail("the guest's heartbeat stood at " + count() + ", not past " + n);
            }
            Thread.sleep(20);
        }
    }

    /** Whether the count never fell: one loop, never restarted. */
    boolean continuous() {
        synchronized (beats) {
            return !wentBack;
        }
    }

    /** The longest gap between two beats of which the later came after {@code fromNanos}. */
    Gap longestGapSince(long fromNanos) {
        synchronized (beats) {
            Gap best = new Gap(0, -1, 0);
            for (int i = 1; i < beats.size(); i++) {
                long[] a = beats.get(i - 1);
                long[] b = beats.get(i);
                long ms = (b[0] - a[0]) / 1_000_000;
                if (b[0] >= fromNanos && ms > best.millis()) {
                    best = new Gap(ms, a[1], b[0]);
                }
            }
            return best;
        }
    }

    /** The median time between beats before {@code toNanos} (the loop's own period on this host). */
    long medianPeriodMillisBefore(long toNanos) {
        synchronized (beats) {
            List<Long> d = new ArrayList<>();
            for (int i = 1; i < beats.size() && beats.get(i)[0] < toNanos; i++) {
                d.add(beats.get(i)[0] - beats.get(i - 1)[0]);
            }
            d.sort(null);
            return d.isEmpty() ? -1 : d.get(d.size() / 2) / 1_000_000;
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        thread.join(5000);
    }
}
