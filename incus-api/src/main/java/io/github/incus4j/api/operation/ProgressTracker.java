package io.github.incus4j.api.operation;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import org.apiguardian.api.API;

/**
 * Progress of a long transfer ({@code ioprogress.ProgressTracker}): {@code length} is the expected total in bytes
 * (0 when unknown) and {@code handler} is told the percentage and the speed, at most once per percent step.
 * {@link #wrap(OutputStream)} counts what goes through a stream.
 */
@API(status = EXPERIMENTAL)
public record ProgressTracker(long length, Handler handler) {
    /** Receives progress: {@code percent} 0..100 (-1 when the length is unknown), {@code bytesPerSecond}, bytes so far. */
    @FunctionalInterface
    public interface Handler {
        void progress(int percent, long bytesPerSecond, long bytes);
    }

    /** A stream that reports every byte written through it to this tracker. */
    public OutputStream wrap(OutputStream out) {
        return new Counting(out, this);
    }

    private static final class Counting extends FilterOutputStream {
        private final ProgressTracker tracker;
        private final long started = System.nanoTime();
        private long bytes;
        private int lastPercent = -2;
        private long lastReport;

        Counting(OutputStream out, ProgressTracker tracker) {
            super(out);
            this.tracker = tracker;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            advance(1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            advance(len);
        }

        private void advance(long n) {
            bytes += n;
            int percent = tracker.length > 0 ? (int) Math.min(100, bytes * 100 / tracker.length) : -1;
            long now = System.nanoTime();
            // Unknown lengths report at most every 100 ms; known lengths once per percent step.
            if (percent != lastPercent && (percent >= 0 || now - lastReport > 100_000_000L)) {
                lastPercent = percent;
                lastReport = now;
                long elapsedMs = Math.max(1, (now - started) / 1_000_000L);
                tracker.handler.progress(percent, bytes * 1000 / elapsedMs, bytes);
            }
        }
    }
}
