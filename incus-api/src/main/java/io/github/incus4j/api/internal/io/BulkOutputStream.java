package io.github.incus4j.api.internal.io;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.io.IOException;
import java.io.OutputStream;
import org.apiguardian.api.API;

/**
 * An output stream that implements only the bulk {@link #write(byte[], int, int)}: the one-byte {@link #write(int)}
 * goes through it, so that what a stream does with bytes (framing, limits, closing) is written once.
 */
@API(status = INTERNAL)
public abstract class BulkOutputStream extends OutputStream {
    /** For subclasses. */
    protected BulkOutputStream() {
    }

    @Override
    public final void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public abstract void write(byte[] b, int off, int len) throws IOException;
}
