package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.testkit.fake.FakeMigration;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * Both ends of one migration: what the source's {@code migrateSend} and the target's {@code migrateReceive} get. The
 * two {@link MigrateArgs} must be connected to each other (control messages and data connections), e.g. in memory.
 *
 * @param sender the source's arguments
 * @param receiver the target's arguments
 * @param closer releases the pipe after the migration (may do nothing)
 */
@API(status = EXPERIMENTAL)
public record MigrationPipe(MigrateArgs sender, MigrateArgs receiver, AutoCloseable closer) {
    public MigrationPipe {
        Objects.requireNonNull(sender, "sender");
        Objects.requireNonNull(receiver, "receiver");
        closer = closer == null ? () -> { } : closer;
    }

    /**
     * Connected ends in this JVM, for drivers whose migration runs over {@link MigrateArgs}'s primitives only:
     * control messages through queues, the state and filesystem connections through bounded in-memory pipes (each
     * end gets its side of one shared connection per kind). Closing the pipe ends both connections.
     */
    public static MigrationPipe inMemory() {
        // The fake's wire only uses MigrateArgs' primitives, so it serves any driver.
        FakeMigration.Ends ends = FakeMigration.pipe(false, false);
        return new MigrationPipe(ends.source(), ends.target(), () -> ends.source().disconnect().run());
    }

    /** A pipe with nothing to release. */
    public static MigrationPipe of(MigrateArgs sender, MigrateArgs receiver) {
        return new MigrationPipe(sender, receiver, null);
    }
}
