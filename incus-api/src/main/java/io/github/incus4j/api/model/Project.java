package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.STABLE;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.github.incus4j.api.internal.Immutable;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * An Incus project ({@code api.Project}). Instance names on disk are {@code <project>_<name>}, except in
 * {@value #DEFAULT_NAME}.
 */
@API(status = STABLE)
public record Project(
        @JsonProperty("name") String name,
        @JsonProperty("description") String description,
        @JsonProperty("config") Map<String, String> config,
        @JsonProperty("used_by") List<String> usedBy) {
    /** {@code api.ProjectDefaultName}. */
    public static final String DEFAULT_NAME = "default";
    /** The default project. */
    public static final Project DEFAULT = named(DEFAULT_NAME);

    public Project {
        name = name == null || name.isEmpty() ? DEFAULT_NAME : name;
        description = description == null ? "" : description;
        config = Immutable.sortedMap(config);
        usedBy = Immutable.list(usedBy);
    }

    /** A project with only a name. */
    public static Project named(String name) {
        return new Project(name, "", Map.of(), List.of());
    }

    /**
     * Incus's {@code project.Instance(project, name)}: the name used for paths and locks, {@code name} in the default
     * project and {@code project_name} elsewhere.
     */
    public String instanceStorageName(String instanceName) {
        return storageName(name, instanceName);
    }

    /** {@link #instanceStorageName(String)} without a {@code Project} at hand. */
    public static String storageName(String project, String instanceName) {
        return DEFAULT_NAME.equals(project) ? instanceName : project + "_" + instanceName;
    }
}
