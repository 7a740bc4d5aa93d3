package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.config.VolatileIdmaps;
import io.github.incus4j.api.io.NativeFd;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.StorageType;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import org.apiguardian.api.API;

/**
 * {@link Container} methods a container driver (a subclass of {@link AbstractInstance}) can take as they are: the id
 * maps read from the volatile config keys Incus keeps them in ({@code volatile.idmap.current},
 * {@code volatile.last_state.idmap}, {@code volatile.idmap.next}), and the calls a driver may leave undone (seccomp
 * device injection, a {@code /dev/pts} file descriptor, idmapped mounts), refused as Incus refuses a driver's
 * unimplemented call. A driver overrides what it does itself.
 */
@API(status = EXPERIMENTAL)
public interface ContainerDefaults extends Container {
    @Override
    default Optional<IdmapSet> currentIdmap() {
        return VolatileIdmaps.current(localConfig());
    }

    @Override
    default Optional<IdmapSet> diskIdmap() {
        return VolatileIdmaps.disk(localConfig());
    }

    @Override
    default Optional<IdmapSet> nextIdmap() {
        return VolatileIdmaps.next(localConfig());
    }

    /**
     * Not done: creating the device node needs the intercepted process's mount namespace.
     *
     * @throws InvalidArgumentException {@code Invalid request PID specified} for a negative pid, as Incus checks first
     * @throws NotSupportedException {@code Not implemented} otherwise
     */
    @Override
    default void insertSeccompUnixDevice(String prefix, Device device, int pid) {
        if (pid < 0) {
            throw new InvalidArgumentException("Invalid request PID specified");
        }
        throw new NotSupportedException(NotSupportedException.NOT_IMPLEMENTED);
    }

    /**
     * Not done.
     *
     * @throws NotSupportedException {@code Not implemented}
     */
    @Override
    default NativeFd devptsFd() {
        throw new NotSupportedException(NotSupportedException.NOT_IMPLEMENTED);
    }

    /** {@link StorageType#NONE}: files are shifted by rewriting their ids, never by an idmapped mount. */
    @Override
    default StorageType idmappedStorage(Path path, String fstype) {
        Objects.requireNonNull(path, "path");
        return StorageType.NONE;
    }
}
