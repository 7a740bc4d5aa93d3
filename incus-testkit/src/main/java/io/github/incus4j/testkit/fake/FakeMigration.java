package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.migration.MigrationMessage;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.internal.migration.MigrationWire;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apiguardian.api.API;

/**
 * Wires two ends of a migration together in memory, for tests (and for moving instances between two drivers in one
 * JVM): control messages through bounded queues, the filesystem and state connections through bounded pipes; every
 * wait is bounded by the timeout given.
 *
 * <pre>{@code
 * Instance target = incus2.create(InstanceArgs.builder("c1").build(), InstanceSource.none());
 * FakeMigration.migrate(c1, target, true, true, Duration.ofSeconds(10));
 * }</pre>
 */
@API(status = EXPERIMENTAL)
public final class FakeMigration {
    private static final int PIPE_BUFFER = 256 * 1024;
    private static final int QUEUE_SIZE = 64;
    /** What the queues receive once the wire is disconnected, so that no side waits for nothing. */
    private static final MigrationMessage DISCONNECTED = MigrationMessage.control(false, "Migration disconnected");

    private FakeMigration() {
    }

    /** The {@link MigrateArgs} of both sides of one in-memory wire. */
    public record Ends(MigrateArgs source, MigrateArgs target) {
    }

    /** A wire whose waits last at most 30 seconds. */
    public static Ends pipe(boolean live, boolean snapshots) {
        return pipe(live, snapshots, Duration.ofSeconds(30));
    }

    /**
     * A wire whose waits (a full pipe, a missing message) last at most {@code timeout}. Pass {@link Ends#source()}
     * to {@code migrateSend} and {@link Ends#target()} to {@code migrateReceive}, in two threads.
     */
    public static Ends pipe(boolean live, boolean snapshots, Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        BlockingQueue<MigrationMessage> toTarget = new LinkedBlockingQueue<>(QUEUE_SIZE);
        BlockingQueue<MigrationMessage> toSource = new LinkedBlockingQueue<>(QUEUE_SIZE);
        Duplex fs = new Duplex(timeout);
        Duplex state = new Duplex(timeout);
        Runnable disconnect = () -> {
            toTarget.offer(DISCONNECTED);
            toSource.offer(DISCONNECTED);
            fs.close();
            state.close();
        };
        MigrateArgs source = new MigrateArgs(m -> send(toTarget, m, timeout), t -> receive(toSource, t, timeout),
                t -> state.a, t -> fs.a, snapshots, live, disconnect, null, null);
        MigrateArgs target = new MigrateArgs(m -> send(toSource, m, timeout), t -> receive(toTarget, t, timeout),
                t -> state.b, t -> fs.b, snapshots, live, disconnect, null, null);
        return new Ends(source, target);
    }

    /**
     * Migrates {@code source} into {@code target} (a new, stopped instance, typically created from
     * {@code InstanceSource.none()}): the receiver runs on one of the target driver's threads, the sender on the
     * caller's.
     *
     * @throws IncusException the failure of the side that failed first (the other side's failure is suppressed in it)
     */
    public static void migrate(Instance source, Instance target, boolean live, boolean snapshots, Duration timeout) {
        Ends ends = pipe(live, snapshots, timeout);
        CompletableFuture<Void> received = new CompletableFuture<>();
        Runnable receive = () -> {
            try {
                target.migrateReceive(new MigrateReceiveArgs(ends.target(), null, false, false));
                received.complete(null);
            } catch (Throwable t) {
                received.completeExceptionally(t);
            }
        };
        if (target instanceof FakeInstance f) {
            f.driver().execute(receive);
        } else {
            Thread receiver = new Thread(receive, "incus4j-fake-migration-receiver");
            receiver.setDaemon(true);
            receiver.start();
        }
        RuntimeException sendError = null;
        try {
            source.migrateSend(new MigrateSendArgs(ends.source(), false));
        } catch (RuntimeException e) {
            sendError = e;
            ends.source().disconnect().run();
        }
        try {
            received.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            RuntimeException cause = e.getCause() instanceof RuntimeException r ? r
                    : new IncusException("Migration receiver failed: " + e.getCause(), e.getCause());
            if (sendError == null) {
                throw cause;
            }
            RuntimeException first = sendError instanceof MigrationWire.PeerFailed ? cause : sendError;
            first.addSuppressed(first == cause ? sendError : cause);
            throw first;
        } catch (TimeoutException e) {
            ends.source().disconnect().run();
            throw new OperationTimeoutException("The migration receiver did not finish within " + timeout.toMillis()
                    + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while migrating " + source.name(), e);
        }
        if (sendError != null) {
            throw sendError;
        }
    }

    private static void send(BlockingQueue<MigrationMessage> q, MigrationMessage m, Duration timeout) {
        try {
            if (!q.offer(m, timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new OperationTimeoutException("The migration peer did not read its messages within "
                        + timeout.toMillis() + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while sending a migration message", e);
        }
    }

    private static MigrationMessage receive(BlockingQueue<MigrationMessage> q, Duration wanted, Duration bound) {
        Duration wait = wanted == null || wanted.compareTo(bound) > 0 ? bound : wanted;
        try {
            MigrationMessage m = q.poll(wait.toNanos(), TimeUnit.NANOSECONDS);
            if (m == null) {
                throw new OperationTimeoutException("No migration message within " + wait.toMillis() + " ms");
            }
            if (m == DISCONNECTED) {
                q.offer(DISCONNECTED);
            }
            return m;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while waiting for a migration message", e);
        }
    }

    /** Two pipes, one per direction, and the connection each end sees (also the fake's SFTP connections). */
    private static final class Duplex {
        private final BoundedPipe ab;
        private final BoundedPipe ba;
        final End a;
        final End b;

        Duplex(Duration timeout) {
            ab = new BoundedPipe(PIPE_BUFFER, timeout);
            ba = new BoundedPipe(PIPE_BUFFER, timeout);
            a = new End(ba, ab);
            b = new End(ab, ba);
        }

        void close() {
            a.close();
            b.close();
        }
    }

    private static final class End implements Connection {
        private final BoundedPipe in;
        private final BoundedPipe out;

        End(BoundedPipe in, BoundedPipe out) {
            this.in = in;
            this.out = out;
        }

        @Override
        public InputStream input() {
            return in.input();
        }

        @Override
        public OutputStream output() {
            return out.output();
        }

        @Override
        public void close() {
            out.closeOutput();
            try {
                in.input().close();
            } catch (java.io.IOException impossible) {
                throw new IllegalStateException(impossible);
            }
        }
    }
}
