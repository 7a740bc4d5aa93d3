package io.github.incus4j.api.migration;

/** Arguments of the sending side ({@code instance.MigrateSendArgs}: {@code MigrateArgs} embedded, by composition). */
public record MigrateSendArgs(MigrateArgs common, boolean allowInconsistent) {
    public MigrateSendArgs {
        java.util.Objects.requireNonNull(common, "common");
    }
}
