package io.github.incus4j.api.internal.io;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.io.Connection;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Objects;
import org.apiguardian.api.API;

/** {@link Connection}s over two streams whose close is the transport's own (a socket, a channel). */
@API(status = INTERNAL)
public final class Connections {
    private Connections() {
    }

    /** A connection reading {@code in}, writing {@code out}; closing it runs {@code close}. */
    public static Connection of(InputStream in, OutputStream out, Closeable close) {
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(close, "close");
        return new Connection() {
            @Override
            public InputStream input() {
                return in;
            }

            @Override
            public OutputStream output() {
                return out;
            }

            @Override
            public void close() throws IOException {
                close.close();
            }
        };
    }
}
