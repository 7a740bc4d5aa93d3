package io.github.incus4j.testkit.fake;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.sftp.SftpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Proxy;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import net.schmizz.sshj.common.LoggerFactory;
import net.schmizz.sshj.connection.channel.direct.Session;
import net.schmizz.sshj.connection.channel.direct.SessionFactory;
import net.schmizz.sshj.sftp.FileMode;
import net.schmizz.sshj.sftp.OpenMode;
import net.schmizz.sshj.sftp.RemoteFile;
import net.schmizz.sshj.sftp.RemoteResourceInfo;
import net.schmizz.sshj.sftp.SFTPClient;
import net.schmizz.sshj.sftp.SFTPEngine;
import net.schmizz.sshj.sftp.SFTPException;
import net.schmizz.sshj.sftp.Response;
import org.junit.jupiter.api.Test;

/**
 * sshj's SFTP engine, a third-party client, against our {@link SftpServer} over the fake's {@code fileSftpConn()}
 * (proof that a third-party client interoperates with the server every driver runs). sshj needs an SSH session
 * only for the subsystem's two streams, so a {@link Proxy} session hands it the connection's.
 */
class FakeSftpSshjTest extends FakeFixture {

    /** An sshj SFTP client whose "sftp" subsystem is {@code conn}. */
    private static SFTPClient sshj(Connection conn) throws IOException {
        Object subsystem = proxy(Session.Subsystem.class, conn);
        Session session = (Session) Proxy.newProxyInstance(FakeSftpSshjTest.class.getClassLoader(),
                new Class<?>[] {Session.class}, (p, m, args) -> switch (m.getName()) {
                    case "startSubsystem" -> subsystem;
                    case "getLoggerFactory" -> LoggerFactory.DEFAULT;
                    default -> common(m.getName(), conn);
                });
        SessionFactory factory = (SessionFactory) Proxy.newProxyInstance(FakeSftpSshjTest.class.getClassLoader(),
                new Class<?>[] {SessionFactory.class}, (p, m, args) -> switch (m.getName()) {
                    case "startSession" -> session;
                    default -> common(m.getName(), conn);
                });
        return new SFTPClient(new SFTPEngine(factory).init());
    }

    private static Object proxy(Class<?> type, Connection conn) {
        return Proxy.newProxyInstance(FakeSftpSshjTest.class.getClassLoader(), new Class<?>[] {type},
                (p, m, args) -> switch (m.getName()) {
                    case "getInputStream" -> conn.input();
                    case "getOutputStream" -> conn.output();
                    case "isOpen" -> true;
                    case "getRemoteCharset" -> StandardCharsets.UTF_8;
                    case "getLoggerFactory" -> LoggerFactory.DEFAULT;
                    default -> common(m.getName(), conn);
                });
    }

    /** The {@code Object} and address methods every proxy answers; anything else is a method sshj should not need. */
    private static Object common(String name, Connection conn) throws IOException {
        return switch (name) {
            case "close" -> {
                conn.close();
                yield null;
            }
            case "getRemoteSocketAddress" -> InetSocketAddress.createUnresolved("instance", 0);
            case "toString" -> "sftp over " + conn;
            case "hashCode" -> System.identityHashCode(conn);
            case "equals" -> false;
            default -> throw new UnsupportedOperationException("not needed over a Connection: " + name);
        };
    }

    private static void exercise(SFTPClient sftp) throws IOException {
        sftp.mkdirs("/srv/sshj/sub");
        byte[] data = new byte[500_000];
        new Random(1).nextBytes(data);
        // Pipelined writes (16 in flight) and read-ahead reads, as sshj transfers files. Its stream sends each
        // write() as one packet, so 32 KiB at a time, as its own transfers do (the server refuses > 256 KiB).
        try (RemoteFile f = sftp.open("/srv/sshj/data", EnumSet.of(OpenMode.WRITE, OpenMode.CREAT, OpenMode.TRUNC));
                OutputStream out = f.new RemoteFileOutputStream(0, 16)) {
            for (int off = 0; off < data.length; off += 32 * 1024) {
                out.write(data, off, Math.min(32 * 1024, data.length - off));
            }
        }
        try (RemoteFile f = sftp.open("/srv/sshj/data");
                InputStream in = f.new ReadAheadRemoteFileInputStream(16)) {
            assertArrayEquals(data, in.readAllBytes());
        }
        assertEquals(data.length, sftp.size("/srv/sshj/data"));
        assertEquals(FileMode.Type.DIRECTORY, sftp.type("/srv/sshj/sub"));

        sftp.chmod("/srv/sshj/data", 0600);
        assertEquals(0600, sftp.stat("/srv/sshj/data").getMode().getPermissionsMask());
        sftp.rename("/srv/sshj/data", "/srv/sshj/moved");
        // sshj sends SYMLINK in the draft's order (link first); servers in OpenSSH's order, ours included, take
        // the first string as the target, so sshj's arguments are swapped here to make /srv/sshj/link -> moved.
        sftp.symlink("/srv/sshj/moved", "/srv/sshj/link");
        assertEquals("/srv/sshj/moved", sftp.readlink("/srv/sshj/link"));
        assertEquals(FileMode.Type.SYMLINK, sftp.lstat("/srv/sshj/link").getType());
        assertEquals("/srv/sshj/moved", sftp.canonicalize("/srv/sshj/sub/../link"));

        List<String> names = sftp.ls("/srv/sshj").stream().map(RemoteResourceInfo::getName).sorted().toList();
        assertEquals(List.of("link", "moved", "sub"), names);

        SFTPException missing = assertThrows(SFTPException.class, () -> sftp.stat("/srv/sshj/none"));
        assertEquals(Response.StatusCode.NO_SUCH_FILE, missing.getStatusCode());
        sftp.rm("/srv/sshj/link");
        sftp.rmdir("/srv/sshj/sub");
        assertFalse(sftp.ls("/srv/sshj").stream().anyMatch(r -> r.getName().equals("sub")));
    }

    @Test
    void sshjOverTheFakesSftpConnection() throws IOException {
        FakeInstance c = container("c1");
        try (SFTPClient sftp = sshj(c.fileSftpConn())) {
            exercise(sftp);
        }
        try (SftpClient direct = c.fileSftp()) {
            assertEquals(500_000, direct.stat("/srv/sshj/moved").size(), "sshj's writes are in the instance");
            assertFalse(direct.exists("/srv/sshj/link"));
        }
    }
}
