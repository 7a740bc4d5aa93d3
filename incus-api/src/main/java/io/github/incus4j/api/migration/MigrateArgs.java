package io.github.incus4j.api.migration;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.io.Connection;
import java.time.Duration;
import org.apiguardian.api.API;

/**
 * What both ends of a migration share ({@code instance.MigrateArgs}). Go's function fields become functional
 * interfaces: {@code controlSend}/{@code controlReceive} exchange {@link MigrationMessage}s, {@code stateConn} and
 * {@code filesystemConn} open the data connections (bounded by a timeout, the Java form of the {@code context}).
 */
@API(status = EXPERIMENTAL)
public record MigrateArgs(
        ControlSend controlSend,
        ControlReceive controlReceive,
        ConnectionOpener stateConn,
        ConnectionOpener filesystemConn,
        boolean snapshots,
        boolean live,
        Runnable disconnect,
        String clusterMoveSourceName,
        String storagePool) {

    public MigrateArgs {
        disconnect = disconnect == null ? () -> { } : disconnect;
        clusterMoveSourceName = clusterMoveSourceName == null ? "" : clusterMoveSourceName;
        storagePool = storagePool == null ? "" : storagePool;
    }

    /** Sends one control message to the other side. */
    @FunctionalInterface
    public interface ControlSend {
        void send(MigrationMessage message);
    }

    /** Receives the next control message, waiting at most {@code timeout}. */
    @FunctionalInterface
    public interface ControlReceive {
        MigrationMessage receive(Duration timeout);
    }

    /** Opens a data connection, waiting at most {@code timeout}. */
    @FunctionalInterface
    public interface ConnectionOpener {
        Connection open(Duration timeout);
    }
}
