package io.github.incus4j.api.internal.sftp;

import io.github.incus4j.api.io.Connection;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;

/** Two OS pipes as a connected pair of {@link Connection}s, for SFTP tests. */
final class Duplex {
    final Connection client;
    final Connection server;

    Duplex() throws IOException {
        Pipe up = Pipe.open();
        Pipe down = Pipe.open();
        client = Connection.of(Channels.newInputStream(down.source()), Channels.newOutputStream(up.sink()));
        server = Connection.of(Channels.newInputStream(up.source()), Channels.newOutputStream(down.sink()));
    }
}
