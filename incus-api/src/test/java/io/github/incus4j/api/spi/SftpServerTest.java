package io.github.incus4j.api.spi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.io.FileAttributes;
import io.github.incus4j.api.io.SftpClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link SftpServer} and {@link WireSftpClient} against each other, over a {@link DirectoryBackend}. */
class SftpServerTest {
    @TempDir
    Path root;

    private CompletableFuture<Void> served;

    /** A client talking to a server on its own thread over {@code backend}. */
    private WireSftpClient connect(FileBackend backend) throws IOException {
        Duplex d = new Duplex();
        served = CompletableFuture.runAsync(() -> {
            try {
                SftpServer.serve(d.server, backend);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        return WireSftpClient.open(d.client);
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
        try (WireSftpClient c = connect(new DirectoryBackend(root, null))) {
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
        try (WireSftpClient c = connect(new DirectoryBackend(root, null))) {
            c.write("/big", data);
            assertArrayEquals(data, Files.readAllBytes(root.resolve("big")));
            assertArrayEquals(data, c.readAllBytes("/big"));
        }
    }

    @Test
    void listsRenamesLinksAndRemoves() throws IOException {
        try (WireSftpClient c = connect(new DirectoryBackend(root, null))) {
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
            c.chown("/d/z", 1234, 4321);
            assertEquals(1234, (int) Files.getAttribute(root.resolve("d/z"), "unix:uid"));
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
        try (WireSftpClient c = connect(new DirectoryBackend(root, null))) {
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
        try (WireSftpClient c = connect(new DirectoryBackend(root, null))) {
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
    void oversizedPacketEndsTheSession() throws Exception {
        Duplex d = new Duplex();
        CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
            try {
                SftpServer.serve(d.server, new DirectoryBackend(root, null));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        OutputStream out = d.client.output();
        InputStream in = d.client.input();
        new SftpWire.Writer(SftpWire.INIT).u32(3).send(out);
        SftpWire.Reader v = SftpWire.readPacket(in);
        assertEquals(SftpWire.VERSION_REPLY, v.type());
        assertEquals(3, v.u32());
        // A length just over the bound; no body follows: the server must refuse without waiting for it.
        out.write(new byte[] {0, 4, 0, 1});
        out.flush();
        ExecutionException e = assertThrows(ExecutionException.class, () -> server.get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("262145 bytes refused"), e.getCause().getMessage());
        assertEquals(-1, in.read(), "the server closed the connection");
        d.client.close();
    }

    @Test
    void unknownRequestsAreUnsupportedNotFatal() throws Exception {
        Duplex d = new Duplex();
        CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
            try {
                SftpServer.serve(d.server, new DirectoryBackend(root, null));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        OutputStream out = d.client.output();
        InputStream in = d.client.input();
        new SftpWire.Writer(SftpWire.INIT).u32(3).send(out);
        SftpWire.readPacket(in);
        new SftpWire.Writer(200, 42).string("statvfs@openssh.com").string("/").send(out);
        SftpWire.Reader r = SftpWire.readPacket(in);
        assertEquals(SftpWire.STATUS, r.type());
        assertEquals(42, r.u32());
        assertEquals(SftpWire.FX_OP_UNSUPPORTED, r.u32());
        // A truncated request (id but no path) is a BAD_MESSAGE and ends the session.
        new SftpWire.Writer(SftpWire.STAT, 43).send(out);
        r = SftpWire.readPacket(in);
        assertEquals(SftpWire.STATUS, r.type());
        assertEquals(43, r.u32());
        assertEquals(SftpWire.FX_BAD_MESSAGE, r.u32());
        assertThrows(ExecutionException.class, () -> server.get(10, TimeUnit.SECONDS));
        d.client.close();
    }

    @Test
    void aClientOnAClosedServerFailsCleanly() throws Exception {
        Duplex d = new Duplex();
        d.server.close();
        IncusException e = assertThrows(IncusException.class, () -> WireSftpClient.open(d.client));
        assertTrue(e.getMessage().contains("SFTP"), e.getMessage());
    }

    @Test
    void sftpClientBackendServesOverTheWire() throws Exception {
        // Two hops: wire client -> server over FileBackends.of(wire client) -> server over the directory.
        WireSftpClient inner = connect(new DirectoryBackend(root, null));
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
        WireSftpClient inner = connect(new DirectoryBackend(root, null));
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
}
