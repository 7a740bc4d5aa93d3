package io.github.incus4j.api.io;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.internal.io.Connections;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import org.apiguardian.api.API;

/**
 * A full-duplex byte stream, the Java form of Go's {@code net.Conn} / {@code io.ReadWriteCloser}: the SFTP
 * connection of {@code FileSFTPConn}, migration state and filesystem connections. Closing it closes both directions.
 */
@API(status = EXPERIMENTAL)
public interface Connection extends Closeable {
    /** A connection over two streams; closing it closes the output, then the input. */
    static Connection of(InputStream in, OutputStream out) {
        java.util.Objects.requireNonNull(in, "in");
        java.util.Objects.requireNonNull(out, "out");
        return Connections.of(in, out, () -> {
            try {
                out.close();
            } finally {
                in.close();
            }
        });
    }

    /** Bytes from the peer. */
    InputStream input();

    /** Bytes to the peer; {@link OutputStream#close()} half-closes where the transport allows. */
    OutputStream output();

    @Override
    void close() throws IOException;
}
