package io.github.incus4j.api.model;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.time.Instant;

/**
 * A backup of an instance ({@code backup.InstanceBackup}, rendered as {@code api.InstanceBackup}). Names are
 * {@code <instance>/<backup>}.
 */
public record InstanceBackup(
        @JsonProperty("name") String name,
        @JsonProperty("created_at") Instant createdAt,
        @JsonProperty("expires_at") Instant expiresAt,
        @JsonProperty("instance_only") boolean instanceOnly,
        @JsonProperty("optimized_storage") boolean optimizedStorage) {
}
