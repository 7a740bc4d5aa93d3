package io.github.incus4j.api.io;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * A full-duplex byte stream, the Java form of Go's {@code net.Conn} / {@code io.ReadWriteCloser}: the SFTP
 * connection of {@code FileSFTPConn}, migration state and filesystem connections. Closing it closes both directions.
 */
public interface Connection extends Closeable {
    /** Bytes from the peer. */
    InputStream input();

    /** Bytes to the peer; {@link OutputStream#close()} half-closes where the transport allows. */
    OutputStream output();

    @Override
    void close() throws IOException;
}
