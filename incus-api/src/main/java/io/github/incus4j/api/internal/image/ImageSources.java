package io.github.incus4j.api.internal.image;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.spi.AbstractInstances;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * Instances from Incus images on disk, written once for every driver: unified images (one tarball in any
 * compression, or one squashfs image) and split images (a metadata tarball plus a root filesystem tarball or squashfs
 * image, or for a VM a qcow2 disk). Formats are told by magic bytes, never by file names.
 *
 * <p>{@link #check} reads an image without writing anything, so that an incomplete or corrupt one is refused before
 * the instance exists; {@link #unpackRootfs} and {@link #unpackDisk} then hand its content to the driver. A driver
 * that removes what it wrote when unpacking fails may call {@link #checkBeforeUnpack} instead, and have
 * {@link #unpackRootfs}, which validates as it reads, decompress the image only once. Squashfs images go through
 * squashfs-tools ({@link Squashfs}).
 */
@API(status = INTERNAL)
public final class ImageSources {
    private static final String METADATA = "metadata.yaml";
    private static final String TEMPLATES = "templates/";
    private static final String ROOTFS = "rootfs";
    private static final String ROOTFS_IMG = "rootfs.img";

    private ImageSources() {
    }

    /** What an image brought besides its root filesystem. */
    public record Image(ImageMetadata metadata, Map<String, byte[]> templates, String fingerprint) {
        public Image {
            templates = Map.copyOf(templates);
        }
    }

    /** Receives a VM image's disk (qcow2, as it is in the image). */
    @FunctionalInterface
    public interface DiskSink {
        void write(InputStream disk) throws IOException;
    }

    /** Whether {@code source} is an image file (unified or split), the sources this class handles. */
    public static boolean isImage(InstanceSource source) {
        return source instanceof InstanceSource.ImageTarball || source instanceof InstanceSource.SplitImage;
    }

    /**
     * Refuses, writing nothing, an image an instance cannot be created from: {@link NotFoundException} for a missing
     * file, {@link InvalidArgumentException} naming the file for a corrupt or incomplete one (no
     * {@code metadata.yaml}, no root filesystem: {@code rootfs/} of a container image, {@code rootfs.img} of a VM
     * image ({@code disk} true), an empty root filesystem file of a split image). Does
     * nothing for other sources.
     */
    public static void check(boolean disk, InstanceSource source) {
        check(disk, source, true);
    }

    /**
     * What {@link #check} refuses of a container image without decompressing a tarball: a missing file, a bad
     * metadata file of a split image, a bad squashfs image (listed, not unpacked). A tarball (the unified image, or
     * the root filesystem of a split one) is read once, by {@link #unpackRootfs}, which refuses it as {@code check}
     * would, but after part of it was written: the caller removes what it wrote when that throws.
     */
    public static void checkBeforeUnpack(InstanceSource source) {
        check(false, source, false);
    }

    private static void check(boolean vm, InstanceSource source, boolean tarballs) {
        if (source instanceof InstanceSource.ImageTarball i) {
            Path file = existing(i.tarball(), "Image tarball");
            guarded(file, () -> {
                if (Squashfs.isSquashfs(file)) {
                    listSquashfs(file).requireComplete(vm);
                } else if (tarballs) {
                    scanTar(file, null, null, null).requireComplete(vm);
                }
            });
        } else if (source instanceof InstanceSource.SplitImage s) {
            Path meta = existing(s.metadata(), "Image metadata file");
            Path rootfs = existing(s.rootfs(), "Image root filesystem file");
            guarded(meta, () -> readMetadataTarball(meta, null));
            guarded(rootfs, () -> {
                if (vm) {
                    requireDisk(rootfs);
                } else if (Squashfs.isSquashfs(rootfs)) {
                    if (Squashfs.list(rootfs).isEmpty()) {
                        throw new InvalidArgumentException("The root filesystem squashfs image is empty");
                    }
                } else if (tarballs) {
                    readRootfsTar(rootfs, null, (e, content) -> {
                    });
                }
            });
        }
    }

    /**
     * Unpacks a container image: every entry of its root filesystem goes to {@code rootfs} with names relative to
     * the root filesystem (the root directory itself is not handed over); a squashfs image is unpacked into a
     * temporary directory under {@code scratch} first (null: the system's temporary directory), removed afterwards.
     * Each file is read once: a tarball is validated as it is unpacked, and refused as {@link #check} refuses it,
     * but only after part of it reached the visitor. Call {@link #check} first, or {@link #checkBeforeUnpack} and
     * remove what the visitor wrote when this throws.
     */
    public static Image unpackRootfs(InstanceSource source, ImageTar.Visitor rootfs, Path scratch) {
        if (source instanceof InstanceSource.ImageTarball i) {
            Path file = i.tarball();
            return guarded(file, () -> {
                if (Squashfs.isSquashfs(file)) {
                    return withScratch(scratch, dir -> {
                        Path all = dir.resolve("image");
                        Squashfs.unpack(file, null, all);
                        Image md = unpackedMetadata(all, sha256(file));
                        walk(all.resolve(ROOTFS), rootfs);
                        return md;
                    });
                }
                Map<String, byte[]> templates = new TreeMap<>();
                MessageDigest digest = sha256();
                Content c;
                try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
                    c = scanTar(in, templates, null, rootfs);
                    in.transferTo(OutputStream.nullOutputStream()); // the fingerprint covers all of the file
                }
                c.requireComplete(false);
                return new Image(c.metadata, templates, HexFormat.of().formatHex(digest.digest()));
            });
        }
        InstanceSource.SplitImage s = split(source);
        Map<String, byte[]> templates = new TreeMap<>();
        ImageMetadata md = guarded(s.metadata(), () -> readMetadataTarball(s.metadata(), templates));
        String fingerprint = guarded(s.rootfs(), () -> {
            if (Squashfs.isSquashfs(s.rootfs())) {
                return withScratch(scratch, dir -> {
                    Path all = dir.resolve(ROOTFS);
                    Squashfs.unpack(s.rootfs(), null, all);
                    walk(all, rootfs);
                    return sha256(s.metadata(), s.rootfs());
                });
            }
            // The fingerprint is taken as the root filesystem is read: the metadata file's bytes, then these.
            MessageDigest digest = digest(sha256(), s.metadata());
            readRootfsTar(s.rootfs(), digest, (e, content) -> {
                if (!e.name().isEmpty()) {
                    rootfs.entry(e, content);
                }
            });
            return HexFormat.of().formatHex(digest.digest());
        });
        return new Image(md, templates, fingerprint);
    }

    /**
     * Unpacks a VM image: its disk ({@code rootfs.img} of a unified image, the root filesystem file of a split one)
     * goes to {@code disk}. Call {@link #check} first.
     */
    public static Image unpackDisk(InstanceSource source, DiskSink disk, Path scratch) {
        if (source instanceof InstanceSource.ImageTarball i) {
            Path file = i.tarball();
            return guarded(file, () -> {
                if (Squashfs.isSquashfs(file)) {
                    return withScratch(scratch, dir -> {
                        Path all = dir.resolve("image");
                        Squashfs.unpack(file, null, all);
                        Image md = unpackedMetadata(all, sha256(file));
                        try (InputStream in = Files.newInputStream(all.resolve(ROOTFS_IMG),
                                LinkOption.NOFOLLOW_LINKS)) {
                            disk.write(in);
                        }
                        return md;
                    });
                }
                Map<String, byte[]> templates = new TreeMap<>();
                MessageDigest digest = sha256();
                Content c;
                try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
                    c = scanTar(in, templates, disk, null);
                    in.transferTo(OutputStream.nullOutputStream());
                }
                c.requireComplete(true);
                return new Image(c.metadata, templates, HexFormat.of().formatHex(digest.digest()));
            });
        }
        InstanceSource.SplitImage s = split(source);
        Map<String, byte[]> templates = new TreeMap<>();
        ImageMetadata md = guarded(s.metadata(), () -> readMetadataTarball(s.metadata(), templates));
        guarded(s.rootfs(), () -> {
            requireDisk(s.rootfs());
            try (InputStream in = Files.newInputStream(s.rootfs())) {
                disk.write(in);
            }
        });
        return new Image(md, templates, sha256(s.metadata(), s.rootfs()));
    }

    // ---- Reading ------------------------------------------------------------------------------------------------

    /** What a unified image holds, as far as completeness goes. */
    private static final class Content {
        ImageMetadata metadata;
        boolean rootfs;
        boolean disk;

        void requireComplete(boolean vm) {
            if (metadata == null) {
                throw new InvalidArgumentException("Missing metadata.yaml in image");
            }
            if (vm && !disk) {
                throw new InvalidArgumentException("Missing rootfs.img in image: not a virtual-machine image");
            }
            if (!vm && !rootfs) {
                throw new InvalidArgumentException(disk
                        ? "Missing rootfs/ in image: it is a virtual-machine image (it holds rootfs.img)"
                        : "Missing rootfs/ in image: it holds only metadata, no root filesystem");
            }
        }
    }

    private static Content scanTar(Path file, Map<String, byte[]> templates, DiskSink disk,
            ImageTar.Visitor unused) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return scanTar(in, templates, disk, null);
        }
    }

    /**
     * One pass over a unified tarball: metadata, templates (when wanted), whether it has a rootfs or a disk; the
     * disk goes to {@code disk}, the root filesystem's entries (but its root) to {@code rootfs}, when not null.
     */
    private static Content scanTar(InputStream in, Map<String, byte[]> templates, DiskSink disk,
            ImageTar.Visitor rootfs) {
        Content c = new Content();
        ImageTar.read(in, (e, content) -> {
            String name = e.name();
            if (name.equals(METADATA) && e.kind() == ImageTar.Kind.FILE) {
                c.metadata = parseMetadata(content.readAllBytes());
            } else if (name.startsWith(TEMPLATES) && e.kind() == ImageTar.Kind.FILE) {
                String template = name.substring(TEMPLATES.length());
                if (templates != null && !template.contains("/")) {
                    templates.put(template, content.readAllBytes());
                }
            } else if (name.equals(ROOTFS) || name.startsWith(ROOTFS + "/")) {
                c.rootfs = true;
                if (rootfs != null && !name.equals(ROOTFS)) {
                    rootfs.entry(ImageLayout.underRootfs(e), content);
                }
            } else if (name.equals(ROOTFS_IMG) && e.kind() == ImageTar.Kind.FILE) {
                c.disk = true;
                if (disk != null) {
                    disk.write(content);
                }
            }
        });
        return c;
    }

    private static Content listSquashfs(Path file) {
        Content c = new Content();
        List<String> names = Squashfs.list(file);
        for (String name : names) {
            if (name.equals(ROOTFS) || name.startsWith(ROOTFS + "/")) {
                c.rootfs = true;
            } else if (name.equals(ROOTFS_IMG)) {
                c.disk = true;
            }
        }
        if (names.contains(METADATA)) {
            c.metadata = parseMetadata(Squashfs.read(file, METADATA));
        }
        return c;
    }

    /**
     * The metadata file of a split image (a tarball, or a squashfs image as {@code incus publish --compression
     * squashfs} writes it, which Incus reads too): its {@code metadata.yaml}, and its templates into
     * {@code templates} (null: not wanted).
     */
    private static ImageMetadata readMetadataTarball(Path file, Map<String, byte[]> templates) throws IOException {
        if (Squashfs.isSquashfs(file)) {
            if (templates == null) {
                Content c = listSquashfs(file);
                if (c.metadata == null) {
                    throw new InvalidArgumentException("Missing metadata.yaml in the image's metadata file");
                }
                return c.metadata;
            }
            return withScratch(null, dir -> {
                Path all = dir.resolve("metadata");
                Squashfs.unpack(file, null, all);
                Image md = unpackedMetadata(all, "");
                templates.putAll(md.templates());
                return md.metadata();
            });
        }
        Content c = scanTar(file, templates, null, null);
        if (c.metadata == null) {
            throw new InvalidArgumentException("Missing metadata.yaml in the image's metadata tarball");
        }
        return c.metadata;
    }

    /**
     * Reads a split image's root filesystem tarball to the visitor, refusing one without entries; all of the file
     * goes to {@code digest} (null: none).
     */
    private static void readRootfsTar(Path file, MessageDigest digest, ImageTar.Visitor visitor) throws IOException {
        int[] entries = new int[1];
        InputStream raw = Files.newInputStream(file);
        try (InputStream in = digest == null ? raw : new DigestInputStream(raw, digest)) {
            ImageTar.read(in, (e, content) -> {
                entries[0]++;
                visitor.entry(e, content);
            });
            in.transferTo(OutputStream.nullOutputStream()); // what follows an uncompressed archive's end marker
        }
        if (entries[0] == 0) {
            throw new InvalidArgumentException("The root filesystem tarball is empty");
        }
    }

    private static ImageMetadata parseMetadata(byte[] yaml) {
        try {
            ImageMetadata md = RestJson.fromYaml(yaml, ImageMetadata.class);
            if (md == null) {
                throw new InvalidArgumentException("metadata.yaml is empty");
            }
            return md;
        } catch (IncusException e) {
            throw new InvalidArgumentException("Invalid metadata.yaml: " + e.getMessage(), e);
        }
    }

    /** The metadata and templates of an image unpacked into {@code dir}. */
    private static Image unpackedMetadata(Path dir, String fingerprint) throws IOException {
        Path md = dir.resolve(METADATA);
        if (!Files.isRegularFile(md, LinkOption.NOFOLLOW_LINKS)) {
            throw new InvalidArgumentException("Missing metadata.yaml in image");
        }
        Map<String, byte[]> templates = new TreeMap<>();
        Path t = dir.resolve("templates");
        if (Files.isDirectory(t, LinkOption.NOFOLLOW_LINKS)) {
            try (var list = Files.list(t)) {
                for (Path p : (Iterable<Path>) list::iterator) {
                    if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                        templates.put(p.getFileName().toString(), Files.readAllBytes(p));
                    }
                }
            }
        }
        return new Image(parseMetadata(Files.readAllBytes(md)), templates, fingerprint);
    }

    /**
     * Hands an unpacked tree to {@code visitor} as tar entries (names relative to {@code root}, the root itself left
     * out), never following a symlink: files, directories, symlinks and hard links (a second name of a file is a
     * {@link ImageTar.Kind#HARDLINK} to the first); device nodes, FIFOs and sockets are skipped as a tarball's are.
     * Owners are the files' when the JVM runs as root (unsquashfs restored them), root's otherwise.
     */
    public static void walk(Path root, ImageTar.Visitor visitor) throws IOException {
        if (!Files.isDirectory(root, LinkOption.NOFOLLOW_LINKS)) {
            throw new InvalidArgumentException("Missing rootfs/ in image");
        }
        boolean owners = Squashfs.isRoot();
        Map<String, String> firstName = new HashMap<>();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                if (!dir.equals(root)) {
                    add(dir, ImageTar.Kind.DIRECTORY, "");
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                if (attrs.isSymbolicLink()) {
                    add(file, ImageTar.Kind.SYMLINK, Files.readSymbolicLink(file).toString());
                } else if (attrs.isRegularFile()) {
                    Map<String, Object> unix = Files.readAttributes(file, "unix:dev,ino,nlink",
                            LinkOption.NOFOLLOW_LINKS);
                    String name = name(file);
                    if (((Number) unix.get("nlink")).intValue() > 1) {
                        String key = unix.get("dev") + ":" + unix.get("ino");
                        String first = firstName.putIfAbsent(key, name);
                        if (first != null) {
                            add(file, ImageTar.Kind.HARDLINK, first);
                            return FileVisitResult.CONTINUE;
                        }
                    }
                    add(file, ImageTar.Kind.FILE, "");
                }
                return FileVisitResult.CONTINUE;
            }

            private String name(Path p) {
                return root.relativize(p).toString();
            }

            private void add(Path p, ImageTar.Kind kind, String link) throws IOException {
                Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid,gid,size,lastModifiedTime",
                        LinkOption.NOFOLLOW_LINKS);
                long size = kind == ImageTar.Kind.FILE ? ((Number) a.get("size")).longValue() : 0;
                Instant mtime = ((FileTime) a.get("lastModifiedTime")).toInstant();
                ImageTar.Entry e = new ImageTar.Entry(name(p), kind, ((Number) a.get("mode")).intValue() & 07777,
                        owners ? ((Number) a.get("uid")).longValue() : 0,
                        owners ? ((Number) a.get("gid")).longValue() : 0, mtime, size, link);
                if (kind == ImageTar.Kind.FILE) {
                    try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
                        visitor.entry(e, in);
                    }
                } else {
                    visitor.entry(e, InputStream.nullInputStream());
                }
            }
        });
    }

    // ---- Helpers ------------------------------------------------------------------------------------------------

    private static InstanceSource.SplitImage split(InstanceSource source) {
        if (source instanceof InstanceSource.SplitImage s) {
            return s;
        }
        throw new InvalidArgumentException("Not an image source: " + source);
    }

    private static Path existing(Path file, String what) {
        if (!Files.isRegularFile(file)) {
            throw new NotFoundException(what + " " + ErrorTexts.quote(file.toString()) + " not found");
        }
        return file;
    }

    /**
     * A VM's root filesystem file is its disk (qcow2 in Incus's images; the driver converts a raw one): refused when
     * empty, or when it is an archive (the rootfs of a container image given for a VM).
     */
    private static void requireDisk(Path file) throws IOException {
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(6);
        }
        if (head.length == 0) {
            throw new InvalidArgumentException("The disk of a virtual-machine image is empty");
        }
        if (ImageTar.isSquashfs(head, head.length)) {
            throw new InvalidArgumentException("The root filesystem of a virtual-machine image is a disk, not a"
                    + " squashfs image (a container image?)");
        }
    }

    /** An action on an image file that may throw. */
    @FunctionalInterface
    private interface Action<T> {
        T run() throws IOException;
    }

    @FunctionalInterface
    private interface VoidAction {
        void run() throws IOException;
    }

    @FunctionalInterface
    private interface ScratchAction<T> {
        T run(Path dir) throws IOException;
    }

    private static void guarded(Path file, VoidAction action) {
        guarded(file, () -> {
            action.run();
            return null;
        });
    }

    /** Runs {@code action}, naming {@code file} in what it refuses. */
    private static <T> T guarded(Path file, Action<T> action) {
        try {
            return action.run();
        } catch (InvalidArgumentException e) {
            String prefix = "Invalid image " + ErrorTexts.quote(file.toString()) + ": ";
            if (e.getMessage() != null && e.getMessage().startsWith("Invalid image ")) {
                throw e;
            }
            throw new InvalidArgumentException(prefix + e.getMessage(), e);
        } catch (IOException e) {
            throw new IncusException("Cannot read the image " + ErrorTexts.quote(file.toString()) + ": "
                    + e.getMessage(), e);
        }
    }

    private static <T> T withScratch(Path scratch, ScratchAction<T> action) throws IOException {
        Path dir = scratch == null ? Files.createTempDirectory("incus4j-image")
                : Files.createTempDirectory(Files.createDirectories(scratch), ".image");
        try {
            return action.run(dir);
        } finally {
            AbstractInstances.deleteTree(dir);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }

    /** Incus's fingerprint: the SHA-256 of the image file, of a split image's two files one after the other. */
    static String sha256(Path... files) {
        MessageDigest digest = sha256();
        for (Path f : files) {
            digest(digest, f);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** {@code digest}, updated with the bytes of {@code file}. */
    private static MessageDigest digest(MessageDigest digest, Path file) {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
            in.transferTo(OutputStream.nullOutputStream());
        } catch (IOException e) {
            throw new IncusException("Cannot read the image " + ErrorTexts.quote(file.toString()) + ": "
                    + e.getMessage(), e);
        }
        return digest;
    }
}
