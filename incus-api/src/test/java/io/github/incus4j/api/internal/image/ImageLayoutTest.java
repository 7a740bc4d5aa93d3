package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.ImageMetadataTemplate;
import io.github.incus4j.api.internal.image.ImageTar.Entry;
import io.github.incus4j.api.internal.image.ImageTar.Kind;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

/** Incus's image layouts (unified and split), the export metadata rules and progress reporting. */
class ImageLayoutTest {
    private static final Instant NOW = Instant.parse("2024-08-22T04:26:40Z");
    private static final Clock CLOCK = Clock.fixed(NOW, ZoneOffset.UTC);
    private static final Instant T = Instant.parse("2023-01-02T03:04:05Z");

    private static ImageMetadata sourceMetadata() {
        return new ImageMetadata("aarch64", 1_600_000_000L, 0,
                Map.of("os", "ubuntu", "release", "noble", "description", "Ubuntu 24.04"),
                Map.of("/etc/hostname", new ImageMetadataTemplate(List.of("create", "copy"), false, "hostname.tpl",
                        Map.of(), null, null, null)));
    }

    private static Map<String, byte[]> templateFiles() {
        Map<String, byte[]> files = new TreeMap<>();
        files.put("hostname.tpl", "{{ instance.name }}\n".getBytes(UTF_8));
        files.put("hosts.tpl", "127.0.1.1 {{ instance.name }}\n".getBytes(UTF_8));
        return files;
    }

    /** A small root filesystem: root dir, a dir, a file, a symlink and a hard link. */
    private static void rootfs(ImageTar.Writer out, String prefix) {
        out.add(new Entry(prefix, Kind.DIRECTORY, 0755, 0, 0, T, 0, ""), null);
        out.add(new Entry(prefix + "etc", Kind.DIRECTORY, 0755, 0, 0, T, 0, ""), null);
        byte[] os = "ID=ubuntu\n".getBytes(UTF_8);
        out.add(new Entry(prefix + "etc/os-release", Kind.FILE, 0644, 0, 0, T, os.length, ""), new ByteArrayInputStream(os));
        out.add(new Entry(prefix + "etc/lsb", Kind.SYMLINK, 0777, 0, 0, T, 0, "os-release"), null);
        out.add(new Entry(prefix + "etc/os-copy", Kind.HARDLINK, 0644, 0, 0, T, 0, prefix + "etc/os-release"), null);
    }

    private static byte[] unified(ImageMetadata metadata, ProgressTracker tracker) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageLayout.writeUnified(out, metadata, templateFiles(), ImageLayoutTest::rootfs, tracker);
        return out.toByteArray();
    }

    @Test
    void exportMetadataFollowsIncus() {
        ImageMetadata m = ImageLayout.exportMetadata(sourceMetadata(), "x86_64", Map.of("description", "Mine", "user", "me"),
                null, CLOCK);
        assertEquals("x86_64", m.architecture());
        assertEquals(NOW.getEpochSecond(), m.creationDate());
        assertEquals(0, m.expiryDate());
        assertEquals(Map.of("os", "ubuntu", "release", "noble", "description", "Mine", "user", "me"), m.properties());
        assertEquals(sourceMetadata().templates(), m.templates());

        ImageMetadata fresh = ImageLayout.exportMetadata(null, "x86_64", null, NOW.plusSeconds(3600), CLOCK);
        assertEquals(NOW.getEpochSecond() + 3600, fresh.expiryDate());
        assertEquals(Map.of(), fresh.properties());
        assertEquals(Map.of(), fresh.templates());
        assertEquals("aarch64", ImageLayout.exportMetadata(sourceMetadata(), null, null, null, CLOCK).architecture());
    }

    @Test
    void unifiedRoundTrip() throws IOException {
        ImageMetadata metadata = ImageLayout.exportMetadata(sourceMetadata(), "x86_64", Map.of(), null, CLOCK);
        byte[] tar = unified(metadata, null);

        List<String> order = new ArrayList<>();
        ImageTar.read(new ByteArrayInputStream(tar), (e, c) -> order.add(e.name()));
        assertEquals(List.of("metadata.yaml", "templates", "templates/hostname.tpl", "templates/hosts.tpl", "rootfs",
                "rootfs/etc", "rootfs/etc/os-release", "rootfs/etc/lsb", "rootfs/etc/os-copy"), order);

        // gzip-compressed, as images are usually stored.
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(tar);
        }
        for (byte[] image : List.of(tar, gz.toByteArray())) {
            Map<String, byte[]> templates = new TreeMap<>();
            Map<Entry, byte[]> rootfs = new LinkedHashMap<>();
            ImageMetadata read = ImageLayout.readUnified(new ByteArrayInputStream(image), templates,
                    (e, content) -> rootfs.put(e, content.readAllBytes()));
            assertEquals(metadata, read);
            assertEquals(templateFiles().keySet(), templates.keySet());
            templateFiles().forEach((k, v) -> assertArrayEquals(v, templates.get(k), k));
            assertEquals(List.of(
                    new Entry("etc", Kind.DIRECTORY, 0755, 0, 0, T, 0, ""),
                    new Entry("etc/os-release", Kind.FILE, 0644, 0, 0, T, 10, ""),
                    new Entry("etc/lsb", Kind.SYMLINK, 0777, 0, 0, T, 0, "os-release"),
                    new Entry("etc/os-copy", Kind.HARDLINK, 0644, 0, 0, T, 0, "etc/os-release")),
                    new ArrayList<>(rootfs.keySet()));
            assertEquals("ID=ubuntu\n", new String(rootfs.values().stream().toList().get(1), UTF_8));
        }
    }

    @Test
    void metadataYamlIsIncusShaped() throws IOException {
        ImageMetadata metadata = ImageLayout.exportMetadata(sourceMetadata(), "x86_64", Map.of(), null, CLOCK);
        String[] yaml = new String[1];
        ImageTar.read(new ByteArrayInputStream(unified(metadata, null)), (e, c) -> {
            if (e.name().equals("metadata.yaml")) {
                yaml[0] = new String(c.readAllBytes(), UTF_8);
            }
        });
        assertTrue(yaml[0].startsWith("architecture: x86_64\ncreation_date: " + NOW.getEpochSecond()
                + "\nexpiry_date: 0\n"), yaml[0]);
        assertTrue(yaml[0].contains("template: hostname.tpl"), yaml[0]);
    }

    @Test
    void splitRoundTrip() {
        ImageMetadata metadata = ImageLayout.exportMetadata(null, "x86_64", Map.of("os", "alpine"), null, CLOCK);
        ByteArrayOutputStream meta = new ByteArrayOutputStream();
        ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
        ImageLayout.writeSplit(meta, rootfs, metadata, templateFiles(), ImageLayoutTest::rootfs, null);

        List<String> metaNames = new ArrayList<>();
        ImageTar.read(new ByteArrayInputStream(meta.toByteArray()), (e, c) -> metaNames.add(e.name()));
        assertEquals(List.of("metadata.yaml", "templates", "templates/hostname.tpl", "templates/hosts.tpl"), metaNames);
        // The metadata tarball alone is a valid unified image without a rootfs.
        assertEquals(metadata, ImageLayout.readUnified(new ByteArrayInputStream(meta.toByteArray()), null, null));

        List<Entry> rootfsEntries = new ArrayList<>();
        ImageTar.read(new ByteArrayInputStream(rootfs.toByteArray()), (e, c) -> rootfsEntries.add(e));
        assertEquals(List.of("", "etc", "etc/os-release", "etc/lsb", "etc/os-copy"),
                rootfsEntries.stream().map(Entry::name).toList());
        assertEquals("etc/os-release", rootfsEntries.get(4).linkTarget());
        assertEquals("./", new String(rootfs.toByteArray(), 0, 2, UTF_8));
    }

    @Test
    void missingMetadataIsRefused() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ImageTar.Writer w = ImageTar.writer(out)) {
            rootfs(w, "rootfs/");
        }
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ImageLayout.readUnified(new ByteArrayInputStream(out.toByteArray()), null, null));
        assertEquals("Missing metadata.yaml in image", e.getMessage());
    }

    @Test
    void hardLinksOutOfTheRootfsAreRefused() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ImageTar.Writer w = ImageTar.writer(out)) {
            w.addFile("metadata.yaml", "architecture: x86_64\n".getBytes(UTF_8), 0644);
            w.add(new Entry("rootfs/meta", Kind.HARDLINK, 0644, 0, 0, T, 0, "metadata.yaml"), null);
        }
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ImageLayout.readUnified(new ByteArrayInputStream(out.toByteArray()), null, (x, c) -> { }));
        assertTrue(e.getMessage().contains("rootfs/meta"), e.getMessage());
    }

    @Test
    void badTemplateFileNamesAreRefusedBeforeWriting() {
        for (String bad : List.of("../x.tpl", "sub/x.tpl", "", "..")) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> ImageLayout.writeUnified(out,
                    sourceMetadata(), Map.of(bad, new byte[0]), ImageLayoutTest::rootfs, null));
            assertTrue(e.getMessage().contains("\"" + bad + "\""), e.getMessage());
            assertEquals(0, out.size());
        }
    }

    @Test
    void progressIncreasesToHundredWhenTheLengthIsKnown() {
        ImageMetadata metadata = ImageLayout.exportMetadata(sourceMetadata(), "x86_64", Map.of(), null, CLOCK);
        byte[] big = new byte[4 * 1024 * 1024];
        ImageLayout.RootfsWriter withBigFile = (out, prefix) -> {
            rootfs(out, prefix);
            out.add(new Entry(prefix + "big", Kind.FILE, 0644, 0, 0, T, big.length, ""), new ByteArrayInputStream(big));
        };
        ByteArrayOutputStream first = new ByteArrayOutputStream();
        ImageLayout.writeUnified(first, metadata, templateFiles(), withBigFile, null);

        List<Integer> percents = new ArrayList<>();
        List<Long> bytes = new ArrayList<>();
        ProgressTracker tracker = new ProgressTracker(first.size(), (percent, speed, total) -> {
            percents.add(percent);
            bytes.add(total);
        });
        ByteArrayOutputStream second = new ByteArrayOutputStream();
        ImageLayout.writeUnified(second, metadata, templateFiles(), withBigFile, tracker);

        assertEquals(first.size(), second.size());
        assertTrue(percents.size() > 10, percents.toString());
        for (int i = 1; i < percents.size(); i++) {
            assertTrue(percents.get(i) > percents.get(i - 1), percents.toString());
            assertTrue(bytes.get(i) > bytes.get(i - 1), bytes.toString());
        }
        assertEquals(100, percents.get(percents.size() - 1));
        assertEquals(first.size(), bytes.get(bytes.size() - 1));
    }

    @Test
    void fingerprintIsSha256Hex() {
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                ImageLayout.fingerprint("abc".getBytes(UTF_8)));
        assertEquals(64, ImageLayout.fingerprint(unified(sourceMetadata(), null)).length());
    }
}
