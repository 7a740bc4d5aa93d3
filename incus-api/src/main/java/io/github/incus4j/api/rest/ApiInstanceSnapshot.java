package io.github.incus4j.api.rest;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import io.github.incus4j.api.internal.Immutable;
import io.github.incus4j.api.model.Devices;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * A snapshot as Incus's REST API shows it ({@code api.InstanceSnapshot}): {@code name} is the short name (after
 * {@code /}); {@code size} is -1 when unknown; {@code expires_at} is Go's zero time when the snapshot never expires.
 */
@JsonPropertyOrder({"expires_at", "architecture", "config", "created_at", "description", "devices", "ephemeral",
    "expanded_config", "expanded_devices", "last_used_at", "name", "profiles", "stateful", "size"})
@API(status = EXPERIMENTAL)
public record ApiInstanceSnapshot(
        @JsonProperty("expires_at") Instant expiresAt,
        @JsonProperty("architecture") String architecture,
        @JsonProperty("config") Map<String, String> config,
        @JsonProperty("created_at") Instant createdAt,
        @JsonProperty("description") String description,
        @JsonProperty("devices") Devices devices,
        @JsonProperty("ephemeral") boolean ephemeral,
        @JsonProperty("expanded_config") @JsonInclude(JsonInclude.Include.NON_EMPTY) Map<String, String> expandedConfig,
        @JsonProperty("expanded_devices") @JsonInclude(JsonInclude.Include.NON_EMPTY) Devices expandedDevices,
        @JsonProperty("last_used_at") Instant lastUsedAt,
        @JsonProperty("name") String name,
        @JsonProperty("profiles") List<String> profiles,
        @JsonProperty("stateful") boolean stateful,
        @JsonProperty("size") long size) implements ApiRenderable {
    public ApiInstanceSnapshot {
        config = Immutable.sortedMap(config);
        expandedConfig = Immutable.sortedMap(expandedConfig);
        devices = devices == null ? Devices.EMPTY : devices;
        expandedDevices = expandedDevices == null ? Devices.EMPTY : expandedDevices;
        profiles = Immutable.list(profiles);
    }
}
