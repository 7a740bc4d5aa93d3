package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Project;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.apiguardian.api.API;

/**
 * A driver opened on a root directory: where instances are created, found again after a restart, listed and
 * deleted. Owns the driver's background threads; close it when done (instances keep running, as with Incus).
 * Obtain one from {@link InstanceDrivers#open}.
 */
@API(status = STABLE)
public interface Instances extends AutoCloseable {
    /** The driver's description. */
    Info info();

    /** The root directory holding the instances' records, root filesystems, logs and run files. */
    Path root();

    /**
     * Creates an instance. The name and config are validated first: a rejected request leaves nothing on disk.
     *
     * @throws InvalidArgumentException bad name, key or value
     * @throws BusyException an instance of that name exists ({@code Instance "<name>" already exists})
     */
    Instance create(InstanceArgs args, InstanceSource source);

    /** The instance {@code name} in {@code project}, or empty. Snapshot names ({@code parent/snap}) are accepted. */
    Optional<Instance> find(String project, String name);

    /** The instance {@code name} of the default project. */
    default Instance load(String name) {
        return load(Project.DEFAULT_NAME, name);
    }

    /** The instance {@code name} in {@code project}; {@link NotFoundException} {@code Instance not found} if none. */
    default Instance load(String project, String name) {
        return find(project, name).orElseThrow(() -> new NotFoundException("Instance not found"));
    }

    /** Every instance (not snapshots), all projects, sorted by project then name. */
    List<Instance> list();

    /** Deletes the instance {@code name} of {@code project}: {@link Instance#delete(boolean)}. */
    default void delete(String project, String name, boolean force) {
        load(project, name).delete(force);
    }

    /** Stops the driver's threads and releases its resources; running instances are left running. */
    @Override
    void close();
}
