package io.github.incus4j.api.internal.sftp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.file.SftpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link WireSftpClient} against OpenSSH's {@code sftp-server} (its stdin/stdout as the connection): our client
 * speaks the protocol as the reference server answers it, symlink argument order included.
 */
class OpenSshInteropTest {
    private static final Path SFTP_SERVER = Path.of("/usr/lib/openssh/sftp-server");

    @TempDir
    Path dir;

    @Test
    void wireClientAgainstOpenSshSftpServer() throws Exception {
        assumeTrue(Files.isExecutable(SFTP_SERVER), "needs OpenSSH's sftp-server (apt-get install openssh-sftp-server)");
        Process p = new ProcessBuilder(SFTP_SERVER.toString(), "-e", "-l", "ERROR", "-d", dir.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String d = dir.toString();
        try (WireSftpClient c = WireSftpClient.open(Connection.of(p.getInputStream(), p.getOutputStream()))) {
            c.mkdirs(d + "/a/b", 0755);
            assertTrue(Files.isDirectory(dir.resolve("a/b")));
            c.write(d + "/a/b/f.txt", "from incus4j".getBytes(StandardCharsets.UTF_8));
            assertEquals("from incus4j", Files.readString(dir.resolve("a/b/f.txt")));
            assertEquals("from incus4j", new String(c.readAllBytes(d + "/a/b/f.txt"), StandardCharsets.UTF_8));

            byte[] big = new byte[700_001];
            new Random(11).nextBytes(big);
            c.write(d + "/big", big);
            assertArrayEquals(big, Files.readAllBytes(dir.resolve("big")));
            assertArrayEquals(big, c.readAllBytes(d + "/big"));
            assertEquals(big.length, c.stat(d + "/big").size());

            c.symlink(d + "/a/b/f.txt", d + "/link");
            assertTrue(Files.isSymbolicLink(dir.resolve("link")), "link and target in OpenSSH's order");
            assertEquals(d + "/a/b/f.txt", c.readlink(d + "/link"));
            assertTrue(c.lstat(d + "/link").isSymlink());
            assertTrue(c.stat(d + "/link").isRegularFile());
            assertEquals(dir.toRealPath().resolve("a/b/f.txt").toString(), c.realpath(d + "/a/../link"));

            assertEquals(List.of("a", "big", "link"), c.list(d).stream().map(SftpClient.Entry::name).toList());
            c.chmod(d + "/big", 0600);
            assertEquals(0600, c.stat(d + "/big").permissions());
            c.rename(d + "/big", d + "/big2");
            assertFalse(c.exists(d + "/big"));
            c.remove(d + "/big2");
            c.remove(d + "/a/b/f.txt");
            c.rmdir(d + "/a/b");
            assertFalse(Files.exists(dir.resolve("a/b")));

            assertThrows(NotFoundException.class, () -> c.stat(d + "/nothing"));
            assertThrows(NotFoundException.class, () -> c.readAllBytes(d + "/nothing"));
        } finally {
            assertTrue(p.waitFor(10, TimeUnit.SECONDS), "sftp-server ends when the client closes");
            p.destroyForcibly();
        }
    }
}
