package io.github.incus4j.api.internal.sftp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.spi.FileBackend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link SftpServer} and {@link WireSftpClient}: the protocol's edges and the client's bounds. Files served over the
 * wire are tested in the lxc driver, over its root-directory backend.
 */
class SftpServerTest {
    @Test
    void oversizedPacketEndsTheSession() throws Exception {
        Duplex d = new Duplex();
        CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
            try {
                SftpServer.serve(d.server, new NoFiles());
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
                SftpServer.serve(d.server, new NoFiles());
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
    void aSilentServerTimesTheHandshakeOut() throws Exception {
        Duplex d = new Duplex(); // nobody serves it
        long t0 = System.nanoTime();
        OperationTimeoutException e = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(
                OperationTimeoutException.class, () -> WireSftpClient.open(d.client, Duration.ofMillis(300),
                        Duration.ofSeconds(5))));
        assertTrue(System.nanoTime() - t0 >= 250_000_000L, "not before the timeout");
        assertTrue(e.getMessage().contains("handshake") && e.getMessage().contains("300ms"), e.getMessage());
        assertEquals(SftpWire.INIT, SftpWire.readPacket(d.server.input()).type());
        assertEquals(-1, d.server.input().read(), "then the client closed the connection");
    }

    @Test
    void aServerThatStopsAnsweringTimesTheRequestOut() throws Exception {
        Duplex d = new Duplex();
        CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
            try {
                // Answers the handshake, reads one request and never replies, until the client gives up.
                SftpWire.readPacket(d.server.input());
                new SftpWire.Writer(SftpWire.VERSION_REPLY).u32(SftpWire.VERSION).send(d.server.output());
                SftpWire.readPacket(d.server.input());
                d.server.input().read();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try (WireSftpClient c = WireSftpClient.open(d.client, Duration.ofSeconds(5), Duration.ofMillis(300))) {
            OperationTimeoutException e = assertTimeoutPreemptively(Duration.ofSeconds(10),
                    () -> assertThrows(OperationTimeoutException.class, () -> c.stat("/etc/hostname")));
            assertTrue(e.getMessage().contains("\"/etc/hostname\""), e.getMessage());
            IncusException over = assertThrows(IncusException.class, () -> c.stat("/"));
            assertEquals("This file session was closed", over.getMessage());
        }
        server.get(10, TimeUnit.SECONDS);
        assertThrows(InvalidArgumentException.class, () -> WireSftpClient.open(d.client, Duration.ZERO,
                Duration.ofSeconds(1)));
    }

    @Test
    void failuresKeepTheirKindAndAClosedClientIsAMistake() throws Exception {
        Duplex d = new Duplex();
        FileBackend readOnly = new NoFiles() {
            @Override
            public void mkdir(String path, int mode) {
                throw new InvalidArgumentException("Snapshots cannot be modified");
            }

            @Override
            public void remove(String path) {
                throw new io.github.incus4j.api.BusyException("File exists: " + ErrorTexts.quote(path));
            }
        };
        CompletableFuture<Void> server = CompletableFuture.runAsync(() -> {
            try {
                SftpServer.serve(d.server, readOnly);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        WireSftpClient c = WireSftpClient.open(d.client);
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> c.mkdir("/x", 0755));
        assertEquals("Snapshots cannot be modified", e.getMessage());
        assertThrows(io.github.incus4j.api.BusyException.class, () -> c.remove("/x"));
        assertThrows(NotFoundException.class, () -> c.stat("/x"));
        c.close();
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> c.stat("/"));
        assertEquals("This file session was closed", closed.getMessage());
        server.get(10, TimeUnit.SECONDS);
    }

    /** A backend with nothing in it: the protocol tests never reach a file. */
    private static class NoFiles implements FileBackend {
        private static NotFoundException none(String path) {
            return new NotFoundException("No such file or directory: " + ErrorTexts.quote(path));
        }

        @Override
        public FileAttributes stat(String path) {
            throw none(path);
        }

        @Override
        public FileAttributes lstat(String path) {
            throw none(path);
        }

        @Override
        public List<SftpClient.Entry> list(String dir) {
            throw none(dir);
        }

        @Override
        public Handle open(String path, Set<OpenFlag> flags, int mode) {
            throw none(path);
        }

        @Override
        public void mkdir(String path, int mode) {
            throw none(path);
        }

        @Override
        public void rmdir(String path) {
            throw none(path);
        }

        @Override
        public void remove(String path) {
            throw none(path);
        }

        @Override
        public void rename(String from, String to) {
            throw none(from);
        }

        @Override
        public void symlink(String target, String link) {
            throw none(link);
        }

        @Override
        public String readlink(String path) {
            throw none(path);
        }

        @Override
        public void setattrs(String path, AttrChanges changes) {
            throw none(path);
        }

        @Override
        public String realpath(String path) {
            throw none(path);
        }
    }
}
