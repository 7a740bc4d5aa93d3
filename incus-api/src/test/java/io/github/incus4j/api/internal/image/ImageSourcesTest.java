package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.ImageCompression;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.internal.image.ImageTar.Entry;
import io.github.incus4j.api.internal.image.ImageTar.Kind;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Images on disk in every format Incus writes, made by the same tools: Commons Compress's writers and the host's
 * GNU tar, gzip, bzip2, xz, zstd and squashfs-tools (each test needing one skips when it is absent).
 */
class ImageSourcesTest {
    private static final String METADATA = "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n"
            + "  os: busybox\ntemplates:\n  /etc/hostname:\n    when: [create]\n    template: hostname.tpl\n";

    @TempDir
    Path dir;

    /** A unified image tree on disk: metadata.yaml, a template, and rootfs/ with a file, a symlink, a hard link. */
    private Path tree(boolean withRootfs, boolean withMetadata) throws IOException {
        Path t = Files.createDirectories(dir.resolve("tree-" + System.nanoTime()));
        if (withMetadata) {
            Files.writeString(t.resolve("metadata.yaml"), METADATA);
        }
        Files.createDirectories(t.resolve("templates"));
        Files.writeString(t.resolve("templates/hostname.tpl"), "{{ instance.name }}\n");
        if (withRootfs) {
            Files.createDirectories(t.resolve("rootfs/etc"));
            Files.writeString(t.resolve("rootfs/etc/os-release"), "ID=busybox\n");
            Files.createSymbolicLink(t.resolve("rootfs/etc/lsb"), Path.of("os-release"));
            Files.createLink(t.resolve("rootfs/etc/os-copy"), t.resolve("rootfs/etc/os-release"));
        }
        return t;
    }

    private static boolean tool(String name) {
        return Files.isExecutable(Path.of("/usr/bin", name)) || Files.isExecutable(Path.of("/bin", name));
    }

    private static void run(Path cwd, String... cmd) throws IOException, InterruptedException {
        Path log = Files.createTempFile("tool", ".log");
        try {
            Process p = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            assertTrue(p.waitFor(2, TimeUnit.MINUTES), String.join(" ", cmd) + " timed out");
            assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + Files.readString(log));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** GNU tar of {@code tree}'s content, compressed by the host tool Incus itself runs for {@code c}. */
    private Path tarWithHostTools(Path tree, ImageCompression c) throws Exception {
        String compressor = switch (c) {
            case NONE -> null;
            case GZIP -> "gzip";
            case BZIP2 -> "bzip2";
            case XZ, LZMA -> "xz";
            case ZSTD -> "zstd";
            case SQUASHFS -> "tar2sqfs";
        };
        assumeTrue(tool("tar"), "GNU tar is not installed");
        assumeTrue(compressor == null || tool(compressor), compressor + " is not installed");
        // The file name says nothing about the format: detection is by magic bytes only.
        Path out = dir.resolve("image-" + c.value() + "-" + System.nanoTime() + ".bin");
        Path tar = dir.resolve("plain-" + System.nanoTime() + ".tar");
        run(tree, "tar", "--numeric-owner", "-cf", tar.toString(), ".");
        if (compressor == null) {
            Files.move(tar, out);
        } else if (c == ImageCompression.SQUASHFS) {
            // As Incus's compressFile: the tarball on tar2sqfs's standard input.
            Process p = new ProcessBuilder("tar2sqfs", "--no-skip", "--force", "--quiet", "--compressor", "xz",
                    out.toString()).redirectInput(tar.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            assertTrue(p.waitFor(2, TimeUnit.MINUTES), "tar2sqfs timed out");
            assertEquals(0, p.exitValue(), "tar2sqfs");
        } else {
            List<String> cmd = new ArrayList<>(List.of(compressor, "-q", "-c"));
            if (c == ImageCompression.LZMA) {
                cmd.add("--format=lzma");
            }
            cmd.add(tar.toString());
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(
                    ProcessBuilder.Redirect.DISCARD).start();
            assertTrue(p.waitFor(2, TimeUnit.MINUTES), compressor + " timed out");
            assertEquals(0, p.exitValue(), compressor);
        }
        return out;
    }

    private static Map<String, String> unpack(InstanceSource source, Path scratch) {
        Map<String, String> got = new TreeMap<>();
        ImageSources.unpackRootfs(source, (e, in) -> got.put(e.name(), e.kind() + ":"
                + (e.kind() == Kind.FILE ? new String(in.readAllBytes(), UTF_8) : e.linkTarget())), scratch);
        return got;
    }

    private static void assertRootfs(Map<String, String> got) {
        assertEquals("DIRECTORY:", got.get("etc"), got.toString());
        assertEquals("SYMLINK:os-release", got.get("etc/lsb"), got.toString());
        // One of the two names holds the content, the other is a hard link to it.
        String release = got.get("etc/os-release");
        String copy = got.get("etc/os-copy");
        assertTrue(("FILE:ID=busybox\n".equals(release) && "HARDLINK:etc/os-release".equals(copy))
                || ("FILE:ID=busybox\n".equals(copy) && "HARDLINK:etc/os-copy".equals(release)), got.toString());
        assertEquals(4, got.size(), got.toString());
    }

    private static String sha256(Path... files) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        for (Path f : files) {
            d.update(Files.readAllBytes(f));
        }
        return HexFormat.of().formatHex(d.digest());
    }

    @ParameterizedTest
    @EnumSource(ImageCompression.class)
    void unifiedTarballsInEveryCompressionOfTheHostTools(ImageCompression c) throws Exception {
        Path image = tarWithHostTools(tree(true, true), c);
        InstanceSource source = InstanceSource.image(image);
        ImageSources.check(false, source);
        Map<String, String> got = new TreeMap<>();
        ImageSources.Image md = ImageSources.unpackRootfs(source, (e, in) -> got.put(e.name(), e.kind() + ":"
                + (e.kind() == Kind.FILE ? new String(in.readAllBytes(), UTF_8) : e.linkTarget())), null);
        assertRootfs(got);
        assertEquals("busybox", md.metadata().properties().get("os"));
        assertEquals("{{ instance.name }}\n", new String(md.templates().get("hostname.tpl"), UTF_8));
        assertEquals(sha256(image), md.fingerprint());
    }

    @ParameterizedTest
    @EnumSource(ImageCompression.class)
    void whatWeCompressWeRead(ImageCompression c) throws Exception {
        if (c == ImageCompression.SQUASHFS) {
            assumeTrue(tool("tar2sqfs") && tool("unsquashfs"), "squashfs-tools-ng or squashfs-tools is not installed");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (OutputStream z = ImageTar.compressing(out, c)) {
            ImageTar.Writer w = ImageTar.writer(z);
            w.addFile("rootfs/hello", "hi".getBytes(UTF_8), 0644);
            w.finish();
        }
        if (c == ImageCompression.SQUASHFS) {
            Path image = Files.write(dir.resolve("written-" + System.nanoTime() + ".squashfs"), out.toByteArray());
            assertTrue(Squashfs.isSquashfs(image));
            assertEquals(List.of("rootfs", "rootfs/hello"), Squashfs.list(image));
            assertEquals("hi", new String(Squashfs.read(image, "rootfs/hello"), UTF_8));
            return;
        }
        List<String> names = new ArrayList<>();
        ImageTar.read(new ByteArrayInputStream(out.toByteArray()), (e, in) -> names.add(e.name()));
        assertEquals(List.of("rootfs/hello"), names);
        if (c != ImageCompression.NONE) {
            // A truncated compressed stream is refused as such, not as a bad tar header.
            byte[] cut = Arrays.copyOf(out.toByteArray(), out.size() - 8);
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                    () -> ImageTar.read(new ByteArrayInputStream(cut), (x, in) -> { }));
            assertTrue(e.getMessage().startsWith("Invalid tar archive: corrupt " + c.value() + " stream"),
                    e.getMessage());
        }
    }

    @Test
    void compressingWritesNothingUntilWrittenTo() throws IOException {
        for (ImageCompression c : ImageCompression.values()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageTar.compressing(out, c).close();
            assertEquals(0, out.size(), c.value());
        }
    }

    @Test
    void anAbandonedSquashfsExportWritesNothingAndLeavesNoTemporaryFile() throws IOException {
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        OutputStream z = ImageTar.compressing(out, ImageCompression.SQUASHFS);
        z.write("half a tarball".getBytes(UTF_8));
        Set<Path> during = exportTemporaries(tmp);
        assertFalse(during.isEmpty(), "the tarball is collected in a temporary file");
        ImageTar.abandon(z);
        z.close(); // after abandon: no image
        assertEquals(0, out.size());
        for (Path p : during) {
            assertFalse(Files.exists(p), "left behind: " + p);
        }
    }

    private static Set<Path> exportTemporaries(Path tmp) throws IOException {
        try (var files = Files.list(tmp)) {
            return files.filter(p -> p.getFileName().toString().startsWith("incus4j-export"))
                    .collect(java.util.stream.Collectors.toSet());
        }
    }

    @Test
    void compressionNames() {
        assertEquals(ImageCompression.ZSTD, ImageCompression.of("zstd"));
        assertEquals(ImageCompression.LZMA, ImageCompression.of("LZMA"));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> ImageCompression.of("lz4"));
        assertTrue(e.getMessage().contains("\"lz4\""), e.getMessage());
    }

    @Test
    void splitImagesOfTarballs() throws Exception {
        Path t = tree(true, true);
        Path metaTree = Files.createDirectories(dir.resolve("meta"));
        Files.copy(t.resolve("metadata.yaml"), metaTree.resolve("metadata.yaml"));
        Path meta = tarWithHostTools(metaTree, ImageCompression.XZ);
        Path rootfs = tarWithHostTools(t.resolve("rootfs"), ImageCompression.BZIP2);
        InstanceSource source = InstanceSource.image(meta, rootfs);
        ImageSources.check(false, source);
        Map<String, String> got = unpack(source, null);
        assertRootfs(got);
        ImageSources.Image md = ImageSources.unpackRootfs(source, (e, in) -> { }, null);
        assertEquals(sha256(meta, rootfs), md.fingerprint(), "Incus's split fingerprint: SHA-256 of both files");
        // A VM takes any non-empty disk file as split rootfs (the qemu driver converts raw to qcow2).
        ImageSources.check(true, InstanceSource.image(meta, rootfs));
    }

    private Path squashfs(Path tree) throws Exception {
        assumeTrue(tool("mksquashfs") && tool("unsquashfs"), "squashfs-tools is not installed");
        Path image = dir.resolve("image-" + System.nanoTime() + ".img");
        run(dir, "mksquashfs", tree.toString(), image.toString(), "-noappend", "-no-progress", "-comp", "xz");
        return image;
    }

    @Test
    void unifiedAndSplitSquashfsImages() throws Exception {
        Path t = tree(true, true);
        Path unified = squashfs(t);
        InstanceSource source = InstanceSource.image(unified);
        ImageSources.check(false, source);
        Path scratch = Files.createDirectories(dir.resolve("scratch"));
        assertRootfs(unpack(source, scratch));
        try (var left = Files.list(scratch)) {
            assertEquals(0, left.count(), "the scratch directory is cleaned up");
        }
        ImageSources.Image md = ImageSources.unpackRootfs(source, (e, in) -> { }, null);
        assertEquals("busybox", md.metadata().properties().get("os"));
        assertTrue(md.templates().containsKey("hostname.tpl"));
        assertEquals(sha256(unified), md.fingerprint());

        Path rootfs = squashfs(t.resolve("rootfs"));
        Path metaTree = Files.createDirectories(dir.resolve("meta"));
        Files.copy(t.resolve("metadata.yaml"), metaTree.resolve("metadata.yaml"));
        Path meta = tarWithHostTools(metaTree, ImageCompression.GZIP);
        InstanceSource split = InstanceSource.image(meta, rootfs);
        ImageSources.check(false, split);
        assertRootfs(unpack(split, null));
        InvalidArgumentException vm = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(true, split));
        assertTrue(vm.getMessage().contains("not a squashfs image"), vm.getMessage());
        // The metadata file may be a squashfs image too, as incus publish --compression squashfs writes it.
        InvalidArgumentException noMetadata = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(false, InstanceSource.image(rootfs, rootfs)));
        assertTrue(noMetadata.getMessage().contains("Missing metadata.yaml in the image's metadata file"),
                noMetadata.getMessage());
        Path squashedMeta = squashfs(tree(false, true));
        InstanceSource squashedSplit = InstanceSource.image(squashedMeta, rootfs);
        ImageSources.check(false, squashedSplit);
        ImageSources.Image smd = ImageSources.unpackRootfs(squashedSplit, (e, in) -> { }, null);
        assertEquals("busybox", smd.metadata().properties().get("os"));
        assertEquals("{{ instance.name }}\n", new String(smd.templates().get("hostname.tpl"), UTF_8));
        assertRootfs(unpack(squashedSplit, null));
    }

    /** A VM's disk, as unpackDisk hands it over. */
    private static byte[] disk(InstanceSource source) {
        byte[][] got = new byte[1][];
        ImageSources.unpackDisk(source, in -> got[0] = in.readAllBytes(), null);
        return got[0];
    }

    @Test
    void vmImagesUnifiedAndSplit() throws Exception {
        byte[] qcow2 = {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3, 42};
        Path vmTree = tree(false, true);
        Files.write(vmTree.resolve("rootfs.img"), qcow2);
        Path tarball = tarWithHostTools(vmTree, ImageCompression.ZSTD);
        ImageSources.check(true, InstanceSource.image(tarball));
        assertEquals(HexFormat.of().formatHex(qcow2), HexFormat.of().formatHex(disk(InstanceSource.image(tarball))));
        Path squashed = squashfs(vmTree);
        ImageSources.check(true, InstanceSource.image(squashed));
        assertEquals(HexFormat.of().formatHex(qcow2), HexFormat.of().formatHex(disk(InstanceSource.image(squashed))));
        Path metaTree = Files.createDirectories(dir.resolve("vm-meta"));
        Files.copy(vmTree.resolve("metadata.yaml"), metaTree.resolve("metadata.yaml"));
        Path meta = tarWithHostTools(metaTree, ImageCompression.GZIP);
        Path rootfs = Files.write(dir.resolve("disk.qcow2"), qcow2);
        InstanceSource split = InstanceSource.image(meta, rootfs);
        ImageSources.check(true, split);
        assertEquals(HexFormat.of().formatHex(qcow2), HexFormat.of().formatHex(disk(split)));
        Path empty = Files.write(dir.resolve("empty.qcow2"), new byte[0]);
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(true, InstanceSource.image(meta, empty)));
        assertEquals("Invalid image \"" + empty + "\": The disk of a virtual-machine image is empty", e.getMessage());
    }

    @Test
    void incompleteImagesAreRefusedNamingTheFile() throws Exception {
        // Metadata only: the image the issue reported as accepted with an empty rootfs.
        Path metadataOnly = tarWithHostTools(tree(false, true), ImageCompression.ZSTD);
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(false, InstanceSource.image(metadataOnly)));
        assertEquals("Invalid image \"" + metadataOnly + "\": Missing rootfs/ in image: it holds only metadata, no"
                + " root filesystem", e.getMessage());
        Path noMetadata = tarWithHostTools(tree(true, false), ImageCompression.GZIP);
        e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(false, InstanceSource.image(noMetadata)));
        assertEquals("Invalid image \"" + noMetadata + "\": Missing metadata.yaml in image", e.getMessage());
        // A container image for a VM, and a VM image for a container.
        e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(true, InstanceSource.image(tarWithHostTools(tree(true, true),
                        ImageCompression.NONE))));
        assertTrue(e.getMessage().endsWith("Missing rootfs.img in image: not a virtual-machine image"),
                e.getMessage());
        Path vmTree = tree(false, true);
        Files.write(vmTree.resolve("rootfs.img"), new byte[] {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3});
        Path vmImage = tarWithHostTools(vmTree, ImageCompression.XZ);
        ImageSources.check(true, InstanceSource.image(vmImage));
        e = assertThrows(InvalidArgumentException.class, () -> ImageSources.check(false,
                InstanceSource.image(vmImage)));
        assertTrue(e.getMessage().endsWith("it is a virtual-machine image (it holds rootfs.img)"), e.getMessage());
        // Split: missing files are not found, an empty rootfs tarball is refused.
        Path missing = dir.resolve("missing");
        NotFoundException nf = assertThrows(NotFoundException.class,
                () -> ImageSources.check(false, InstanceSource.image(metadataOnly, missing)));
        assertEquals("Image root filesystem file \"" + missing + "\" not found", nf.getMessage());
        Path emptyTar = dir.resolve("empty.tar");
        Files.write(emptyTar, new byte[1024]);
        e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(false, InstanceSource.image(metadataOnly, emptyTar)));
        assertTrue(e.getMessage().endsWith("The root filesystem tarball is empty"), e.getMessage());
    }

    /** The message of the refusal of {@code source} by {@code check}, which unpackRootfs must repeat. */
    private static String refusedByCheck(InstanceSource source) {
        return assertThrows(InvalidArgumentException.class, () -> ImageSources.check(false, source),
                source.toString()).getMessage();
    }

    @Test
    void unpackingRefusesWhatTheCheckBeforeUnpackingLetsThrough() throws Exception {
        // Decompressing is left to unpackRootfs (the image is read once): it refuses as check does.
        Path metadataOnly = tarWithHostTools(tree(false, true), ImageCompression.XZ);
        Path noMetadata = tarWithHostTools(tree(true, false), ImageCompression.GZIP);
        Path vmTree = tree(false, true);
        Files.write(vmTree.resolve("rootfs.img"), new byte[] {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3});
        Path vmImage = tarWithHostTools(vmTree, ImageCompression.XZ);
        Path garbage = dir.resolve("garbage");
        byte[] junk = new byte[4096];
        new java.util.Random(3).nextBytes(junk);
        Files.write(garbage, junk);
        Path emptyTar = Files.write(dir.resolve("empty.tar"), new byte[1024]);
        Path t = tree(true, true);
        Path metaTree = Files.createDirectories(dir.resolve("meta"));
        Files.copy(t.resolve("metadata.yaml"), metaTree.resolve("metadata.yaml"));
        Path meta = tarWithHostTools(metaTree, ImageCompression.GZIP);
        Path good = tarWithHostTools(t, ImageCompression.XZ);
        byte[] cutBytes = Files.readAllBytes(good);
        Path cut = Files.write(dir.resolve("cut"), java.util.Arrays.copyOf(cutBytes, cutBytes.length - 30));
        for (InstanceSource bad : List.of(InstanceSource.image(metadataOnly), InstanceSource.image(noMetadata),
                InstanceSource.image(vmImage), InstanceSource.image(garbage), InstanceSource.image(cut),
                InstanceSource.image(meta, emptyTar), InstanceSource.image(meta, garbage))) {
            String expected = refusedByCheck(bad);
            ImageSources.checkBeforeUnpack(bad);
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                    () -> ImageSources.unpackRootfs(bad, (entry, in) -> { }, null), bad.toString());
            assertEquals(expected, e.getMessage());
        }
        // What shows without decompressing is refused before: missing files, a bad metadata file.
        Path missing = dir.resolve("missing");
        assertThrows(NotFoundException.class, () -> ImageSources.checkBeforeUnpack(InstanceSource.image(missing)));
        assertThrows(NotFoundException.class,
                () -> ImageSources.checkBeforeUnpack(InstanceSource.image(meta, missing)));
        Path rootfsOnly = tarWithHostTools(t.resolve("rootfs"), ImageCompression.GZIP);
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.checkBeforeUnpack(InstanceSource.image(rootfsOnly, rootfsOnly)));
        assertEquals("Invalid image \"" + rootfsOnly + "\": Missing metadata.yaml in the image's metadata tarball",
                e.getMessage());
        // Good images pass both, and unpack whole.
        ImageSources.checkBeforeUnpack(InstanceSource.image(good));
        assertRootfs(unpack(InstanceSource.image(good), null));
    }

    @Test
    void aHardLinkOutOfTheRootFilesystemIsRefused() throws Exception {
        ByteArrayOutputStream tar = new ByteArrayOutputStream();
        try (ImageTar.Writer w = ImageTar.writer(tar)) {
            w.addFile("metadata.yaml", METADATA.getBytes(UTF_8), 0644);
            w.addDirectory("rootfs", 0755);
            w.add(new ImageTar.Entry("rootfs/passwd", Kind.HARDLINK, 0644, 0, 0, java.time.Instant.EPOCH, 0,
                    "metadata.yaml"), null);
        }
        Path image = Files.write(dir.resolve("hardlink.tar"), tar.toByteArray());
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.unpackRootfs(InstanceSource.image(image), (entry, in) -> { }, null));
        assertEquals("Invalid image \"" + image + "\": Invalid image: hard link rootfs/passwd points outside rootfs to"
                + " metadata.yaml", e.getMessage());
    }

    @Test
    void unknownFormatsAreNamedAsSuch() throws IOException {
        Path lz4 = dir.resolve("image.tar.gz"); // the name lies; the bytes are an lz4 frame, which Incus never writes
        Files.write(lz4, new byte[] {0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, (byte) 0xa7, 0, 0, 0, 0});
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(false, InstanceSource.image(lz4)));
        assertTrue(e.getMessage().contains("it is not a tar archive, nor one compressed with gzip, bzip2, xz, lzma or"
                + " zstd, nor a squashfs image"), e.getMessage());
    }

    @Test
    void escapingNamesAreRefusedInCompressedImagesToo() throws IOException {
        // Write an entry named rootfs/../../evil into the tar through Commons Compress's writer directly.
        ByteArrayOutputStream tar = new ByteArrayOutputStream();
        try (var cc = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(tar)) {
            var e = new org.apache.commons.compress.archivers.tar.TarArchiveEntry("rootfs/../../evil");
            e.setSize(1);
            cc.putArchiveEntry(e);
            cc.write('x');
            cc.closeArchiveEntry();
        }
        ByteArrayOutputStream zstd = new ByteArrayOutputStream();
        try (OutputStream z = ImageTar.compressing(zstd, ImageCompression.ZSTD)) {
            z.write(tar.toByteArray());
        }
        Path image = dir.resolve("evil");
        Files.write(image, zstd.toByteArray());
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ImageSources.check(false, InstanceSource.image(image)));
        assertTrue(e.getMessage().contains("escapes the archive root"), e.getMessage());
    }

    @Test
    void walkingAnUnpackedTreeNeverFollowsLinks() throws IOException {
        Path root = Files.createDirectories(dir.resolve("walk"));
        Path outside = Files.createDirectories(dir.resolve("outside"));
        Files.writeString(outside.resolve("secret"), "s");
        Files.createSymbolicLink(root.resolve("out"), outside);
        List<Entry> got = new ArrayList<>();
        ImageSources.walk(root, (e, in) -> got.add(e));
        assertEquals(1, got.size(), got.toString());
        assertEquals(Kind.SYMLINK, got.get(0).kind());
        assertEquals(outside.toString(), got.get(0).linkTarget());
    }
}
