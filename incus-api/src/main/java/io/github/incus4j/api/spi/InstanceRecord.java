package io.github.incus4j.api.spi;

import io.github.incus4j.api.internal.Immutable;
import io.github.incus4j.api.internal.store.BackupYaml;
import io.github.incus4j.api.model.InstanceArgs;
import java.util.List;
import java.util.Objects;

/**
 * The durable definition of one instance and its snapshots, what {@link BackupYaml} writes as {@code backup.yaml}.
 * Snapshots are {@link InstanceArgs} with {@code snapshot == true} and names {@code parent/snap}, oldest first.
 */
public record InstanceRecord(InstanceArgs instance, List<InstanceArgs> snapshots) {
    public InstanceRecord {
        Objects.requireNonNull(instance, "instance");
        snapshots = Immutable.list(snapshots);
    }
}
