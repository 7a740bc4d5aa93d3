package io.github.incus4j.qemu;

import static io.github.incus4j.qemu.QemuHost.deleteQuietly;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.image.ImageFiles;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.io.NonClosingOutputStream;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The storage of one VM: its qcow2 disk {@code root.img} (made from an image, a directory or blank, rebuilt,
 * exported as an Incus VM image), the image's metadata and templates kept next to it, and the internal qcow2
 * snapshots that are the VM's snapshots (their tags kept in the snapshot's directory, so that renaming a snapshot
 * renames nothing inside the image): {@code qemu-img} while QEMU is stopped, QMP's internal snapshot commands on the
 * running QEMU's monitor otherwise. Made for one call from the VM's current paths; it writes no instance record.
 */
final class VmDisk {
    static final String DISK = "root.img";
    private static final String SNAPSHOT_TAG = "qcow2-snapshot";
    static final String DEFAULT_ROOT_SIZE = "10GiB";
    /** Internal snapshots write the image's tables: Incus's 5 s of block commands, not the 500 ms of queries. */
    private static final Duration BLOCK_TIMEOUT = Duration.ofSeconds(5);

    private final QemuHost host;
    private final Path disk;
    private final Path instanceDir;
    private final Path path;
    private final Path templatesPath;
    private final String name;

    /**
     * @param disk the qcow2 disk (a snapshot's handle names its parent's)
     * @param instanceDir the directory holding the disk and the kept image files (the parent's, for a snapshot)
     * @param path the instance's own directory, {@code templatesPath} its templates
     * @param name the VM's name, for error texts
     */
    VmDisk(QemuHost host, Path disk, Path instanceDir, Path path, Path templatesPath, String name) {
        this.host = host;
        this.disk = disk;
        this.instanceDir = instanceDir;
        this.path = path;
        this.templatesPath = templatesPath;
        this.name = name;
    }

    /**
     * Makes {@code root.img} from {@code source} ({@code rootSize} for a blank one); returns the unpacked image,
     * whose properties the caller records, or null when {@code source} is no image.
     */
    ImageSources.Image create(InstanceSource source, String rootSize) {
        try {
            PrivateFiles.createDirectories(path);
            if (ImageSources.isImage(source)) {
                ImageSources.Image u = unpackDisk(source, disk);
                keepImageFiles(u.metadata(), u.templates());
                return u;
            } else if (source instanceof InstanceSource.RootfsDirectory d) {
                host.qemuImg(List.of("convert", "-O", "qcow2", d.directory().toAbsolutePath().toString(),
                        disk.toString()));
            } else {
                blankDisk(disk, rootSize);
            }
            return null;
        } catch (IOException e) {
            throw HostIo.failure("Cannot create the disk of " + name, e);
        }
    }

    /** The image's metadata and templates, kept next to the disk as Incus does, private as the rest. */
    private void keepImageFiles(ImageMetadata metadata, Map<String, byte[]> templates) throws IOException {
        PrivateFiles.createDirectories(templatesPath);
        ImageFiles.keep(path, templatesPath, metadata, templates);
        PrivateFiles.restrict(path.resolve(ImageFiles.METADATA));
        for (String t : templates.keySet()) {
            PrivateFiles.restrict(templatesPath.resolve(t));
        }
    }

    /**
     * Unpacks an image's disk (unified or split, checked by {@link ImageSources#check} before) into {@code to}
     * (qcow2).
     */
    private ImageSources.Image unpackDisk(InstanceSource source, Path to) throws IOException {
        Path raw = to.resolveSibling(to.getFileName() + ".unpacking");
        try {
            ImageSources.Image u = ImageSources.unpackDisk(source, in -> PrivateFiles.copy(in, raw), path);
            toQcow2(raw, to);
            return u;
        } finally {
            Files.deleteIfExists(raw);
        }
    }

    private void blankDisk(Path to, String rootSize) {
        host.qemuImg(List.of("create", "-q", "-f", "qcow2", to.toString(),
                Long.toString(ConfigValues.parseByteSize(rootSize))));
    }

    /** Keeps a qcow2 {@code from} as {@code to}, or converts another format (raw) to qcow2. */
    private void toQcow2(Path from, Path to) throws IOException {
        byte[] magic = new byte[4];
        try (InputStream in = Files.newInputStream(from)) {
            int n = in.readNBytes(magic, 0, 4);
            if (n == 4 && magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' && (magic[3] & 0xff) == 0xfb) {
                Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
                return;
            }
        }
        try {
            host.qemuImg(List.of("convert", "-f", "raw", "-O", "qcow2", from.toString(), to.toString()));
        } finally {
            Files.deleteIfExists(from);
        }
    }

    // ---- internal snapshots ------------------------------------------------------------------------------------

    /** The qcow2 tag of the snapshot whose directory is {@code snapshotDir}. */
    static String snapshotTag(Path snapshotDir, String snapshotName) {
        try {
            return Files.readString(snapshotDir.resolve(SNAPSHOT_TAG)).trim();
        } catch (IOException e) {
            throw HostIo.failure("Snapshot " + snapshotName + " has no qcow2 snapshot tag", e);
        }
    }

    /** Records {@code tag} as the qcow2 snapshot of the snapshot whose directory is {@code snapshotDir}. */
    static void writeSnapshotTag(Path snapshotDir, String tag) throws IOException {
        PrivateFiles.write(snapshotDir.resolve(SNAPSHOT_TAG), (tag + "\n").getBytes(StandardCharsets.UTF_8));
    }

    /** The internal snapshot {@code tag} of the running QEMU's root disk, taken when run. */
    static Runnable liveSnapshot(QmpClient qmp, String tag) {
        return () -> qmp.execute("blockdev-snapshot-internal-sync", Map.of("device", VmCommandLine.ROOT_NODE,
                "name", tag), BLOCK_TIMEOUT);
    }

    /** The internal snapshot {@code tag} of the disk while QEMU is stopped. */
    void snapshot(String tag) {
        host.qemuImg(List.of("snapshot", "-c", tag, disk.toString()));
    }

    /** The disk goes back to its snapshot {@code tag}. */
    void restore(String tag) {
        host.qemuImg(List.of("snapshot", "-a", tag, disk.toString()));
    }

    /** Deletes the snapshot {@code tag}: on the running QEMU's monitor {@code qmp}, else (null) in the file. */
    void deleteSnapshot(String tag, QmpClient qmp) {
        if (qmp != null) {
            qmp.execute("blockdev-snapshot-delete-internal-sync", Map.of("device", VmCommandLine.ROOT_NODE, "name",
                    tag), BLOCK_TIMEOUT);
        } else if (Files.exists(disk)) {
            host.qemuImg(List.of("snapshot", "-d", tag, disk.toString()));
        }
    }

    // ---- rebuild, export, usage --------------------------------------------------------------------------------

    /**
     * Replaces the disk with a blank one of {@code rootSize} ({@code image} null) or the image's, made aside and
     * renamed over the old one only when complete.
     */
    void rebuild(Image image, String rootSize) {
        if (image != null && image.source() == null) {
            throw new InvalidArgumentException("Image " + ErrorTexts.quote(image.fingerprint())
                    + " has no tarball to unpack");
        }
        Path staging = disk.resolveSibling(DISK + ".rebuilding");
        Map<String, byte[]> templates = Map.of();
        try {
            Files.deleteIfExists(staging);
            ImageMetadata md = null;
            if (image == null) {
                blankDisk(staging, rootSize);
            } else {
                InstanceSource source = InstanceSource.image(image.source());
                ImageSources.check(true, source);
                ImageSources.Image u = unpackDisk(source, staging);
                md = u.metadata();
                templates = u.templates();
            }
            Files.move(staging, disk, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Files.deleteIfExists(path.resolve(ImageFiles.METADATA));
            AbstractInstances.deleteTree(templatesPath);
            if (md != null) {
                keepImageFiles(md, templates);
            }
        } catch (IOException e) {
            throw HostIo.failure("Cannot rebuild the disk of " + name, e);
        } finally {
            deleteQuietly(staging);
        }
    }

    /**
     * Incus's VM export: {@code metadata.yaml}, templates and {@code rootfs.img}, the disk (or, with
     * {@code snapshotDir}, the state of it of the snapshot {@code snapshotName} kept there) converted to a
     * standalone qcow2 with {@code qemu-img convert}. Split ({@code rootfs} not null): the metadata tarball, and the
     * qcow2 bytes themselves as the rootfs file.
     */
    ImageMetadata export(OutputStream meta, OutputStream rootfs, Map<String, String> properties, Instant expiration,
            ProgressTracker tracker, int architecture, Clock clock, Path snapshotDir, String snapshotName) {
        ImageMetadata md = ImageLayout.exportMetadata(ImageFiles.metadata(instanceDir),
                io.github.incus4j.api.Architectures.name(architecture), properties, expiration, clock);
        Map<String, byte[]> templates = ImageFiles.templates(instanceDir.resolve("templates"));
        Path tmp = disk.resolveSibling("export-" + UUID.randomUUID() + ".qcow2");
        try {
            List<String> args = new ArrayList<>(List.of("convert", "-O", "qcow2"));
            if (snapshotDir != null) {
                args.add("-U"); // the parent may be running: its image stays open in QEMU
                args.add("-l");
                args.add("snapshot.name=" + snapshotTag(snapshotDir, snapshotName));
            }
            args.add(disk.toString());
            args.add(tmp.toString());
            host.qemuImg(args);
            long size = Files.size(tmp);
            if (rootfs == null) {
                ImageLayout.writeUnified(meta, md, templates, (tar, prefix) -> {
                    try (InputStream in = Files.newInputStream(tmp)) {
                        tar.add(new ImageTar.Entry(VmImage.ROOTFS_IMG, ImageTar.Kind.FILE, 0644, 0, 0,
                                clock.instant(), size, ""), in);
                    }
                }, tracker);
            } else {
                ImageLayout.writeUnified(meta, md, templates, null, null);
                try (OutputStream out = tracker == null ? rootfs : tracker.wrap(rootfs)) {
                    Files.copy(tmp, new NonClosingOutputStream(out));
                }
            }
            return md;
        } catch (IOException e) {
            throw HostIo.failure("Cannot export " + name, e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /** The disk's usage: the length of the qcow2 file. */
    Map<String, ApiInstanceState.Disk> usage() {
        long usage = 0;
        try {
            // A qcow2 file grows by each cluster the guest writes (no preallocation): its length is the usage.
            // (The JDK has no st_blocks: "unix:blocks" is no attribute, so it cannot be asked for.)
            if (Files.exists(disk)) {
                usage = Files.size(disk);
            }
        } catch (IOException e) {
            usage = 0;
        }
        return Map.of("root", new ApiInstanceState.Disk(usage, 0));
    }
}
