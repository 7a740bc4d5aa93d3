package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;
import org.apiguardian.api.API;

/**
 * A backup of an instance ({@code backup.InstanceBackup}, rendered as {@code api.InstanceBackup}). Names are
 * {@code <instance>/<backup>}.
 */
@API(status = EXPERIMENTAL)
public record InstanceBackup(
        @JsonProperty("name") String name,
        @JsonProperty("created_at") Instant createdAt,
        @JsonProperty("expires_at") Instant expiresAt,
        @JsonProperty("instance_only") boolean instanceOnly,
        @JsonProperty("optimized_storage") boolean optimizedStorage) {
}
