package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.ImageCompression;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.rest.RestJson;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The ExportImport group of {@link InstanceDriverContract} (its nested {@code ExportImport} runs these): images
 * written by {@code export} and instances created from them.
 */
abstract class ExportImportGroup extends ContractGroup {
    ExportImportGroup(ContractSupport contract) {
        super(contract);
    }

    private byte[] export(Instance i, Map<String, String> properties, Instant expiry) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        i.export(out, null, properties, expiry, null);
        return out.toByteArray();
    }

    private Path saveImage(byte[] tarball) {
        Path p = scratch().resolve(uniqueName("image") + ".tar");
        try {
            return Files.write(p, tarball);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @ForEachInstanceType
    void unifiedTarballLayout(InstanceType type) {
        Map<String, byte[]> entries = TarEntries.read(export(create(type), Map.of(), null));
        assertTrue(entries.containsKey("metadata.yaml"), "entries " + entries.keySet());
        boolean rootfsDir = entries.keySet().stream().anyMatch(n -> n.startsWith("rootfs/"));
        if (type == InstanceType.CONTAINER) {
            assertTrue(rootfsDir, "container images hold rootfs/: " + entries.keySet());
        } else {
            assertTrue(rootfsDir || entries.containsKey("rootfs.img"), "VM images hold rootfs.img: "
                    + entries.keySet());
        }
        assertTrue(entries.keySet().stream().allMatch(n -> n.equals("metadata.yaml") || n.equals("config.json")
                || n.startsWith("rootfs") || n.startsWith("templates")), "unexpected entries " + entries.keySet());
    }

    @ForEachInstanceType
    void metadataAsIncusWritesIt(InstanceType type) {
        Instance i = create(type);
        Instant expiry = nowSeconds().plus(Duration.ofDays(30));
        long before = Instant.now().getEpochSecond();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageMetadata returned = i.export(out, null, Map.of("os", "busybox", "description", "contract image"),
                expiry, null);
        long after = Instant.now().getEpochSecond();
        ImageMetadata written = RestJson.fromYaml(TarEntries.read(out.toByteArray()).get("metadata.yaml"),
                ImageMetadata.class);
        assertEquals(returned, written, "export returns what it wrote");
        String hostArch = hostArchitecture();
        if (hostArch != null) {
            assertEquals(hostArch, written.architecture(), "the host's architecture, as Incus names it");
        }
        assertEquals("busybox", written.properties().get("os"));
        assertEquals("contract image", written.properties().get("description"));
        assertEquals(expiry.getEpochSecond(), written.expiryDate());
        assertTrue(written.creationDate() >= before - 1 && written.creationDate() <= after + 1,
                "creation_date " + written.creationDate());
    }

    @ForEachInstanceType
    void rebuildFromAnImageOrEmpty(InstanceType type) {
        byte[] tarball = export(create(type), Map.of("os", "contract"), null);
        ImageMetadata metadata = RestJson.fromYaml(TarEntries.read(tarball).get("metadata.yaml"),
                ImageMetadata.class);
        String fingerprint = io.github.incus4j.api.internal.image.ImageLayout.fingerprint(tarball);
        io.github.incus4j.api.model.Image image = io.github.incus4j.api.model.Image.fromTarball(saveImage(tarball),
                fingerprint, type.apiName(), metadata);
        Instance i = createRunning(type);
        assertRefused(InstanceStateException.class, "Instance must be stopped to be rebuilt",
                () -> i.rebuild(image, null));
        i.stop(false);
        i.rebuild(image, null);
        assertEquals("contract", i.localConfig().get("image.os"));
        assertEquals(fingerprint, i.localConfig().get("volatile.base_image"));
        i.start(false);
        assertEquals(StatusCode.RUNNING, i.statusCode(), "the rebuilt instance runs");
        i.stop(false);
        i.rebuild(null, null);
        assertFalse(i.localConfig().containsKey("image.os"), "an empty rebuild drops the image keys");
        assertFalse(i.localConfig().containsKey("volatile.base_image"));
    }

    @ForEachInstanceType
    void noExpiryIsZero(InstanceType type) {
        ImageMetadata m = create(type).export(new ByteArrayOutputStream(), null, null, null, null);
        assertEquals(0, m.expiryDate());
    }

    @ForEachInstanceType
    void exportOfRunningInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertRefused(InstanceStateException.class, "Cannot export a running instance as an image",
                () -> i.export(out, null, Map.of(), null, null));
        assertEquals(0, out.size(), "nothing written");
        // Compressed too: the compressor's header waits for the first byte of the tarball.
        assertRefused(InstanceStateException.class, "Cannot export a running instance as an image",
                () -> i.export(out, null, ImageCompression.GZIP, Map.of(), null, null));
        assertEquals(0, out.size(), "nothing written (gzip)");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void splitImageSeparatesMetadataAndRootfs(InstanceType type) {
        Instance i = create(type);
        ByteArrayOutputStream meta = new ByteArrayOutputStream();
        ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
        i.export(meta, rootfs, Map.of(), null, null);
        Map<String, byte[]> entries = TarEntries.read(meta.toByteArray());
        assertTrue(entries.containsKey("metadata.yaml"), "metadata " + entries.keySet());
        assertFalse(entries.keySet().stream().anyMatch(n -> n.startsWith("rootfs")), "rootfs in the metadata");
        assertTrue(rootfs.size() > 0, "rootfs tarball");
    }

    @ForEachInstanceType
    void createFromExportedImage(InstanceType type) {
        byte[] image = export(create(type), Map.of("os", "busybox"), null);
        Instance copy = instances().create(args(type).build(), InstanceSource.image(saveImage(image)));
        assertEquals(StatusCode.STOPPED, copy.statusCode());
        assertEquals("busybox", copy.localConfig().get("image.os"), "image properties become image.* config");
    }

    /** The magic bytes each compression starts with (NONE: a tar header's {@code ustar} at offset 257). */
    private void assertCompressedAs(ImageCompression c, byte[] image) {
        String head = HexFormat.of().formatHex(Arrays.copyOf(image, 6));
        switch (c) {
            case NONE -> assertEquals("ustar", new String(image, 257, 5, StandardCharsets.US_ASCII), "tar");
            case GZIP -> assertTrue(head.startsWith("1f8b"), "gzip: " + head);
            case BZIP2 -> assertTrue(head.startsWith("425a68"), "bzip2: " + head);
            case XZ -> assertTrue(head.startsWith("fd377a585a00"), "xz: " + head);
            case LZMA -> assertTrue(head.startsWith("5d0000"), "lzma: " + head);
            case ZSTD -> assertTrue(head.startsWith("28b52ffd"), "zstd: " + head);
            case SQUASHFS -> assertTrue(head.startsWith("68737173"), "squashfs: " + head);
        }
    }

    /** Whether squashfs images can be made ({@code tar2sqfs}, squashfs-tools-ng) and read ({@code unsquashfs}). */
    private static boolean squashfsTools() {
        return Files.isExecutable(Path.of("/usr/bin/tar2sqfs")) && Files.isExecutable(Path.of("/usr/bin/unsquashfs"));
    }

    private String sha256(byte[]... parts) {
        try {
            java.security.MessageDigest d = java.security.MessageDigest.getInstance("SHA-256");
            for (byte[] p : parts) {
                d.update(p);
            }
            return HexFormat.of().formatHex(d.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts a container made from an image and stops it again: an image without a usable rootfs fails here. */
    private void startsAndStops(Instance copy) {
        if (copy.type() == InstanceType.CONTAINER) {
            copy.start(false);
            assertEquals(StatusCode.RUNNING, copy.statusCode(), "the container from the image runs");
            copy.stop(false);
        }
    }

    @ForEachInstanceType
    void createFromEveryCompression(InstanceType type) {
        Instance source = create(type);
        for (ImageCompression c : ImageCompression.values()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            if (c == ImageCompression.SQUASHFS && !squashfsTools()) {
                // Without the host tools the export is refused naming them, and writes nothing.
                assertRefusedNaming(io.github.incus4j.api.NotSupportedException.class, "Cannot run ", "squashfs",
                        () -> source.export(out, null, c, Map.of(), null, null));
                assertEquals(0, out.size(), "nothing written without tar2sqfs");
                continue;
            }
            source.export(out, null, c, Map.of("os", "packed-" + c.value()), null, null);
            byte[] image = out.toByteArray();
            assertCompressedAs(c, image);
            Instance copy = instances().create(args(type).build(), InstanceSource.image(saveImage(image)));
            assertEquals("packed-" + c.value(), copy.localConfig().get("image.os"), c.value());
            assertEquals(sha256(image), copy.localConfig().get("volatile.base_image"),
                    "the fingerprint is the SHA-256 of the file as it is (" + c.value() + ")");
            startsAndStops(copy);
        }
    }

    @ForEachInstanceType
    void createFromSplitImage(InstanceType type) {
        Instance source = create(type);
        // Squashfs too where the tools are: Incus squashes both files of a split image (and reads both back).
        List<ImageCompression> compressions = squashfsTools()
                ? List.of(ImageCompression.NONE, ImageCompression.XZ, ImageCompression.ZSTD, ImageCompression.SQUASHFS)
                : List.of(ImageCompression.NONE, ImageCompression.XZ, ImageCompression.ZSTD);
        for (ImageCompression c : compressions) {
            ByteArrayOutputStream meta = new ByteArrayOutputStream();
            ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
            source.export(meta, rootfs, c, Map.of("os", "split-" + c.value()), null, null);
            assertCompressedAs(c, meta.toByteArray());
            Instance copy = instances().create(args(type).build(),
                    InstanceSource.image(saveImage(meta.toByteArray()), saveImage(rootfs.toByteArray())));
            assertEquals("split-" + c.value(), copy.localConfig().get("image.os"));
            // Incus's fingerprint of a split image: the SHA-256 of the metadata file, then the rootfs file.
            assertEquals(sha256(meta.toByteArray(), rootfs.toByteArray()),
                    copy.localConfig().get("volatile.base_image"));
            startsAndStops(copy);
        }
    }

    @ForEachInstanceType
    void incompleteImagesLeaveNothingOnDisk(InstanceType type) {
        ByteArrayOutputStream meta = new ByteArrayOutputStream();
        ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
        create(type).export(meta, rootfs, ImageCompression.GZIP, Map.of(), null, null);
        Instances in = instances();
        Set<String> before = tree();
        List<String> listed = in.list().stream().map(Instance::name).toList();
        // A metadata tarball given as a unified image: metadata.yaml but no root filesystem.
        Path metadataOnly = saveImage(meta.toByteArray());
        assertRefusedNaming(InvalidArgumentException.class, "Invalid image \"" + metadataOnly + "\": Missing ",
                metadataOnly.toString(), () -> in.create(args(type).build(), InstanceSource.image(metadataOnly)));
        // A split image without metadata.yaml: the rootfs tarball given as metadata (containers; a VM's rootfs
        // is a disk, no tarball).
        if (type == InstanceType.CONTAINER) {
            Path rootfsFile = saveImage(rootfs.toByteArray());
            assertRefusedNaming(InvalidArgumentException.class, "Invalid image \"" + rootfsFile
                    + "\": Missing metadata.yaml", rootfsFile.toString(),
                    () -> in.create(args(type).build(), InstanceSource.image(rootfsFile, rootfsFile)));
        }
        // A split image whose root filesystem file is missing or empty.
        Path missing = scratch().resolve(uniqueName("no-rootfs"));
        assertRefused(NotFoundException.class, "Image root filesystem file \"" + missing + "\" not found",
                () -> in.create(args(type).build(), InstanceSource.image(metadataOnly, missing)));
        Path empty = saveImage(new byte[0]);
        assertRefusedNaming(InvalidArgumentException.class, "Invalid image \"" + empty + "\": ",
                empty.toString(), () -> in.create(args(type).build(), InstanceSource.image(metadataOnly, empty)));
        assertEquals(before, tree());
        assertEquals(listed, in.list().stream().map(Instance::name).toList());
    }

    /** Runs a host tool (tar, mksquashfs) for a test image, with a timeout. */
    private void tool(String... cmd) {
        try {
            Path log = scratch().resolve(uniqueName("tool") + ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                fail(String.join(" ", cmd) + " timed out");
            }
            assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + Files.readString(log));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Unpacks {@code tarball} with GNU tar and packs the tree with mksquashfs, as image builders do. */
    private Path squashfsOf(byte[] tarball) {
        Path tar = saveImage(tarball);
        Path dir = scratch().resolve(uniqueName("tree"));
        Path image = scratch().resolve(uniqueName("image") + ".squashfs");
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        tool("tar", "--numeric-owner", "-xpf", tar.toString(), "-C", dir.toString());
        tool("mksquashfs", dir.toString(), image.toString(), "-noappend", "-no-progress", "-comp", "xz");
        return image;
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void createFromSquashfsImages(InstanceType type) {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/mksquashfs")) && Files.isExecutable(Path.of("/usr/bin/tar"))
                && Files.isExecutable(Path.of("/usr/bin/unsquashfs")),
                "squashfs-tools (mksquashfs, unsquashfs) and GNU tar are not installed");
        Instance source = create(type);
        // Unified: metadata.yaml, templates/ and rootfs/ in one squashfs image.
        ByteArrayOutputStream unified = new ByteArrayOutputStream();
        source.export(unified, null, ImageCompression.NONE, Map.of("os", "squashed"), null, null);
        Path image = squashfsOf(unified.toByteArray());
        Instance copy = instances().create(args(type).build(), InstanceSource.image(image));
        assertEquals("squashed", copy.localConfig().get("image.os"));
        startsAndStops(copy);
        // Split: a metadata tarball and a squashfs root filesystem, the format of Incus's image servers.
        ByteArrayOutputStream meta = new ByteArrayOutputStream();
        ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
        source.export(meta, rootfs, ImageCompression.XZ, Map.of("os", "split-squashed"), null, null);
        Path rootfsImage = squashfsOf(rootfs.toByteArray());
        Instance split = instances().create(args(type).build(),
                InstanceSource.image(saveImage(meta.toByteArray()), rootfsImage));
        assertEquals("split-squashed", split.localConfig().get("image.os"));
        startsAndStops(split);
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.FILES)
    void exportedFilesComeBack(InstanceType type) {
        Instance i = filesInstance(type);
        writeFile(i, "/srv/exported.txt", "travelled in an image");
        if (i.isRunning()) {
            i.stop(false);
        }
        byte[] image = export(i, Map.of(), null);
        Instance copy = instances().create(args(type).build(), InstanceSource.image(saveImage(image)));
        if (type == InstanceType.VM) {
            copy.start(false);
        }
        assertEquals("travelled in an image", readFile(copy, "/srv/exported.txt"));
    }

    @ForEachInstanceType
    void exportProgressIsReported(InstanceType type) {
        AtomicInteger calls = new AtomicInteger();
        create(type).export(new ByteArrayOutputStream(), null, Map.of(), null,
                new io.github.incus4j.api.operation.ProgressTracker(0, (percent, speed, bytes) -> calls.incrementAndGet()));
        assertTrue(calls.get() > 0, "progress reports");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.FILES)
    void createFromRootfsDirectory(InstanceType type) throws IOException {
        Path dir = scratch().resolve("rootfs-src");
        Files.createDirectories(dir.resolve("srv"));
        Files.writeString(dir.resolve("srv/from-dir.txt"), "copied from a directory");
        Instance i = instances().create(args(type).build(), InstanceSource.rootfs(dir));
        assertEquals("copied from a directory", readFile(i, "/srv/from-dir.txt"));
        assertTrue(Files.exists(dir.resolve("srv/from-dir.txt")), "the source directory is left alone");
    }
}
