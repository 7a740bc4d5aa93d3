package io.github.incus4j.api.migration;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.operation.InstanceOperation;
import org.apiguardian.api.API;

/**
 * Arguments of the receiving side ({@code instance.MigrateReceiveArgs}). {@code instanceOperation} is the lock the
 * receiver already holds for the new instance, or {@code null}.
 */
@API(status = EXPERIMENTAL)
public record MigrateReceiveArgs(MigrateArgs common, InstanceOperation instanceOperation, boolean refresh,
        boolean refreshExcludeOlder) {
    public MigrateReceiveArgs {
        java.util.Objects.requireNonNull(common, "common");
    }
}
