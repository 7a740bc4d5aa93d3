package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * What a new instance's root filesystem is made from: nothing, an Incus image (unified: one file holding
 * {@code metadata.yaml} + {@code rootfs/} + {@code templates/}, as {@link Instance#export} writes; or split: a
 * metadata tarball plus a root filesystem file, the format of Incus's image servers), an existing root filesystem
 * directory, or a driver template such as liblxc's {@code busybox}.
 *
 * <p>Image files are recognised by their content, never by their names: tarballs uncompressed or compressed with
 * gzip, bzip2, lzma, xz or zstd, and squashfs images (which need squashfs-tools' {@code unsquashfs} on the host).
 * An incomplete image (no {@code metadata.yaml}, no root filesystem) is refused before anything is written.
 */
@API(status = EXPERIMENTAL)
public sealed interface InstanceSource {

    /** An empty root filesystem (or, for a migration target, the one {@link Instance#migrateReceive} brings). */
    static InstanceSource none() {
        return None.INSTANCE;
    }

    /**
     * A unified Incus image: a tarball (uncompressed, gzip, bzip2, lzma, xz or zstd) or a squashfs image holding
     * {@code metadata.yaml}, {@code templates/} and {@code rootfs/} (a VM's: {@code rootfs.img}).
     */
    static InstanceSource image(Path tarball) {
        return new ImageTarball(tarball);
    }

    /**
     * A split Incus image, as Incus's image servers publish them: {@code metadata} is the metadata tarball
     * ({@code metadata.yaml} and {@code templates/}, any compression), {@code rootfs} the root filesystem: a
     * tarball (any compression) or a squashfs image for a container, a qcow2 disk ({@code disk.qcow2}, the
     * {@code rootfs.img} of Incus's VM images) for a VM.
     */
    static InstanceSource image(Path metadata, Path rootfs) {
        return new SplitImage(metadata, rootfs);
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

    /** A unified image file on disk (a tarball or a squashfs image). */
    record ImageTarball(Path tarball) implements InstanceSource {
        public ImageTarball {
            Objects.requireNonNull(tarball, "tarball");
        }
    }

    /** A split image on disk: the metadata tarball and the root filesystem file. */
    record SplitImage(Path metadata, Path rootfs) implements InstanceSource {
        public SplitImage {
            Objects.requireNonNull(metadata, "metadata");
            Objects.requireNonNull(rootfs, "rootfs");
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
