package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.internal.io.BulkInputStream;
import io.github.incus4j.api.internal.io.BulkOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.time.Duration;

/**
 * A one-way in-memory byte pipe with a bounded buffer. Blocking waits are bounded by {@code timeout} (a writer
 * facing a full buffer, a reader facing an empty one) so that a peer that went away cannot hang a thread forever;
 * {@code null} lets readers wait until data or end of stream (a console). Closing the output is end of stream for
 * the reader; closing the input makes further writes fail ({@code Broken pipe}). Thread-safe.
 */
final class BoundedPipe {
    private final byte[] buf;
    private final long timeoutNanos;
    private int head;
    private int count;
    private boolean writerClosed;
    private boolean readerClosed;
    private final InputStream in = new In();
    private final OutputStream out = new Out();

    BoundedPipe(int capacity, Duration timeout) {
        this.buf = new byte[capacity];
        this.timeoutNanos = timeout == null ? -1 : timeout.toNanos();
    }

    InputStream input() {
        return in;
    }

    OutputStream output() {
        return out;
    }

    /** Writes what fits without waiting and drops the rest (a console nobody reads must not stall the guest). */
    synchronized void offer(byte[] b, int off, int len) {
        if (writerClosed || readerClosed) {
            return;
        }
        int n = Math.min(len, buf.length - count);
        for (int i = 0; i < n; i++) {
            buf[(head + count + i) % buf.length] = b[off + i];
        }
        count += n;
        if (n > 0) {
            notifyAll();
        }
    }

    /** Ends the stream for the reader. */
    synchronized void closeOutput() {
        writerClosed = true;
        notifyAll();
    }

    private synchronized void write(byte[] b, int off, int len) throws IOException {
        int done = 0;
        while (done < len) {
            if (writerClosed) {
                throw new IOException("Stream closed");
            }
            if (readerClosed) {
                throw new IOException("Broken pipe");
            }
            if (count == buf.length) {
                await("writing");
                continue;
            }
            int n = Math.min(len - done, buf.length - count);
            for (int i = 0; i < n; i++) {
                buf[(head + count + i) % buf.length] = b[off + done + i];
            }
            count += n;
            done += n;
            notifyAll();
        }
    }

    private synchronized int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        while (count == 0) {
            if (writerClosed || readerClosed) {
                return -1;
            }
            await("reading");
        }
        int n = Math.min(len, count);
        for (int i = 0; i < n; i++) {
            b[off + i] = buf[(head + i) % buf.length];
        }
        head = (head + n) % buf.length;
        count -= n;
        notifyAll();
        return n;
    }

    private void await(String what) throws IOException {
        try {
            if (timeoutNanos < 0) {
                wait();
                return;
            }
            long deadline = System.nanoTime() + timeoutNanos;
            long left = timeoutNanos;
            int before = count;
            while (left > 0 && count == before && !writerClosed && !readerClosed) {
                wait(left / 1_000_000, (int) (left % 1_000_000));
                left = deadline - System.nanoTime();
            }
            if (count == before && !writerClosed && !readerClosed) {
                throw new IOException("Timed out " + what + " a pipe after " + timeoutNanos / 1_000_000 + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("Interrupted while " + what + " a pipe");
        }
    }

    private synchronized int available() {
        return count;
    }

    private synchronized void closeInput() {
        readerClosed = true;
        notifyAll();
    }

    private final class In extends BulkInputStream {
        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return BoundedPipe.this.read(b, off, len);
        }

        @Override
        public int available() {
            return BoundedPipe.this.available();
        }

        @Override
        public void close() {
            closeInput();
        }
    }

    private final class Out extends BulkOutputStream {
        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            BoundedPipe.this.write(b, off, len);
        }

        @Override
        public void close() {
            closeOutput();
        }
    }
}
