package io.github.incus4j.api.spi;

import io.github.incus4j.api.io.Connection;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;

/** Two OS pipes as a connected pair of {@link Connection}s, for SFTP tests. */
final class Duplex {
    final Connection client;
    final Connection server;

    Duplex() throws IOException {
        Pipe up = Pipe.open();
        Pipe down = Pipe.open();
        client = conn(Channels.newInputStream(down.source()), Channels.newOutputStream(up.sink()));
        server = conn(Channels.newInputStream(up.source()), Channels.newOutputStream(down.sink()));
    }

    static Connection conn(InputStream in, OutputStream out) {
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
                try {
                    out.close();
                } finally {
                    in.close();
                }
            }
        };
    }
}
