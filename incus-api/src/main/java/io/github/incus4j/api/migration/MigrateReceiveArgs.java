package io.github.incus4j.api.migration;

import io.github.incus4j.api.operation.InstanceOperation;

/**
 * Arguments of the receiving side ({@code instance.MigrateReceiveArgs}). {@code instanceOperation} is the lock the
 * receiver already holds for the new instance, or {@code null}.
 */
public record MigrateReceiveArgs(MigrateArgs common, InstanceOperation instanceOperation, boolean refresh,
        boolean refreshExcludeOlder) {
    public MigrateReceiveArgs {
        java.util.Objects.requireNonNull(common, "common");
    }
}
