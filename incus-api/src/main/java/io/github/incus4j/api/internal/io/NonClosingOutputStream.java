package io.github.incus4j.api.internal.io;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import org.apiguardian.api.API;

/**
 * Flushes instead of closing: the caller's stream outlives the archive or compressor written into it (closing those
 * closes the stream they write to). Bulk writes go straight through.
 */
@API(status = INTERNAL)
public final class NonClosingOutputStream extends FilterOutputStream {
    /** @param out the caller's stream, left open */
    public NonClosingOutputStream(OutputStream out) {
        super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
    }

    @Override
    public void close() throws IOException {
        out.flush();
    }
}
