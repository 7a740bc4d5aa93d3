package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.STABLE;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.github.incus4j.api.internal.Immutable;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * A profile ({@code api.Profile}): config and devices applied to an instance before its own. Incus expands an
 * instance's config as the profiles in order, then the instance's local config on top.
 */
@API(status = STABLE)
public record Profile(
        @JsonProperty("name") String name,
        @JsonProperty("description") String description,
        @JsonProperty("config") Map<String, String> config,
        @JsonProperty("devices") Devices devices,
        @JsonProperty("project") String project,
        @JsonProperty("used_by") List<String> usedBy) {
    public Profile {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("Profile name is required");
        }
        description = description == null ? "" : description;
        config = Immutable.sortedMap(config);
        devices = devices == null ? Devices.EMPTY : devices;
        project = project == null || project.isEmpty() ? Project.DEFAULT_NAME : project;
        usedBy = Immutable.list(usedBy);
    }

    /** A profile with config and devices in the default project. */
    public static Profile of(String name, Map<String, String> config, Devices devices) {
        return new Profile(name, "", config, devices, Project.DEFAULT_NAME, List.of());
    }
}
