package io.github.incus4j.qemu;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.internal.image.ImageTar;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/**
 * Incus's unified VM image: {@code metadata.yaml}, {@code templates/<name>} and {@code rootfs.img} (the disk, qcow2
 * in Incus's exports). {@link io.github.incus4j.api.internal.image.ImageLayout#readUnified} hands over only {@code rootfs/} trees,
 * so the VM layout is read here with {@link ImageTar}.
 */
final class VmImage {
    static final String METADATA = "metadata.yaml";
    static final String ROOTFS_IMG = "rootfs.img";
    private static final String TEMPLATES = "templates/";

    /** What an unpacked image brought. */
    record Unpacked(ImageMetadata metadata, String fingerprint) {
    }

    private VmImage() {
    }

    /** Reads the whole tarball, refusing one without {@code metadata.yaml} or {@code rootfs.img}. */
    static void check(InputStream in) {
        read(in, null, null);
    }

    /**
     * Unpacks a tarball: the disk to {@code disk} (as it is in the image), the templates into {@code templates} (may
     * be null), and returns the metadata and the fingerprint (SHA-256 of the tarball's bytes, as Incus).
     */
    static Unpacked unpack(Path tarball, Path disk, Map<String, byte[]> templates) {
        try (DigestInputStream in = new DigestInputStream(Files.newInputStream(tarball), sha256())) {
            ImageMetadata md = read(in, disk, templates);
            in.transferTo(OutputStream.nullOutputStream()); // the fingerprint covers the padding after the archive
            return new Unpacked(md, HexFormat.of().formatHex(in.getMessageDigest().digest()));
        } catch (IOException e) {
            throw HostIo.failure("Cannot read the image " + tarball, e);
        }
    }

    private static ImageMetadata read(InputStream in, Path disk, Map<String, byte[]> templates) {
        ImageMetadata[] metadata = new ImageMetadata[1];
        boolean[] hasDisk = new boolean[1];
        ImageTar.read(in, (e, content) -> {
            String name = e.name();
            if (name.equals(METADATA) && e.kind() == ImageTar.Kind.FILE) {
                metadata[0] = RestJson.fromYaml(content.readAllBytes(), ImageMetadata.class);
            } else if (name.equals(ROOTFS_IMG) && e.kind() == ImageTar.Kind.FILE) {
                hasDisk[0] = true;
                if (disk != null) {
                    PrivateFiles.copy(content, disk);
                }
            } else if (name.startsWith(TEMPLATES) && e.kind() == ImageTar.Kind.FILE && templates != null) {
                String template = name.substring(TEMPLATES.length());
                if (!template.contains("/")) {
                    templates.put(template, content.readAllBytes());
                }
            }
        });
        if (metadata[0] == null) {
            throw new InvalidArgumentException("Missing metadata.yaml in image");
        }
        if (!hasDisk[0]) {
            throw new InvalidArgumentException("Missing rootfs.img in image: not a virtual-machine image");
        }
        return metadata[0];
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }
}
