package io.github.incus4j.lxc.binding;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.spi.FileBackend;
import io.github.incus4j.api.spi.FileBackend.OpenFlag;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link RootDirectory}: confinement to the root, special files, ownership of what it creates, id shifting. */
class RootDirectoryTest {
    private static final Duration FAST = Duration.ofSeconds(5);

    @TempDir
    Path tmp;
    Path root;
    Path outside;
    RootDirectory b;

    /** Skips the test, naming why, unless {@code openat2(2)} works here. */
    static void requireOpenat2() {
        try {
            FdCalls.get();
        } catch (NotSupportedException e) {
            assumeTrue(false, e.getMessage());
        }
    }

    @BeforeEach
    void tree() throws IOException {
        requireOpenat2();
        // root/ is the instance; outside/ stands for the host's files next to it.
        root = Files.createDirectories(tmp.resolve("c/rootfs"));
        outside = Files.createDirectories(tmp.resolve("host-etc"));
        Files.writeString(outside.resolve("shadow"), "HOST SECRET");
        Files.createDirectories(root.resolve("etc"));
        Files.writeString(root.resolve("etc/shadow"), "instance shadow");
        Files.writeString(root.resolve("etc/passwd"), "instance passwd");
        Files.createDirectories(root.resolve("tmp/deep/er"));
        b = new RootDirectory(root, null);
    }

    private String read(FileBackend fs, String path) {
        byte[] buf = new byte[256];
        try (FileBackend.Handle h = fs.open(path, EnumSet.of(OpenFlag.READ), 0)) {
            int n = h.read(0, buf, 0, buf.length);
            return new String(buf, 0, Math.max(n, 0), StandardCharsets.UTF_8);
        }
    }

    private String read(String path) {
        return read(b, path);
    }

    private static void write(FileBackend fs, String path, Set<OpenFlag> flags, int mode, String text) {
        byte[] data = text.getBytes(StandardCharsets.UTF_8);
        try (FileBackend.Handle h = fs.open(path, flags, mode)) {
            h.write(0, data, 0, data.length);
        }
    }

    // ---- confinement --------------------------------------------------------------------------------------------

    @Test
    void absoluteSymlinkIsReRootedInsideTheRoot() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/shadow-link"), Path.of("/etc/shadow"));
        assertEquals("instance shadow", read("/tmp/shadow-link"));
        assertEquals("/etc/shadow", b.realpath("/tmp/shadow-link"));
        Files.createSymbolicLink(root.resolve("tmp/slash"), Path.of("/"));
        assertEquals("instance passwd", read("/tmp/slash/etc/passwd"));
        assertEquals("/", b.realpath("/tmp/slash"));
    }

    @Test
    void dotDotSymlinkNeverClimbsAboveTheRoot() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/deep/er/climb"), Path.of("../../../../../../etc/passwd"));
        assertEquals("instance passwd", read("/tmp/deep/er/climb"));
        assertEquals("/etc/passwd", b.realpath("/tmp/deep/er/climb"));
        assertEquals("instance passwd", read("/../../../etc/passwd"));
        assertEquals("instance passwd", read("../../etc/passwd"));
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
        assertThrows(NotFoundException.class, () -> b.list("/tmp/up/host-etc"));
        assertThrows(NotFoundException.class, () -> b.mkdir("/tmp/up/host-etc/made", 0755));
        assertFalse(Files.exists(outside.resolve("made")));
    }

    @Test
    void writesThroughAnEscapingLinkLandInside() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/w"), Path.of("../../../../host-etc/shadow"));
        assertThrows(NotFoundException.class, () -> b.open("/tmp/w", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE),
                0600), "no host-etc inside: the parent is missing");
        Files.createDirectory(root.resolve("host-etc"));
        write(b, "/tmp/w", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE, OpenFlag.TRUNCATE), 0600, "x");
        assertEquals("HOST SECRET", Files.readString(outside.resolve("shadow")));
        assertEquals("x", Files.readString(root.resolve("host-etc/shadow")));
        assertEquals(0600, b.stat("/host-etc/shadow").permissions());
        // An absolute dangling link is created at its target inside the root too.
        Files.createSymbolicLink(root.resolve("tmp/abs"), outside.resolve("new-file").toAbsolutePath());
        Files.createDirectories(root.resolve(outside.toString().substring(1)));
        write(b, "/tmp/abs", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE), 0644, "y");
        assertFalse(Files.exists(outside.resolve("new-file")));
        assertEquals("y", Files.readString(root.resolve(outside.toString().substring(1)).resolve("new-file")));
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
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/tmp/l3"), "a link to a directory is no dir");
        assertTrue(Files.isDirectory(root.resolve("etc")));
    }

    @Test
    void symlinkLoopsAreRefused() throws IOException {
        Files.createSymbolicLink(root.resolve("tmp/a"), Path.of("b"));
        Files.createSymbolicLink(root.resolve("tmp/b"), Path.of("a"));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> b.stat("/tmp/a"));
        assertTrue(e.getMessage().startsWith("Too many levels of symbolic links"), e.getMessage());
        assertThrows(InvalidArgumentException.class, () -> b.open("/tmp/a", EnumSet.of(OpenFlag.WRITE,
                OpenFlag.CREATE), 0644));
    }

    @Test
    void rootCannotBeRemovedOrRenamed() {
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/"));
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/.."));
        assertThrows(InvalidArgumentException.class, () -> b.rename("/", "/x"));
        assertThrows(InvalidArgumentException.class, () -> b.rename("/etc", "/"));
        assertTrue(Files.isDirectory(root));
    }

    @Test
    void dotAndDotDotAreNoEntryNames() {
        for (String p : List.of("/tmp/.", "/tmp/..", "/tmp/deep/../.", "tmp/deep/..", "/tmp/deep/../")) {
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> b.rmdir(p), p);
            assertTrue(e.getMessage().contains("names no entry") && e.getMessage().contains(p), e.getMessage());
            assertThrows(InvalidArgumentException.class, () -> b.mkdir(p, 0755), p);
            assertThrows(InvalidArgumentException.class, () -> b.remove(p), p);
            assertThrows(InvalidArgumentException.class, () -> b.symlink("/etc", p), p);
            assertThrows(InvalidArgumentException.class, () -> b.rename(p, "/moved"), p);
            assertThrows(InvalidArgumentException.class, () -> b.rename("/etc/passwd", p), p);
        }
        assertTrue(Files.isDirectory(root.resolve("tmp/deep")));
        assertTrue(Files.exists(root.resolve("etc/passwd")));
    }

    @Test
    void errorsNameInstancePathsNotHostOnes() {
        NotFoundException e = assertThrows(NotFoundException.class, () -> b.stat("/no/such"));
        assertEquals("No such file or directory: \"/no/such\"", e.getMessage());
        BusyException busy = assertThrows(BusyException.class, () -> b.mkdir("/etc", 0755));
        assertEquals("File exists: \"/etc\"", busy.getMessage());
        assertThrows(InvalidArgumentException.class, () -> b.remove("/etc"));
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/etc"));
        assertThrows(InvalidArgumentException.class, () -> b.rmdir("/etc/passwd"));
        InvalidArgumentException dir = assertThrows(InvalidArgumentException.class,
                () -> b.open("/etc", EnumSet.of(OpenFlag.READ), 0));
        assertEquals("Is a directory: \"/etc\"", dir.getMessage());
        for (IncusException x : List.of(e, busy, dir)) {
            assertFalse(x.getMessage().contains(tmp.toString()), x.getMessage());
        }
        assertThrows(InvalidArgumentException.class, () -> b.stat("/etc\0/passwd"));
    }

    @Test
    void listIsSortedAndDoesNotFollowLinks() throws IOException {
        Files.createSymbolicLink(root.resolve("etc/zlink"), Path.of("/etc"));
        List<String> names = b.list("/etc").stream().map(e -> e.name()).toList();
        assertEquals(List.of("passwd", "shadow", "zlink"), names);
        assertTrue(b.list("/etc").get(2).attributes().isSymlink());
        assertEquals(15, b.list("/etc").get(0).attributes().size());
        assertThrows(InvalidArgumentException.class, () -> b.list("/etc/passwd"));
        for (int i = 0; i < 1500; i++) {
            Files.createFile(root.resolve("tmp/deep/f" + i)); // more than one getdents64 buffer
        }
        assertEquals(1501, b.list("/tmp/deep").size());
    }

    @Test
    void readWriteAppendTruncateAndAttributes() throws IOException {
        write(b, "/tmp/f", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE, OpenFlag.TRUNCATE), 0644, "hello");
        write(b, "/tmp/f", EnumSet.of(OpenFlag.APPEND), 0644, " world");
        assertEquals("hello world", Files.readString(root.resolve("tmp/f")));
        write(b, "/tmp/f", EnumSet.of(OpenFlag.WRITE), 0644, "J");
        assertEquals("Jello world", read("/tmp/f"));
        byte[] buf = new byte[10];
        try (FileBackend.Handle h = b.open("/tmp/f", EnumSet.of(OpenFlag.READ), 0)) {
            assertEquals(5, h.read(6, buf, 3, 7));
            assertEquals("world", new String(buf, 3, 5, StandardCharsets.UTF_8));
            assertEquals(-1, h.read(11, buf, 0, 5));
            assertThrows(PermissionDeniedException.class, () -> h.write(0, buf, 0, 1));
        }
        assertThrows(BusyException.class, () -> b.open("/tmp/f", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE,
                OpenFlag.EXCLUSIVE), 0644));
        write(b, "/tmp/f", EnumSet.of(OpenFlag.WRITE, OpenFlag.TRUNCATE), 0644, "ab");
        assertEquals("ab", read("/tmp/f"));
        assertThrows(NotFoundException.class, () -> b.open("/tmp/none", EnumSet.of(OpenFlag.WRITE), 0644));
        b.setattrs("/tmp/f", new FileBackend.AttrChanges(0600, null, null, Instant.ofEpochSecond(1_000_000), 5L));
        FileAttributes a = b.stat("/tmp/f");
        assertEquals(0600, a.permissions());
        assertEquals(5, a.size());
        assertEquals(Instant.ofEpochSecond(1_000_000), a.modified());
        b.setattrs("/tmp/f", new FileBackend.AttrChanges(null, null, null, null, 1L));
        assertEquals("a", read("/tmp/f"));
        assertEquals("/tmp/deep/missing/x", b.realpath("/tmp/deep/er/../missing/x"));
        assertEquals("/tmp", b.realpath("/tmp/deep/missing/../.."));
        assertEquals("/", b.realpath(""));
    }

    // ---- special files ------------------------------------------------------------------------------------------

    @Test
    void fifoSocketAndDeviceAreRefusedAtOnce() throws Exception {
        assumeTrue(TestLxc.isRoot(), "mknod needs root");
        run("mkfifo", root.resolve("tmp/fifo").toString());
        run("mknod", root.resolve("tmp/null").toString(), "c", "1", "3");
        try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            s.bind(UnixDomainSocketAddress.of(root.resolve("tmp/sock")));
            Map<String, String> kinds = Map.of("/tmp/fifo", "a FIFO", "/tmp/sock", "a socket",
                    "/tmp/null", "a character device");
            Files.createSymbolicLink(root.resolve("tmp/to-fifo"), Path.of("/tmp/fifo"));
            for (String p : List.of("/tmp/fifo", "/tmp/sock", "/tmp/null", "/tmp/to-fifo")) {
                String kind = kinds.getOrDefault(p, "a FIFO");
                for (Set<OpenFlag> flags : List.of(EnumSet.of(OpenFlag.READ), EnumSet.of(OpenFlag.WRITE),
                        EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE, OpenFlag.TRUNCATE),
                        EnumSet.of(OpenFlag.APPEND, OpenFlag.READ))) {
                    InvalidArgumentException e = assertTimeoutPreemptively(FAST,
                            () -> assertThrows(InvalidArgumentException.class, () -> b.open(p, flags, 0644)),
                            p + " " + flags);
                    assertEquals("Not a regular file: \"" + p + "\" is " + kind
                            + "; only regular files can be read or written", e.getMessage());
                }
                assertTimeoutPreemptively(FAST, () -> assertThrows(InvalidArgumentException.class,
                        () -> b.setattrs(p, new FileBackend.AttrChanges(null, null, null, null, 0L))));
                assertThrows(InvalidArgumentException.class, () -> b.list(p));
            }
            // Entry and attribute operations on them are fine: nothing is opened.
            assertEquals(0010000, b.stat("/tmp/fifo").mode() & FileAttributes.S_IFMT);
            b.setattrs("/tmp/fifo", new FileBackend.AttrChanges(0600, null, null, null, null));
            assertEquals(0600, b.stat("/tmp/fifo").permissions());
            b.remove("/tmp/fifo");
            assertFalse(Files.exists(root.resolve("tmp/fifo")));
        }
    }

    // ---- ownership ----------------------------------------------------------------------------------------------

    @Test
    void ownerAndModeAreSetOnlyOnWhatACallCreated() throws IOException {
        assumeTrue(TestLxc.isRoot(), "chown to other ids needs root");
        RootDirectory shifted = new RootDirectory(root, IdmapSet.ofRange(1000000, 65536));
        // New: the container's root owns it, with exactly the mode asked (the umask does not narrow it).
        write(shifted, "/tmp/new", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE), 0666, "n");
        assertOwner(root.resolve("tmp/new"), 1000000, 1000000, "rw-rw-rw-");
        shifted.mkdir("/tmp/newdir", 0777);
        assertOwner(root.resolve("tmp/newdir"), 1000000, 1000000, "rwxrwxrwx");
        shifted.symlink("/etc/passwd", "/tmp/newlink");
        assertEquals(1000000, (int) Files.getAttribute(root.resolve("tmp/newlink"), "unix:uid",
                java.nio.file.LinkOption.NOFOLLOW_LINKS));
        // Existing: read, written, truncated, appended, opened with CREATE: owner and mode never change.
        Path old = root.resolve("etc/passwd");
        Files.setAttribute(old, "unix:uid", 1234);
        Files.setAttribute(old, "unix:gid", 4321);
        Files.setPosixFilePermissions(old, PosixFilePermissions.fromString("rw----r--"));
        read(shifted, "/etc/passwd");
        write(shifted, "/etc/passwd", EnumSet.of(OpenFlag.WRITE), 0777, "w");
        write(shifted, "/etc/passwd", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE, OpenFlag.TRUNCATE), 0777, "t");
        write(shifted, "/etc/passwd", EnumSet.of(OpenFlag.APPEND, OpenFlag.CREATE), 0777, "a");
        assertEquals("ta", Files.readString(old));
        assertOwner(old, 1234, 4321, "rw----r--");
        assertThrows(BusyException.class, () -> shifted.mkdir("/etc", 0777));
        assertOwner(root.resolve("etc"), 0, 0, "rwxr-xr-x");
    }

    private static void assertOwner(Path p, int uid, int gid, String perms) throws IOException {
        assertEquals(uid, (int) Files.getAttribute(p, "unix:uid"), p + " uid");
        assertEquals(gid, (int) Files.getAttribute(p, "unix:gid"), p + " gid");
        assertEquals(perms, PosixFilePermissions.toString(Files.getPosixFilePermissions(p)), p + " mode");
    }

    @Test
    void idsAreShiftedByTheIdmap() throws IOException {
        assumeTrue(TestLxc.isRoot(), "chown to other ids needs root");
        RootDirectory shifted = new RootDirectory(root, IdmapSet.ofRange(100000, 65536));
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
        assertEquals(1000, shifted.list("/").stream().filter(e -> e.name().equals("made")).findFirst()
                .orElseThrow().attributes().uid());
        // A host id outside the map shows as the overflow id, as the kernel shows it.
        Files.setAttribute(root.resolve("etc/passwd"), "unix:uid", 5);
        assertEquals(RootDirectory.OVERFLOW_ID, shifted.stat("/etc/passwd").uid());
        assertThrows(InvalidArgumentException.class, () -> shifted.setattrs("/made",
                new FileBackend.AttrChanges(null, 70000, 0, null, null)), "an id outside the map is refused");
        try (FileBackend.Handle h = shifted.open("/new", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE), 0640)) {
            h.write(0, new byte[] {1, 2}, 0, 2);
        }
        assertEquals(100000, (int) Files.getAttribute(root.resolve("new"), "unix:uid"));
        assertArrayEquals(new byte[] {1, 2}, Files.readAllBytes(root.resolve("new")));
    }

    @Test
    void badRootIsRefused() {
        assertThrows(NotFoundException.class, () -> new RootDirectory(tmp.resolve("missing"), null));
        assertThrows(InvalidArgumentException.class, () -> new RootDirectory(root.resolve("etc/passwd"), null));
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", command) + ": " + out);
    }
}
