package io.github.incus4j.api.internal.image;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.rest.RestJson;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * Incus's image layout on top of {@link ImageTar}, shared by every driver's {@code Export} and by creation from an
 * image.
 *
 * <ul>
 *   <li><b>Unified</b>: one tarball holding {@code metadata.yaml}, {@code templates/<name>} and {@code rootfs/...}
 *   (a VM's {@code rootfs.img} instead of {@code rootfs/}).</li>
 *   <li><b>Split</b>: a metadata tarball ({@code metadata.yaml} and {@code templates/}) and a rootfs tarball whose
 *   names are relative to the root filesystem; its root directory is written as {@code ./}, as
 *   {@code tar -C rootfs -cf - .} does, so that the root's mode and owner survive.</li>
 * </ul>
 *
 * <p>Entries are written in that order: metadata, then templates, then the root filesystem, so that a streaming
 * reader knows the templates before it unpacks anything. Nothing here closes the caller's streams. Images on disk in
 * every format (squashfs too) are read through {@link ImageSources}.
 */
@API(status = INTERNAL)
public final class ImageLayout {
    private static final String METADATA = "metadata.yaml";
    private static final String TEMPLATES = "templates/";
    private static final String ROOTFS = "rootfs/";

    private ImageLayout() {
    }

    /** Writes the root filesystem's entries, each named {@code prefix} + its path relative to the rootfs. */
    @FunctionalInterface
    public interface RootfsWriter {
        /**
         * @param prefix {@code "rootfs/"} (unified) or {@code ""} (split); the root directory itself is the entry
         *     named {@code prefix} (written {@code rootfs/} or {@code ./}). A VM driver ignores the prefix and adds
         *     its single {@code rootfs.img} file (unified) or writes no tar at all (split).
         */
        void write(ImageTar.Writer out, String prefix) throws IOException;
    }

    /**
     * The {@code metadata.yaml} of an export, as Incus's {@code Export} builds it: {@code existing} (the source
     * image's, may be null) with {@code architecture} (its name, e.g. {@code x86_64}; the existing one when null or
     * empty), {@code creation_date} = now, {@code expiry_date} = {@code expiration} (0 when null),
     * {@code properties} = existing ones overridden by the caller's, {@code templates} kept.
     */
    public static ImageMetadata exportMetadata(ImageMetadata existing, String architecture,
            Map<String, String> properties, Instant expiration, Clock clock) {
        Map<String, String> merged = new TreeMap<>();
        if (existing != null) {
            merged.putAll(existing.properties());
        }
        if (properties != null) {
            merged.putAll(properties);
        }
        String arch = architecture != null && !architecture.isEmpty() ? architecture
                : existing != null ? existing.architecture() : "";
        return new ImageMetadata(arch, clock.instant().getEpochSecond(),
                expiration == null ? 0 : expiration.getEpochSecond(), merged,
                existing == null ? Map.of() : existing.templates());
    }

    /**
     * Writes a unified image tarball to {@code out} (uncompressed; the caller may compress it through
     * {@link ImageTar#compressing}): {@code metadata.yaml}, {@code templates/<name>} for each template file, then whatever
     * {@code rootfs} adds with the prefix {@code "rootfs/"}. {@code tracker} (may be null) counts the bytes written.
     * Bad template file names are refused before anything is written.
     */
    public static void writeUnified(OutputStream out, ImageMetadata metadata, Map<String, byte[]> templateFiles,
            RootfsWriter rootfs, ProgressTracker tracker) {
        checkTemplateNames(templateFiles);
        ImageTar.Writer tar = ImageTar.writer(tracked(out, tracker));
        writeMetadata(tar, metadata, templateFiles);
        writeRootfs(tar, rootfs, ROOTFS);
        tar.finish();
    }

    /**
     * Writes a split image: the metadata tarball ({@code metadata.yaml} and {@code templates/}) to {@code meta}, the
     * rootfs tarball (names relative to the rootfs, the root directory as {@code ./}) to {@code rootfs}.
     * {@code tracker} (may be null) counts the bytes of the rootfs tarball, which is nearly all of an image.
     */
    public static void writeSplit(OutputStream meta, OutputStream rootfs, ImageMetadata metadata,
            Map<String, byte[]> templateFiles, RootfsWriter rootfsWriter, ProgressTracker tracker) {
        checkTemplateNames(templateFiles);
        if (rootfs == null) {
            throw new InvalidArgumentException("No output stream for the rootfs of a split image");
        }
        ImageTar.Writer metaTar = ImageTar.writer(meta);
        writeMetadata(metaTar, metadata, templateFiles);
        metaTar.finish();
        ImageTar.Writer rootfsTar = ImageTar.writer(tracked(rootfs, tracker));
        writeRootfs(rootfsTar, rootfsWriter, "");
        rootfsTar.finish();
    }

    /**
     * Reads a unified image tarball (uncompressed or in any compression {@link ImageTar#read} detects): returns its {@code metadata.yaml} ("Missing
     * metadata.yaml in image" when absent), puts each {@code templates/<name>} file's bytes in
     * {@code templateFiles} (may be null), and hands every entry under {@code rootfs/} to {@code rootfsVisitor}
     * (may be null) with that prefix removed from its name and from hard link targets; the {@code rootfs}
     * directory itself is not handed over. Other entries ({@code config.json}, a VM's {@code rootfs.img}) are skipped.
     */
    public static ImageMetadata readUnified(InputStream in, Map<String, byte[]> templateFiles,
            ImageTar.Visitor rootfsVisitor) {
        ImageMetadata[] metadata = new ImageMetadata[1];
        ImageTar.read(in, (e, content) -> {
            String name = e.name();
            if (name.equals(METADATA) && e.kind() == ImageTar.Kind.FILE) {
                metadata[0] = RestJson.fromYaml(content.readAllBytes(), ImageMetadata.class);
            } else if (name.startsWith(TEMPLATES) && e.kind() == ImageTar.Kind.FILE) {
                String template = name.substring(TEMPLATES.length());
                if (templateFiles != null && !template.contains("/")) {
                    templateFiles.put(template, content.readAllBytes());
                }
            } else if (name.startsWith(ROOTFS) && rootfsVisitor != null) {
                rootfsVisitor.entry(underRootfs(e), content);
            }
        });
        if (metadata[0] == null) {
            throw new InvalidArgumentException("Missing metadata.yaml in image");
        }
        return metadata[0];
    }

    /**
     * {@code e}, an entry under {@code rootfs/} of a unified image, named relative to the root filesystem, and so its
     * hard link target, which must stay under {@code rootfs/}.
     */
    static ImageTar.Entry underRootfs(ImageTar.Entry e) {
        String link = e.linkTarget();
        if (e.kind() == ImageTar.Kind.HARDLINK) {
            if (!link.startsWith(ROOTFS)) {
                throw new InvalidArgumentException(
                        "Invalid image: hard link " + e.name() + " points outside rootfs to " + link);
            }
            link = link.substring(ROOTFS.length());
        }
        return new ImageTar.Entry(e.name().substring(ROOTFS.length()), e.kind(), e.mode(), e.uid(), e.gid(),
                e.modified(), e.size(), link);
    }

    /** The hex SHA-256 of {@code tarball}: Incus's fingerprint of a unified image file. */
    public static String fingerprint(byte[] tarball) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(tarball));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }

    private static OutputStream tracked(OutputStream out, ProgressTracker tracker) {
        if (out == null) {
            throw new InvalidArgumentException("No output stream for the image");
        }
        return tracker == null ? out : tracker.wrap(out);
    }

    private static void checkTemplateNames(Map<String, byte[]> templateFiles) {
        if (templateFiles == null) {
            return;
        }
        for (String name : templateFiles.keySet()) {
            if (name == null || name.isEmpty() || name.contains("/") || name.contains("..")) {
                throw new InvalidArgumentException("Invalid template file name \"" + name
                        + "\": it must be a plain file name inside templates/");
            }
        }
    }

    private static void writeMetadata(ImageTar.Writer tar, ImageMetadata metadata, Map<String, byte[]> templateFiles) {
        if (metadata == null) {
            throw new InvalidArgumentException("Missing metadata.yaml for the image");
        }
        tar.addFile(METADATA, RestJson.toYaml(metadata), 0644);
        if (templateFiles != null && !templateFiles.isEmpty()) {
            tar.addDirectory("templates", 0755);
            for (Map.Entry<String, byte[]> t : new TreeMap<>(templateFiles).entrySet()) {
                tar.addFile(TEMPLATES + t.getKey(), t.getValue(), 0644);
            }
        }
    }

    private static void writeRootfs(ImageTar.Writer tar, RootfsWriter rootfs, String prefix) {
        if (rootfs == null) {
            return;
        }
        try {
            rootfs.write(tar, prefix);
        } catch (IOException e) {
            throw new IncusException("Failed to write the image's root filesystem: " + e.getMessage(), e);
        }
    }
}
