package io.github.incus4j.qemu;

/**
 * Names in Incus's unified VM image: {@code metadata.yaml}, {@code templates/<name>} and {@code rootfs.img} (the
 * disk, qcow2 in Incus's exports). Images are read by {@link io.github.incus4j.api.internal.image.ImageSources}.
 */
final class VmImage {
    static final String ROOTFS_IMG = "rootfs.img";

    private VmImage() {
    }
}
