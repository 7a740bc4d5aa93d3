package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.spi.FileBackend;
import io.github.incus4j.api.internal.sftp.FileBackends;
import io.github.incus4j.api.internal.sftp.SftpServer;
import io.github.incus4j.api.internal.sftp.WireSftpClient;
import io.github.incus4j.lxc.binding.RootDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link SftpServer} over {@link RootDirectory}, as {@code fileSftpConn()} serves a container's root filesystem, with
 * our {@link WireSftpClient} (what {@code fileSftp()} returns) as client. sshj's SFTP engine, a third-party client,
 * is run against the same server in the testkit's {@code FakeSftpSshjTest}.
 */
class RootDirectorySftpTest {
    @TempDir
    Path root;

    private CompletableFuture<Void> served;

    @BeforeEach
    void needsOpenat2() {
        try {
            new RootDirectory(root, null);
        } catch (NotSupportedException e) {
            assumeTrue(false, e.getMessage());
        }
    }

    private FileBackend backend() {
        return new RootDirectory(root, null);
    }

    /** A session served on its own thread over {@code backend}, as the driver serves one. */
    private io.github.incus4j.api.io.Connection serve(FileBackend backend) {
        return SftpServer.open(backend, task -> served = CompletableFuture.runAsync(task));
    }

    /** A client talking to a server on its own thread over {@code backend}. */
    private WireSftpClient connect(FileBackend backend) throws IOException {
        return WireSftpClient.open(serve(backend));
    }

    @AfterEach
    void serverEnded() throws Exception {
        if (served != null) {
            served.get(10, TimeUnit.SECONDS);
        }
    }

    private static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    @Test
    void filesRoundTripOverTheWire() throws IOException {
        try (WireSftpClient c = connect(backend())) {
            c.mkdirs("/srv/app", 0755);
            c.write("/srv/app/hello.txt", "hello wire".getBytes(StandardCharsets.UTF_8));
            assertEquals("hello wire", Files.readString(root.resolve("srv/app/hello.txt")));
            assertEquals("hello wire", utf8(c.readAllBytes("/srv/app/hello.txt")));
            FileAttributes a = c.stat("/srv/app/hello.txt");
            assertEquals(10, a.size());
            assertTrue(a.isRegularFile());
            assertEquals(0644, a.permissions());
            assertTrue(c.stat("/srv/app").isDirectory());
        }
    }

    @Test
    void largeFileCrossesInManyPackets() throws IOException {
        byte[] data = new byte[1 << 20 | 12345];
        new Random(3).nextBytes(data);
        try (WireSftpClient c = connect(backend())) {
            c.write("/big", data);
            assertArrayEquals(data, Files.readAllBytes(root.resolve("big")));
            assertArrayEquals(data, c.readAllBytes("/big"));
        }
    }

    @Test
    void listsRenamesLinksAndRemoves() throws IOException {
        try (WireSftpClient c = connect(backend())) {
            c.mkdir("/d", 0750);
            assertEquals(0750, c.stat("/d").permissions());
            for (String n : List.of("b", "a", "c")) {
                c.write("/d/" + n, n.getBytes(StandardCharsets.UTF_8));
            }
            c.mkdir("/d/sub", 0755);
            assertEquals(List.of("a", "b", "c", "sub"), c.list("/d").stream().map(SftpClient.Entry::name).toList());
            assertTrue(c.list("/d").get(3).attributes().isDirectory());

            c.rename("/d/a", "/d/z");
            assertFalse(c.exists("/d/a"));
            assertEquals("a", utf8(c.readAllBytes("/d/z")));

            c.symlink("/d/z", "/d/link");
            assertEquals("/d/z", c.readlink("/d/link"));
            assertEquals("/d/z", Files.readSymbolicLink(root.resolve("d/link")).toString(), "target stored verbatim");
            assertTrue(c.lstat("/d/link").isSymlink());
            assertTrue(c.stat("/d/link").isRegularFile());
            assertEquals("/d/z", c.realpath("/d/sub/../link"));

            c.chmod("/d/z", 0600);
            assertEquals(0600, c.stat("/d/z").permissions());
            // Giving a file away takes root (CAP_CHOWN); elsewhere the refusal must be the API's exception.
            int owner = (int) Files.getAttribute(root.resolve("d/z"), "unix:uid");
            if (owner == 0) {
                c.chown("/d/z", 1234, 4321);
                assertEquals(1234, (int) Files.getAttribute(root.resolve("d/z"), "unix:uid"));
                assertEquals(4321, (int) Files.getAttribute(root.resolve("d/z"), "unix:gid"));
            } else {
                assertThrows(PermissionDeniedException.class, () -> c.chown("/d/z", 1234, 4321));
                assertEquals(owner, (int) Files.getAttribute(root.resolve("d/z"), "unix:uid"));
            }
            c.setstat("/d/z", new FileBackend.AttrChanges(null, null, null, Instant.ofEpochSecond(1_000_000), 0L));
            assertEquals(Instant.ofEpochSecond(1_000_000), c.stat("/d/z").modified());
            assertEquals(0, c.stat("/d/z").size());

            c.remove("/d/link");
            assertTrue(Files.exists(root.resolve("d/z")), "removing a link leaves its target");
            assertThrows(InvalidArgumentException.class, () -> c.rmdir("/d"));
            assertThrows(InvalidArgumentException.class, () -> c.remove("/d/sub"));
            c.rmdir("/d/sub");
            assertFalse(Files.exists(root.resolve("d/sub")));
        }
    }

    @Test
    void errorsMapToTheApiExceptions() throws IOException {
        try (WireSftpClient c = connect(backend())) {
            assertFalse(c.exists("/no/such"));
            assertThrows(NotFoundException.class, () -> c.stat("/no/such"));
            assertThrows(NotFoundException.class, () -> c.readAllBytes("/no/such"));
            assertThrows(NotFoundException.class, () -> c.list("/no/such"));
            assertThrows(NotFoundException.class, () -> c.remove("/no/such"));
            c.mkdir("/x", 0755);
            BusyException e = assertThrows(BusyException.class, () -> c.mkdir("/x", 0755));
            assertTrue(e.getMessage().contains("\"/x\""), e.getMessage());
            assertThrows(InvalidArgumentException.class, () -> c.readlink("/x"));
            c.write("/x/f", new byte[] {1});
            assertEquals(1, c.readAllBytes("/x/f").length, "the session survives failed requests");
        }
    }

    @Test
    void confinedOverTheWire() throws IOException {
        try (WireSftpClient c = connect(backend())) {
            c.mkdirs("/etc", 0755);
            c.write("/etc/passwd", "instance passwd".getBytes(StandardCharsets.UTF_8));
            c.symlink("/etc/passwd", "/abs");
            c.symlink("../../../../../etc/passwd", "/rel");
            assertEquals("instance passwd", utf8(c.readAllBytes("/abs")));
            assertEquals("instance passwd", utf8(c.readAllBytes("/rel")));
            assertEquals("instance passwd", utf8(c.readAllBytes("/../../../etc/passwd")));
            assertEquals("/etc/passwd", c.realpath("/rel"));
            c.write("/../../escaped", new byte[] {7});
            assertTrue(Files.exists(root.resolve("escaped")));
        }
    }

    @Test
    void sftpClientBackendServesOverTheWire() throws Exception {
        // Two hops: wire client -> server over FileBackends.of(wire client) -> server over the directory.
        WireSftpClient inner = connect(backend());
        CompletableFuture<Void> innerServed = served;
        try (WireSftpClient c = connect(FileBackends.of(inner))) {
            c.mkdirs("/a/b", 0755);
            byte[] data = new byte[200_000];
            new Random(5).nextBytes(data);
            c.write("/a/b/f", data);
            assertArrayEquals(data, Files.readAllBytes(root.resolve("a/b/f")));
            assertArrayEquals(data, c.readAllBytes("/a/b/f"));
            c.symlink("/a/b/f", "/a/l");
            assertEquals("/a/b/f", c.realpath("/a/l"));
            assertEquals(List.of("b", "l"), c.list("/a").stream().map(SftpClient.Entry::name).toList());
            assertThrows(NotFoundException.class, () -> c.stat("/a/nothing"));
            assertThrows(BusyException.class, () -> c.mkdir("/a/b", 0755));
        } finally {
            served.get(10, TimeUnit.SECONDS);
            inner.close();
            served = innerServed;
        }
    }

    @Test
    void sftpClientBackendSupportsAppendAndPartialWrites() throws IOException, TimeoutException {
        WireSftpClient inner = connect(backend());
        FileBackend b = FileBackends.of(inner);
        try {
            inner.write("/f", "hello".getBytes(StandardCharsets.UTF_8));
            try (FileBackend.Handle h = b.open("/f", java.util.EnumSet.of(FileBackend.OpenFlag.APPEND), 0644)) {
                h.write(0, " world".getBytes(StandardCharsets.UTF_8), 0, 6);
            }
            assertEquals("hello world", Files.readString(root.resolve("f")));
            try (FileBackend.Handle h = b.open("/f", java.util.EnumSet.of(FileBackend.OpenFlag.WRITE), 0644)) {
                h.write(0, "J".getBytes(StandardCharsets.UTF_8), 0, 1);
            }
            assertEquals("Jello world", Files.readString(root.resolve("f")));
            assertThrows(BusyException.class, () -> b.open("/f", java.util.EnumSet.of(FileBackend.OpenFlag.WRITE,
                    FileBackend.OpenFlag.CREATE, FileBackend.OpenFlag.EXCLUSIVE), 0644));
            byte[] buf = new byte[5];
            try (FileBackend.Handle h = b.open("/f", java.util.EnumSet.of(FileBackend.OpenFlag.READ), 0)) {
                assertEquals(5, h.read(6, buf, 0, 5));
                assertEquals("world", utf8(buf));
                assertEquals(5, h.read(0, buf, 0, 5), "a backward seek reopens");
                assertEquals("Jello", utf8(buf));
                assertEquals(-1, h.read(11, buf, 0, 5));
            }
        } finally {
            inner.close();
        }
    }

    @Test
    void aLargeFileAndSymlinksOverTheRootDirectory() throws Exception {
        try (SftpClient c = connect(backend())) {
            c.mkdirs("/srv/big", 0755);
            byte[] data = new byte[500_000];
            new Random(7).nextBytes(data);
            c.write("/srv/big/f", data);
            assertArrayEquals(data, c.readAllBytes("/srv/big/f"));
            c.rename("/srv/big/f", "/srv/big/moved");
            c.symlink("/srv/big/moved", "/srv/big/link");
            assertEquals("/srv/big/moved", c.readlink("/srv/big/link"));
            assertTrue(c.lstat("/srv/big/link").isSymlink());
            c.remove("/srv/big/link");
            assertEquals(List.of("moved"), c.list("/srv/big").stream().map(SftpClient.Entry::name).toList());
        }
        assertEquals(500_000, Files.size(root.resolve("srv/big/moved")));
    }

    @Test
    void aFifoFailsFastOverTheWire() throws Exception {
        Process p = new ProcessBuilder("mkfifo", root.resolve("fifo").toString()).redirectErrorStream(true).start();
        assumeTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, "mkfifo is not available");
        try (SftpClient c = connect(backend())) {
            for (int i = 0; i < 20; i++) {
                InvalidArgumentException e = assertTimeoutPreemptively(Duration.ofSeconds(5),
                        () -> assertThrows(InvalidArgumentException.class, () -> c.readAllBytes("/fifo")));
                assertTrue(e.getMessage().startsWith("Not a regular file: \"/fifo\" is a FIFO"), e.getMessage());
                assertThrows(InvalidArgumentException.class, () -> c.write("/fifo", new byte[] {1}));
            }
            assertEquals("still served", new String(roundTrip(c), StandardCharsets.UTF_8), "no thread was pinned");
        }
    }

    private static byte[] roundTrip(SftpClient c) {
        c.write("/after", "still served".getBytes(StandardCharsets.UTF_8));
        return c.readAllBytes("/after");
    }
}
