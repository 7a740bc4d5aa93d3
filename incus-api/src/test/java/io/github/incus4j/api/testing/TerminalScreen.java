package io.github.incus4j.api.testing;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * For the drivers' tests of interactive commands: what a command writes on its terminal, readable while it runs, so
 * that a test can wait for a text before it types. Either as written or with the CRs dropped (a terminal ends lines
 * with CR LF).
 */
public final class TerminalScreen extends OutputStream {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final boolean dropCr;
    private final Duration timeout;

    /**
     * @param dropCr whether CRs are left out of {@link #text()}
     * @param timeout how long {@link #await} waits
     */
    public TerminalScreen(boolean dropCr, Duration timeout) {
        this.dropCr = dropCr;
        this.timeout = timeout;
    }

    @Override
    public synchronized void write(int b) {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
        for (int k = off; k < off + len; k++) {
            if (!dropCr || b[k] != '\r') {
                bytes.write(b[k]);
            }
        }
        notifyAll();
    }

    /** Everything written so far, as UTF-8. */
    public synchronized String text() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /** Waits until {@link #text()} contains {@code expected}; fails with what was written after the timeout. */
    public synchronized void await(String expected) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!text().contains(expected)) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (left <= 0) {
                throw new AssertionError("no \"" + expected + "\" on the terminal after " + timeout + "; read: "
                        + text());
            }
            wait(left);
        }
    }
}
