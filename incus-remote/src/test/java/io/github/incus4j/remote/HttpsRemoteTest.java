package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.Applicability;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The incus driver over HTTPS against the real daemon (.ci/incusd): the test makes incusd listen on 127.0.0.1 (a
 * free port, checked to route through {@code lo}), lets the incus CLI itself add it as a remote to a temporary
 * configuration ({@code INCUS_CONF}: a trust token, {@code client.crt}/{@code client.key} written by the CLI,
 * {@code servercerts/}), and opens sessions from that configuration. Afterwards it removes the trusted certificate,
 * its project and instances, and unsets {@code core.https_address} again, also when a test failed.
 */
class HttpsRemoteTest {
    private static final String TAG = "hts-https-" + ProcessHandle.current().pid();
    private static final String PROJECT = "hts-https-proj";
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    static Path conf;
    private static String address;
    private static boolean unsetAddress;
    private static boolean createdProject;
    private static String fingerprint;
    private static boolean tokenIssued;

    @BeforeAll
    static void listenOnLoopback() throws Exception {
        Applicability a = new IncusDriver().applicability();
        assumeTrue(a.applicable(), () -> "no trusted incusd here (.ci/incusd start runs one): " + a.reason());
        String route = run(Map.of(), "ip", "route", "get", "127.0.0.1");
        assumeTrue(route.contains(" dev lo "), () -> "127.0.0.1 does not route through lo here: " + route);
        String prior = run(Map.of(), "incus", "config", "get", "core.https_address").trim();
        if (prior.isEmpty()) {
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                port = s.getLocalPort();
            }
            address = "127.0.0.1:" + port;
            unsetAddress = true;
            run(Map.of(), "incus", "config", "set", "core.https_address", address);
        } else {
            // Kept as it is (and not unset afterwards): only a loopback address is used by this test.
            assumeTrue(prior.startsWith("127.0.0.1:"), () -> "incusd already listens on " + prior
                    + ", not on 127.0.0.1 only");
            address = prior;
        }
        awaitListening(address);
        if (run(Map.of(), "incus", "project", "list", "-f", "csv", "-c", "n").lines()
                .noneMatch(l -> l.equals(PROJECT) || l.startsWith(PROJECT + " "))) {
            // Images and profiles of the default project, so that `busybox` and the root disk are there.
            run(Map.of(), "incus", "project", "create", PROJECT, "-c", "features.images=false",
                    "-c", "features.profiles=false");
            createdProject = true;
        }
        String out = run(Map.of(), "incus", "config", "trust", "add", TAG, "-q");
        tokenIssued = true;
        List<String> lines = out.lines().filter(l -> !l.isBlank()).toList();
        String token = lines.get(lines.size() - 1).trim();
        Map<String, String> cli = Map.of("INCUS_CONF", conf.toString());
        run(cli, "incus", "remote", "add", "hts", "https://" + address, "--token", token, "--accept-certificate");
        tokenIssued = false;
        fingerprint = Tls.fingerprint(Tls.certificates(conf.resolve("client.crt")).get(0));
        run(cli, "incus", "remote", "add", "hts-p", "https://" + address, "--accept-certificate",
                "--project", PROJECT);
        run(cli, "incus", "remote", "switch", "hts");
    }

    @AfterAll
    static void restore() {
        List<String> failures = new ArrayList<>();
        for (String name : listInstances()) {
            quietly(failures, "incus", "delete", "--force", "--project", PROJECT, name);
        }
        if (tokenIssued) {
            quietly(failures, "incus", "config", "trust", "revoke-token", TAG);
        }
        if (fingerprint != null) {
            quietly(failures, "incus", "config", "trust", "remove", fingerprint);
        }
        if (createdProject) {
            quietly(failures, "incus", "project", "delete", PROJECT);
        }
        if (unsetAddress) {
            quietly(failures, "incus", "config", "unset", "core.https_address");
        }
        assertTrue(failures.isEmpty(), "restoring the daemon: " + failures);
    }

    private static List<String> listInstances() {
        try {
            return run(Map.of(), "incus", "list", "--project", PROJECT, "-f", "csv", "-c", "n").lines()
                    .filter(l -> l.startsWith("hts-")).toList();
        } catch (Exception | AssertionError e) {
            return List.of();
        }
    }

    private static void quietly(List<String> failures, String... cmd) {
        try {
            run(Map.of(), cmd);
        } catch (Exception | AssertionError e) {
            failures.add(String.join(" ", cmd) + ": " + e.getMessage());
        }
    }

    static String run(Map<String, String> env, String... cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().putAll(env);
        Process p = pb.start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return e.toString();
            }
        });
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not end within 60 s");
        }
        String text = out.join();
        if (p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + text);
        }
        return text;
    }

    private static void awaitListening(String hostPort) throws InterruptedException {
        int colon = hostPort.lastIndexOf(':');
        InetSocketAddress sa = new InetSocketAddress(hostPort.substring(0, colon),
                Integer.parseInt(hostPort.substring(colon + 1)));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(sa, 1000);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("incusd does not listen on " + hostPort, e);
                }
                Thread.sleep(50);
            }
        }
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
