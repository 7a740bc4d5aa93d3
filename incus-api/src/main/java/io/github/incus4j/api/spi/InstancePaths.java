package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InstanceType;
import java.nio.file.Path;
import org.apiguardian.api.API;

/**
 * Incus's on-disk layout under a driver root (Incus uses {@code /var/lib/incus}, {@code /var/log/incus},
 * {@code /run/incus}; incus4j keeps all three under one root so that a driver is self-contained):
 * <pre>
 * root/containers/&lt;full&gt;                        Path()          (virtual-machines/ for VMs)
 * root/containers-snapshots/&lt;full&gt;/&lt;snap&gt;      Path() of a snapshot
 * root/logs/&lt;full&gt;                              LogPath()
 * root/run/&lt;full&gt;                               RunPath()
 * root/devices/&lt;full&gt;                           DevicesPath()
 * </pre>
 * where {@code <full>} is {@code name} in the default project and {@code project_name} elsewhere.
 */
@API(status = EXPERIMENTAL)
public record InstancePaths(Path root) {

    /** The directory of instances of a type ({@code containers} / {@code virtual-machines}). */
    public Path instancesDir(InstanceType type) {
        return root.resolve(type == InstanceType.VM ? "virtual-machines" : "containers");
    }

    /** The directory of snapshots of a type. */
    public Path snapshotsDir(InstanceType type) {
        return root.resolve(type == InstanceType.VM ? "virtual-machines-snapshots" : "containers-snapshots");
    }

    /** {@code Path()}: {@code fullName} is the storage name; for a snapshot, {@code parent/snap}. */
    public Path path(InstanceType type, String fullName) {
        int slash = fullName.indexOf('/');
        if (slash >= 0) {
            return snapshotsDir(type).resolve(fullName.substring(0, slash)).resolve(fullName.substring(slash + 1));
        }
        return instancesDir(type).resolve(fullName);
    }

    /** {@code LogPath()}. */
    public Path logPath(String fullName) {
        return root.resolve("logs").resolve(fullName);
    }

    /** {@code RunPath()}. */
    public Path runPath(String fullName) {
        return root.resolve("run").resolve(fullName);
    }

    /** {@code DevicesPath()}. */
    public Path devicesPath(String fullName) {
        return root.resolve("devices").resolve(fullName);
    }

    /** {@code Path()/backup.yaml}, the durable record of an instance. */
    public Path recordFile(InstanceType type, String fullName) {
        return path(type, fullName).resolve("backup.yaml");
    }
}
