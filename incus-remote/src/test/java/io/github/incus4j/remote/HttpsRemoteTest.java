package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The incus driver over HTTPS against the real daemon (.ci/incusd), reached through {@link HttpsFixture}: sessions
 * opened from the configuration the incus CLI itself wrote, the remote's project and the cluster target, and the
 * refusals of an untrusted client certificate and of a server certificate other than the pinned one.
 */
class HttpsRemoteTest {
    private static final String TAG = "hts-https-" + ProcessHandle.current().pid();
    private static final String PROJECT = "hts-https-proj";
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    static Path conf;
    private static HttpsFixture fixture;
    private static String address;

    @BeforeAll
    static void listenOnLoopback() throws Exception {
        fixture = HttpsFixture.start(TAG, conf, PROJECT);
        address = fixture.address();
    }

    @AfterAll
    static void restore() {
        if (fixture != null) {
            fixture.close();
        }
    }

    static String run(Map<String, String> env, String... cmd) throws IOException, InterruptedException {
        return HttpsFixture.run(env, cmd);
    }

    /** Stops (when running) and deletes {@code c}, so that a failing test leaves nothing behind either. */
    private static void dispose(Instance c) {
        try {
            c.stop(false);
        } catch (io.github.incus4j.api.InstanceStateException e) {
            // not running
        }
        c.delete(true);
    }

    @Test
    void theCliDefaultRemoteRunsAnInstanceOverHttps(@TempDir Path root) throws Exception {
        IncusRemote remote = IncusRemote.fromConfig(conf, null).timeout(TIMEOUT).build(); // default-remote: hts
        assertEquals("https://" + address, remote.address());
        try (Instances incus = new IncusDriver().open(root, remote)) {
            assertEquals("incus", incus.info().name());
            String name = TAG + "-c1";
            Instance c = incus.create(InstanceArgs.builder(name).build(), InstanceSource.template("busybox",
                    Map.of()));
            try {
                assertTrue(incus.list().stream().anyMatch(i -> i.name().equals(name)), "listed");
                c.start(false);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                try (Cmd cmd = c.exec(ExecRequest.of("sh", "-c", "echo over-tls; exit 4"), null, out, null)) {
                    assertEquals(4, cmd.waitFor(TIMEOUT));
                }
                assertEquals("over-tls\n", out.toString(StandardCharsets.UTF_8));
                try (SftpClient sftp = c.fileSftp()) { // the /sftp upgrade over its own TLS connection
                    sftp.write("/tmp/hts", "pushed".getBytes(StandardCharsets.UTF_8));
                    assertEquals("pushed", new String(sftp.readAllBytes("/tmp/hts"), StandardCharsets.UTF_8));
                }
                c.stop(false);
            } finally {
                dispose(c);
            }
            assertFalse(incus.find("default", name).isPresent(), "deleted");
        }
    }

    @Test
    void theRemotesProjectIsTheSessionsDefaultAndTargetGoesWithCreate(@TempDir Path root) throws Exception {
        IncusRemote remote = IncusRemote.fromConfig(conf, "hts-p").timeout(TIMEOUT).build();
        assertEquals(PROJECT, remote.project().orElseThrow(), "written by `incus remote add --project`");
        String name = TAG + "-p1";
        try (Instances incus = new IncusDriver().open(root, remote)) {
            Instance c = incus.create(InstanceArgs.builder(name).build(), InstanceSource.none());
            try {
                assertEquals(PROJECT, c.project().name());
                assertTrue(run(Map.of(), "incus", "list", "--project", PROJECT, "-f", "csv", "-c", "n").lines()
                        .anyMatch(name::equals), "in the remote's project on the server");
                assertEquals(List.of(name), incus.list().stream().map(Instance::name).toList(),
                        "the session lists its project only");
                assertTrue(incus.find("default", name).isPresent(), "the API's default project is the session's");
            } finally {
                dispose(c);
            }
        }
        // `target` reaches the server with the create: this server is no cluster and says so.
        IncusRemote targeted = IncusRemote.https(URI.create("https://" + address))
                .clientCertificate(conf.resolve("client.crt"), conf.resolve("client.key"))
                .serverCertificate(conf.resolve("servercerts/hts.crt")).project(PROJECT).target("hts-member")
                .timeout(TIMEOUT).build();
        try (Instances incus = new IncusDriver().open(root, targeted)) {
            IncusException e = assertThrows(IncusException.class, () -> incus.create(
                    InstanceArgs.builder(TAG + "-t1").build(), InstanceSource.none()));
            assertTrue(e.getMessage().toLowerCase(java.util.Locale.ROOT).contains("cluster"), e.getMessage());
            assertFalse(incus.find("default", TAG + "-t1").isPresent(), "nothing half-created");
        }
    }

    @Test
    void anUntrustedClientCertificateIsRefusedNamingTheAddress(@TempDir Path dir) throws Exception {
        TestCerts stranger = TestCerts.generate("hts-stranger");
        stranger.write(dir.resolve("c.crt"), dir.resolve("c.key"));
        IncusRemote remote = IncusRemote.https(URI.create("https://" + address))
                .clientCertificate(dir.resolve("c.crt"), dir.resolve("c.key"))
                .serverCertificate(conf.resolve("servercerts/hts.crt")).timeout(TIMEOUT).build();
        PermissionDeniedException e = assertThrows(PermissionDeniedException.class,
                () -> new IncusDriver().open(dir.resolve("root"), remote));
        assertTrue(e.getMessage().contains("https://" + address) && e.getMessage().contains("auth: untrusted"),
                e.getMessage());
    }

    @Test
    void aServerCertificateOtherThanThePinnedOneIsRefused(@TempDir Path dir) throws Exception {
        Path other = Files.writeString(dir.resolve("other.crt"), TestCerts.generate("hts-other").certPem());
        IncusRemote remote = IncusRemote.https(URI.create("https://" + address))
                .clientCertificate(conf.resolve("client.crt"), conf.resolve("client.key"))
                .serverCertificate(other).timeout(TIMEOUT).build();
        IncusConnectionException e = assertThrows(IncusConnectionException.class,
                () -> new IncusDriver().open(dir.resolve("root"), remote));
        assertEquals(IncusConnectionException.Reason.SERVER_CERTIFICATE, e.reason());
        assertTrue(e.getMessage().contains("https://" + address), e.getMessage());
        // Without a pin, the JDK's trust store does not know Incus's self-signed certificate either.
        IncusRemote unpinned = IncusRemote.https(URI.create("https://" + address))
                .clientCertificate(conf.resolve("client.crt"), conf.resolve("client.key")).timeout(TIMEOUT).build();
        e = assertThrows(IncusConnectionException.class, () -> new IncusDriver().open(dir.resolve("root"), unpinned));
        assertEquals(IncusConnectionException.Reason.SERVER_CERTIFICATE, e.reason());
    }
}
