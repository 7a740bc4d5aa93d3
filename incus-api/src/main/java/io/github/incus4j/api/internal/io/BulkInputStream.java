package io.github.incus4j.api.internal.io;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.io.IOException;
import java.io.InputStream;
import org.apiguardian.api.API;

/**
 * An input stream that implements only the bulk {@link #read(byte[], int, int)}: the one-byte {@link #read()} goes
 * through it, so that the bookkeeping of a stream (limits, chunks, closing) is written once.
 */
@API(status = INTERNAL)
public abstract class BulkInputStream extends InputStream {
    /** For subclasses. */
    protected BulkInputStream() {
    }

    @Override
    public final int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public abstract int read(byte[] b, int off, int len) throws IOException;
}
