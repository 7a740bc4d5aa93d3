package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import io.github.incus4j.api.io.NativeFd;
import io.github.incus4j.api.model.ConsoleLogOptions;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.StorageType;
import java.nio.file.Path;
import java.util.Optional;
import org.apiguardian.api.API;

/** Container-specific operations ({@code instance.Container}). */
@API(status = STABLE)
public interface Container extends Instance {
    /** The id map in use ({@code volatile.idmap.current}, else the disk map); empty when privileged. */
    Optional<IdmapSet> currentIdmap();

    /** The map the files on disk are shifted with ({@code volatile.last_state.idmap}); empty for no shift. */
    Optional<IdmapSet> diskIdmap();

    /** The map the next start will use ({@code volatile.idmap.next}, else the current one). */
    Optional<IdmapSet> nextIdmap();

    /**
     * Reads (and optionally clears) the console ring buffer. As liblxc's (Incus reads a running container's log with
     * {@code ClearLog=false}), a read consumes what it returns: each read holds what was written since the previous
     * one, at most {@code readMax} bytes when that is above 0.
     */
    String consoleLog(ConsoleLogOptions options);

    /** Creates a device node for a seccomp-intercepted {@code mknod} of process {@code pid}. */
    void insertSeccompUnixDevice(String prefix, Device device, int pid);

    /** A file descriptor on the container's {@code /dev/pts}; close it when done. */
    NativeFd devptsFd();

    /** Whether files under {@code path} (of filesystem {@code fstype}) can be shifted by idmapped mounts. */
    StorageType idmappedStorage(Path path, String fstype);
}
