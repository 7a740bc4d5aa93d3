package io.github.incus4j.api.migration;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/** Arguments of the sending side ({@code instance.MigrateSendArgs}: {@code MigrateArgs} embedded, by composition). */
@API(status = EXPERIMENTAL)
public record MigrateSendArgs(MigrateArgs common, boolean allowInconsistent) {
    public MigrateSendArgs {
        java.util.Objects.requireNonNull(common, "common");
    }
}
