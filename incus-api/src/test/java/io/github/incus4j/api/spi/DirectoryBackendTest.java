package io.github.incus4j.api.spi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.io.FileAttributes;
import io.github.incus4j.api.model.IdmapSet;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link DirectoryBackend}: confinement to the root, and id shifting. */
class DirectoryBackendTest {
    @TempDir
    Path tmp;
    Path root;
    Path outside;
    DirectoryBackend b;

    @BeforeEach
    void tree() throws IOException {
        // root/ is the instance; outside/ stands for the host's files next to it.
        root = Files.createDirectories(tmp.resolve("c/rootfs"));
        outside = Files.createDirectories(tmp.resolve("host-etc"));
        Files.writeString(outside.resolve("shadow"), "HOST SECRET");
        Files.createDirectories(root.resolve("etc"));
        Files.writeString(root.resolve("etc/shadow"), "instance shadow");
        Files.writeString(root.resolve("etc/passwd"), "instance passwd");
        Files.createDirectories(root.resolve("tmp/deep/er"));
        b = new DirectoryBackend(root, null);
    }

    private String read(String path) {
        byte[] buf = new byte[256];
        try (FileBackend.Handle h = b.open(path, EnumSet.of(FileBackend.OpenFlag.READ), 0)) {
            int n = h.read(0, buf, 0, buf.length);
            return new String(buf, 0, Math.max(n, 0), StandardCharsets.UTF_8);
        }
    }

    @Test
    void absoluteSymlinkIsReRootedInsideTheRoot() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/shadow-link"), Path.of("/etc/shadow"));
        assertEquals("instance shadow", read("/tmp/shadow-link"));
        assertEquals(root.resolve("etc/shadow"), b.root().resolve(String.join("/", b.resolve("/tmp/shadow-link",
                true))));
        assertEquals("/etc/shadow", b.realpath("/tmp/shadow-link"));
    }

    @Test
    void dotDotSymlinkNeverClimbsAboveTheRoot() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/deep/er/climb"), Path.of("../../../../../../etc/passwd"));
        assertEquals("instance passwd", read("/tmp/deep/er/climb"));
        assertEquals("/etc/passwd", b.realpath("/tmp/deep/er/climb"));
        assertEquals("instance passwd", read("/../../../etc/passwd"));
        assertEquals("/etc/passwd", b.realpath("/tmp/../../../../etc/./passwd"));
    }

    @Test
    void symlinkToAHostPathFindsNothingOutside() throws IOException {
        // The absolute host path of a real file outside: inside the root it names nothing.
        Files.createSymbolicLink(root.resolve("tmp/to-host"), outside.resolve("shadow").toAbsolutePath());
        assertThrows(NotFoundException.class, () -> read("/tmp/to-host"));
        assertThrows(NotFoundException.class, () -> b.stat("/tmp/to-host"));
        assertTrue(b.lstat("/tmp/to-host").isSymlink());
        // A relative escape through an intermediate directory link stays inside too.
        Files.createSymbolicLink(root.resolve("tmp/up"), Path.of("../../../.."));
        assertEquals("instance shadow", read("/tmp/up/etc/shadow"));
        assertThrows(NotFoundException.class, () -> read("/tmp/up/host-etc/shadow"));
    }

    @Test
    void writesThroughAnEscapingLinkLandInside() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/w"), Path.of("../../../../host-etc/shadow"));
        assertThrows(NotFoundException.class, () -> b.open("/tmp/w", EnumSet.of(FileBackend.OpenFlag.WRITE,
                FileBackend.OpenFlag.CREATE), 0600), "no host-etc inside: the parent is missing");
        Files.createDirectory(root.resolve("host-etc"));
        try (FileBackend.Handle h = b.open("/tmp/w", EnumSet.of(FileBackend.OpenFlag.WRITE,
                FileBackend.OpenFlag.CREATE, FileBackend.OpenFlag.TRUNCATE), 0600)) {
            h.write(0, new byte[] {'x'}, 0, 1);
        }
        assertEquals("HOST SECRET", Files.readString(outside.resolve("shadow")));
        assertEquals("x", Files.readString(root.resolve("host-etc/shadow")));
        assertEquals(0600, b.stat("/host-etc/shadow").permissions());
    }

    @Test
    void finalSymlinkIsNotFollowedByEntryOperations() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/l"), Path.of("/etc/passwd"));
        b.remove("/tmp/l");
        assertTrue(Files.exists(root.resolve("etc/passwd")), "removing a link keeps its target");
        Files.createSymbolicLink(root.resolve("tmp/l2"), Path.of("/etc"));
        b.rename("/tmp/l2", "/tmp/l3");
        assertTrue(Files.isSymbolicLink(root.resolve("tmp/l3")));
        assertEquals("/etc", b.readlink("/tmp/l3"));
    }

    @Test
    void symlinkLoopsAreRefused() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/a"), Path.of("b"));
        Files.createSymbolicLink(root.resolve("tmp/b"), Path.of("a"));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> b.stat("/tmp/a"));
        assertTrue(e.getMessage().startsWith("Too many levels of symbolic links"), e.getMessage());
    }

    @Test
    void rootCannotBeRemovedOrRenamed() {
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/"));
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/.."));
        assertThrows(InvalidArgumentException.class, () -> b.rename("/", "/x"));
        assertTrue(Files.isDirectory(root));
    }

    @Test
    void errorsNameInstancePathsNotHostOnes() {
        NotFoundException e = assertThrows(NotFoundException.class, () -> b.stat("/no/such"));
        assertEquals("No such file or directory: \"/no/such\"", e.getMessage());
        assertThrows(BusyException.class, () -> b.mkdir("/etc", 0755));
        assertThrows(InvalidArgumentException.class, () -> b.remove("/etc"));
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/etc"));
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/etc/passwd"));
    }

    @Test
    void listIsSortedAndDoesNotFollowLinks() throws IOException {
        Files.createSymbolicLink(root.resolve("etc/zlink"), Path.of("/etc"));
        List<String> names = b.list("/etc").stream().map(e -> e.name()).toList();
        assertEquals(List.of("passwd", "shadow", "zlink"), names);
        assertTrue(b.list("/etc").get(2).attributes().isSymlink());
    }

    @Test
    void idsAreShiftedByTheIdmap() throws IOException {
        assumeTrue(isRoot(), "chown to other ids needs root");
        DirectoryBackend shifted = new DirectoryBackend(root, IdmapSet.ofRange(100000, 65536));
        shifted.mkdir("/made", 0750);
        assertEquals(100000, (int) Files.getAttribute(root.resolve("made"), "unix:uid"), "container root on host");
        FileAttributes a = shifted.stat("/made");
        assertEquals(0, a.uid());
        assertEquals(0, a.gid());
        assertEquals(0750, a.permissions());
        shifted.setattrs("/made", new FileBackend.AttrChanges(null, 1000, 1001, null, null));
        assertEquals(101000, (int) Files.getAttribute(root.resolve("made"), "unix:uid"));
        assertEquals(101001, (int) Files.getAttribute(root.resolve("made"), "unix:gid"));
        assertEquals(1000, shifted.stat("/made").uid());
        // A host id outside the map shows as the overflow id, as the kernel shows it.
        Files.setAttribute(root.resolve("etc/passwd"), "unix:uid", 5);
        assertEquals(DirectoryBackend.OVERFLOW_ID, shifted.stat("/etc/passwd").uid());
        assertThrows(InvalidArgumentException.class, () -> shifted.setattrs("/made",
                new FileBackend.AttrChanges(null, 70000, 0, null, null)), "an id outside the map is refused");
        try (FileBackend.Handle h = shifted.open("/new", EnumSet.of(FileBackend.OpenFlag.WRITE,
                FileBackend.OpenFlag.CREATE), 0640)) {
            h.write(0, new byte[] {1, 2}, 0, 2);
        }
        assertEquals(100000, (int) Files.getAttribute(root.resolve("new"), "unix:uid"));
        assertArrayEquals(new byte[] {1, 2}, Files.readAllBytes(root.resolve("new")));
    }

    @Test
    void badRootIsRefused() {
        assertThrows(NotFoundException.class, () -> new DirectoryBackend(tmp.resolve("missing"), null));
        assertThrows(InvalidArgumentException.class, () -> new DirectoryBackend(root.resolve("etc/passwd"), null));
    }

    private static boolean isRoot() throws IOException {
        return (int) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
    }
}
