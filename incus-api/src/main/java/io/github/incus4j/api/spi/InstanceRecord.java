package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.internal.Immutable;
import io.github.incus4j.api.internal.store.BackupYaml;
import io.github.incus4j.api.model.InstanceArgs;
import java.util.List;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * The durable definition of one instance and its snapshots, what {@link BackupYaml} writes as {@code backup.yaml}.
 * Snapshots are {@link InstanceArgs} with {@code snapshot == true} and names {@code parent/snap}, oldest first.
 */
@API(status = EXPERIMENTAL)
public record InstanceRecord(InstanceArgs instance, List<InstanceArgs> snapshots) {
    public InstanceRecord {
        Objects.requireNonNull(instance, "instance");
        snapshots = Immutable.list(snapshots);
    }
}
