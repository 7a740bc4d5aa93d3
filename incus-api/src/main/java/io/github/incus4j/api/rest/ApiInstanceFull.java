package io.github.incus4j.api.rest;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import io.github.incus4j.api.internal.Immutable;
import io.github.incus4j.api.model.InstanceBackup;
import java.util.List;
import org.apiguardian.api.API;

/**
 * An instance with its state, snapshots and backups ({@code api.InstanceFull}); the instance's fields are written
 * inline, as Go's embedding does.
 */
@API(status = EXPERIMENTAL)
public record ApiInstanceFull(
        @JsonUnwrapped ApiInstance instance,
        @JsonProperty("backups") List<InstanceBackup> backups,
        @JsonProperty("state") ApiInstanceState state,
        @JsonProperty("snapshots") List<ApiInstanceSnapshot> snapshots) {
    public ApiInstanceFull {
        backups = Immutable.list(backups);
        snapshots = Immutable.list(snapshots);
    }
}
