package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * What a new instance's root filesystem is made from: nothing, an Incus image tarball ({@code metadata.yaml} +
 * {@code rootfs/} + {@code templates/}, as {@link Instance#export} writes), an existing root filesystem directory,
 * or a driver template such as liblxc's {@code busybox}.
 */
@API(status = EXPERIMENTAL)
public sealed interface InstanceSource {

    /** An empty root filesystem (or, for a migration target, the one {@link Instance#migrateReceive} brings). */
    static InstanceSource none() {
        return None.INSTANCE;
    }

    /** A unified Incus image tarball (gzip-compressed or not). */
    static InstanceSource image(Path tarball) {
        return new ImageTarball(tarball);
    }

    /** A directory copied as the root filesystem. */
    static InstanceSource rootfs(Path directory) {
        return new RootfsDirectory(directory);
    }

    /** A driver-provided template, e.g. {@code busybox}, with template options. */
    static InstanceSource template(String name, Map<String, String> options) {
        return new Template(name, options);
    }

    /** No source. */
    enum None implements InstanceSource {
        INSTANCE
    }

    /** An image tarball on disk. */
    record ImageTarball(Path tarball) implements InstanceSource {
        public ImageTarball {
            Objects.requireNonNull(tarball, "tarball");
        }
    }

    /** A root filesystem directory on disk. */
    record RootfsDirectory(Path directory) implements InstanceSource {
        public RootfsDirectory {
            Objects.requireNonNull(directory, "directory");
        }
    }

    /** A driver template. */
    record Template(String name, Map<String, String> options) implements InstanceSource {
        public Template {
            Objects.requireNonNull(name, "name");
            options = options == null ? Map.of() : Map.copyOf(options);
        }
    }
}
