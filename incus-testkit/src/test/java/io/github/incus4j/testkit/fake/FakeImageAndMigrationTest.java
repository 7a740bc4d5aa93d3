package io.github.incus4j.testkit.fake;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.ImageMetadataTemplate;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.file.SftpClient;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class FakeImageAndMigrationTest extends FakeFixture {

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Every file of a tree: path to content (directories and links as markers), with modes and owners. */
    private static Map<String, String> listing(Instance i) {
        Map<String, String> out = new TreeMap<>();
        try (SftpClient f = i.fileSftp()) {
            walk(f, "/", out);
        }
        return out;
    }

    private static void walk(SftpClient f, String dir, Map<String, String> out) {
        for (SftpClient.Entry e : f.list(dir)) {
            String p = (dir.equals("/") ? "" : dir) + "/" + e.name();
            var a = e.attributes();
            String meta = Integer.toOctalString(a.mode()) + " " + a.uid() + ":" + a.gid();
            if (a.isDirectory()) {
                out.put(p, meta + " dir");
                walk(f, p, out);
            } else if (a.isSymlink()) {
                out.put(p, meta + " -> " + f.readlink(p));
            } else {
                out.put(p, meta + " " + new String(f.readAllBytes(p), StandardCharsets.UTF_8));
            }
        }
    }

    @Test
    void exportThenCreateRoundTrips() throws Exception {
        FakeInstance c1 = busybox("c1");
        try (SftpClient f = c1.fileSftp()) {
            f.mkdirs("/srv/app", 0700);
            f.write("/srv/app/config", utf8("answer=42\n"));
            f.chown("/srv/app/config", 1000, 1000);
        }
        Path tarball = root.resolve("c1.tar");
        List<Integer> progress = new ArrayList<>();
        ImageMetadata md;
        try (OutputStream out = Files.newOutputStream(tarball)) {
            md = c1.export(out, null, Map.of("os", "fakeos", "release", "1"), null,
                    new io.github.incus4j.api.operation.ProgressTracker(0, (pct, speed, bytes) -> progress.add(pct)));
        }
        assertEquals("fakeos", md.properties().get("os"));
        assertEquals(clock.instant().getEpochSecond(), md.creationDate());
        Instance c2 = incus.create(InstanceArgs.builder("c2").build(), InstanceSource.image(tarball));
        Map<String, String> a = listing(c1);
        Map<String, String> b = listing(c2);
        a.remove("/etc/hostname");
        b.remove("/etc/hostname");
        assertEquals(a, b);
        assertEquals("fakeos", c2.localConfig().get("image.os"));
        assertEquals(ImageLayout.fingerprint(Files.readAllBytes(tarball)), c2.localConfig().get("volatile.base_image"));
        assertEquals("create", c2.localConfig().get("volatile.apply_template"));
        assertThrows(io.github.incus4j.api.InstanceStateException.class, () -> {
            c1.start(false);
            try {
                c1.export(OutputStream.nullOutputStream(), null, Map.of(), null, null);
            } finally {
                c1.stop(false);
            }
        });
    }

    @Test
    void splitExportWritesMetadataAndRootfsApart() throws Exception {
        FakeInstance c1 = container("c1");
        ByteArrayOutputStream meta = new ByteArrayOutputStream();
        ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
        c1.export(meta, rootfs, Map.of(), null, null);
        List<String> metaNames = names(meta.toByteArray());
        List<String> rootNames = names(rootfs.toByteArray());
        assertTrue(metaNames.contains("metadata.yaml"), metaNames.toString());
        assertFalse(metaNames.stream().anyMatch(n -> n.contains("passwd")), metaNames.toString());
        assertTrue(rootNames.stream().anyMatch(n -> n.endsWith("etc/passwd")), rootNames.toString());
    }

    private static List<String> names(byte[] tar) throws IOException {
        List<String> out = new ArrayList<>();
        ImageTar.read(new java.io.ByteArrayInputStream(tar), (e, in) -> out.add(e.name()));
        return out;
    }

    /** A unified image with a hostname template applied on create and a start template. */
    private Path imageWithTemplates() throws IOException {
        ImageMetadata md = new ImageMetadata("x86_64", 1_700_000_000L, 0, Map.of("os", "tmpl"), Map.of(
                "/etc/hostname", new ImageMetadataTemplate(List.of("create", "copy"), false, "hostname.tpl", Map.of(),
                        null, null, null),
                "/etc/motd", new ImageMetadataTemplate(List.of("start"), false, "motd.tpl", Map.of(), null, null,
                        null)));
        Path p = root.resolve("tmpl.tar");
        try (OutputStream out = Files.newOutputStream(p)) {
            ImageLayout.writeUnified(out, md, Map.of("hostname.tpl", utf8("{{ instance.name }}\n"), "motd.tpl",
                    utf8("Welcome to {{ instance.name }}\n")), (w, prefix) -> {
                        w.addDirectory(prefix + "etc", 0755);
                        w.addFile(prefix + "etc/hostname", utf8("template-host\n"), 0644);
                    }, null);
        }
        return p;
    }

    @Test
    void createTemplatesWaitForTheFirstStart() throws Exception {
        Instance c = incus.create(InstanceArgs.builder("web").build(), InstanceSource.image(imageWithTemplates()));
        assertEquals(io.github.incus4j.api.Architectures.X86_64, c.architecture());
        try (SftpClient f = c.fileSftp()) {
            assertEquals("template-host\n", new String(f.readAllBytes("/etc/hostname"), StandardCharsets.UTF_8));
        }
        assertTrue(Files.isRegularFile(c.path().resolve("metadata.yaml")));
        assertTrue(Files.isRegularFile(c.templatesPath().resolve("motd.tpl")));
        c.start(false);
        assertFalse(c.localConfig().containsKey("volatile.apply_template"));
        try (SftpClient f = c.fileSftp()) {
            assertEquals("web\n", new String(f.readAllBytes("/etc/hostname"), StandardCharsets.UTF_8));
            assertEquals("Welcome to web\n", new String(f.readAllBytes("/etc/motd"), StandardCharsets.UTF_8));
        }
        c.stop(false);
        // Exporting keeps the source image's metadata and templates.
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageMetadata md = c.export(out, null, Map.of(), null, null);
        assertEquals(2, md.templates().size());
        assertTrue(names(out.toByteArray()).contains("templates/motd.tpl"));
    }

    @Test
    void rebuildReplacesTheTree() throws Exception {
        Path image = imageWithTemplates();
        FakeInstance c = busybox("c1");
        c.rebuild(io.github.incus4j.api.model.Image.fromTarball(image, "abc", "container",
                RestJson.fromYaml(RestJson.toYaml(new ImageMetadata("x86_64", 0, 0, Map.of("os", "tmpl"), Map.of())),
                        ImageMetadata.class)), null);
        try (SftpClient f = c.fileSftp()) {
            assertFalse(f.exists("/bin/busybox"));
            assertEquals("template-host\n", new String(f.readAllBytes("/etc/hostname"), StandardCharsets.UTF_8));
        }
        assertEquals("abc", c.localConfig().get("volatile.base_image"));
        c.rebuild(null, null);
        try (SftpClient f = c.fileSftp()) {
            assertEquals("c1\n", new String(f.readAllBytes("/etc/hostname"), StandardCharsets.UTF_8));
        }
    }

    @Test
    void rootfsDirectoriesAreCopied() throws Exception {
        Path dir = root.resolve("tree");
        Files.createDirectories(dir.resolve("etc"));
        Files.writeString(dir.resolve("etc/os-release"), "NAME=hosty\n");
        Files.createSymbolicLink(dir.resolve("link"), Path.of("etc/os-release"));
        Instance c = incus.create(InstanceArgs.builder("c1").build(), InstanceSource.rootfs(dir));
        try (SftpClient f = c.fileSftp()) {
            assertEquals("NAME=hosty\n", new String(f.readAllBytes("/link"), StandardCharsets.UTF_8));
        }
    }

    @Test
    void liveMigrationMovesTheRunningInstance() throws Exception {
        FakeInstance src = (FakeInstance) incus.create(InstanceArgs.builder("c1")
                .config("migration.stateful", "true").config("user.tag", "moved").build(),
                InstanceSource.template("busybox", Map.of()));
        try (SftpClient f = src.fileSftp()) {
            f.write("/root/data", utf8("v1"));
        }
        src.snapshot("snap0", null, false);
        try (SftpClient f = src.fileSftp()) {
            f.write("/root/data", utf8("v2"));
        }
        src.start(false);
        clock.advance(Duration.ofSeconds(50));
        long cpu = src.renderState(null).cpu().usage();
        try (FakeInstances other = FakeDriver.open(root.resolve("other"), WAIT, clock)) {
            Instance dst = other.create(InstanceArgs.builder("c1").build(), InstanceSource.none());
            FakeMigration.migrate(src, dst, true, true, WAIT);
            assertEquals(StatusCode.STOPPED, src.statusCode());
            assertEquals(StatusCode.RUNNING, dst.statusCode());
            assertEquals("moved", dst.localConfig().get("user.tag"));
            assertTrue(dst.renderState(null).cpu().usage() >= cpu);
            assertEquals("v2", run(dst, "cat", "/root/data").out());
            assertEquals(1, dst.snapshots().size());
            try (SftpClient f = dst.snapshots().get(0).fileSftp()) {
                assertArrayEquals(utf8("v1"), f.readAllBytes("/root/data"));
            }
        }
    }

    @Test
    void coldMigrationAndFailures() throws Exception {
        FakeInstance src = busybox("c1");
        try (FakeInstances other = FakeDriver.open(root.resolve("other"), WAIT, clock)) {
            Instance dst = other.create(InstanceArgs.builder("c9").build(), InstanceSource.none());
            FakeMigration.migrate(src, dst, false, false, WAIT);
            assertEquals(StatusCode.STOPPED, dst.statusCode());
            assertEquals("c9", dst.name());
            try (SftpClient f = dst.fileSftp()) {
                assertTrue(f.exists("/bin/busybox"));
            }
            Instance vmTarget = other.create(InstanceArgs.builder("v1").type(InstanceType.VM).build(),
                    InstanceSource.none());
            InvalidArgumentException mismatch = assertThrows(InvalidArgumentException.class,
                    () -> FakeMigration.migrate(src, vmTarget, false, false, WAIT));
            assertTrue(mismatch.getMessage().contains("type mismatch"), mismatch.getMessage());
            Instance t2 = other.create(InstanceArgs.builder("c2").build(), InstanceSource.none());
            src.start(false);
            assertThrows(InvalidArgumentException.class, () -> FakeMigration.migrate(src, t2, true, false,
                    Duration.ofSeconds(2)));
            incus.faults().failNext("migrate", 1, () -> new IncusException("link down"));
            IncusException down = assertThrows(IncusException.class,
                    () -> FakeMigration.migrate(src, t2, false, false, Duration.ofSeconds(2)));
            assertEquals("link down", down.getMessage());
            assertTrue(src.isRunning());
        }
    }
}
