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
 * An instance as Incus's REST API shows it ({@code api.Instance}); Jackson writes Incus's JSON names
 * ({@code status_code}, {@code expanded_config}, {@code created_at}, {@code last_used_at}...).
 */
@JsonPropertyOrder({"architecture", "config", "devices", "ephemeral", "profiles", "stateful", "description",
    "created_at", "expanded_config", "expanded_devices", "name", "status", "status_code", "last_used_at", "location",
    "type", "project"})
@API(status = EXPERIMENTAL)
public record ApiInstance(
        @JsonProperty("architecture") String architecture,
        @JsonProperty("config") Map<String, String> config,
        @JsonProperty("devices") Devices devices,
        @JsonProperty("ephemeral") boolean ephemeral,
        @JsonProperty("profiles") List<String> profiles,
        @JsonProperty("stateful") boolean stateful,
        @JsonProperty("description") String description,
        @JsonProperty("created_at") Instant createdAt,
        @JsonProperty("expanded_config") @JsonInclude(JsonInclude.Include.NON_EMPTY) Map<String, String> expandedConfig,
        @JsonProperty("expanded_devices") @JsonInclude(JsonInclude.Include.NON_EMPTY) Devices expandedDevices,
        @JsonProperty("name") String name,
        @JsonProperty("status") String status,
        @JsonProperty("status_code") int statusCode,
        @JsonProperty("last_used_at") Instant lastUsedAt,
        @JsonProperty("location") String location,
        @JsonProperty("type") String type,
        @JsonProperty("project") String project) implements ApiRenderable {
    public ApiInstance {
        config = Immutable.sortedMap(config);
        expandedConfig = Immutable.sortedMap(expandedConfig);
        devices = devices == null ? Devices.EMPTY : devices;
        expandedDevices = expandedDevices == null ? Devices.EMPTY : expandedDevices;
        profiles = Immutable.list(profiles);
    }
}
