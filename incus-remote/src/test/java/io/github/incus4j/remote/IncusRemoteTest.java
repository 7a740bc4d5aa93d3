package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTPS remotes without a daemon: the incus CLI's remotes configuration, PEM keys in both formats, and the refusals
 * (connection refused, a TLS server that accepts and stays mute, a server certificate other than the pinned one),
 * each typed, naming the address, within the call's timeout. Every server here listens on 127.0.0.1 only.
 */
class IncusRemoteTest {
    private static final Duration TIMEOUT = Duration.ofMillis(1500);
    /** Far below the default 30 s bound, generous for a loaded 2-core machine's first TLS handshake (class loading). */
    private static final Duration SLACK = Duration.ofSeconds(8);

    @TempDir
    Path dir;
    private final List<AutoCloseable> closing = new CopyOnWriteArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
    }

    private TestCerts clientIn(Path configDir) throws Exception {
        TestCerts c = TestCerts.generate("hts-client");
        c.write(configDir.resolve("client.crt"), configDir.resolve("client.key"));
        return c;
    }

    @Test
    void theCliConfigurationNamesTheRemoteItsProjectAndPinnedCertificate() throws Exception {
        clientIn(dir);
        TestCerts server = TestCerts.generate("hts-server");
        Files.createDirectories(dir.resolve("servercerts"));
        Files.writeString(dir.resolve("servercerts/hts-prod.crt"), server.certPem());
        Files.writeString(dir.resolve("config.yml"), """
                default-remote: hts-prod
                remotes:
                  images:
                    addr: https://images.linuxcontainers.org
                    protocol: simplestreams
                    public: true
                  hts-prod:
                    addr: https://127.0.0.1:18443
                    protocol: incus
                    auth_type: tls
                    project: web
                    public: false
                  hts-noport:
                    addr: https://127.0.0.1
                    protocol: incus
                  hts-oidc:
                    addr: https://127.0.0.1:8443
                    protocol: incus
                    auth_type: oidc
                aliases: {}
                """);
        IncusRemote r = IncusRemote.fromConfig(dir, null).timeout(TIMEOUT).build();
        assertEquals("https://127.0.0.1:18443", r.address());
        assertEquals(Optional.of("hts-prod"), r.name());
        assertEquals(Optional.of("web"), r.project());
        assertEquals(TIMEOUT, r.timeout());
        assertTrue(!r.verifyHostname(), "a pinned certificate is compared, not checked against the host name");
        assertEquals("https://127.0.0.1:8443", IncusRemote.fromConfig(dir, "hts-noport").build().address());
        assertTrue(IncusRemote.fromConfig(dir, "hts-noport").build().verifyHostname(), "no pin: host name checked");

        NotFoundException nf = assertThrows(NotFoundException.class, () -> IncusRemote.fromConfig(dir, "hts-nope"));
        assertTrue(nf.getMessage().contains("hts-nope") && nf.getMessage().contains("hts-prod"), nf.getMessage());
        NotSupportedException ns = assertThrows(NotSupportedException.class,
                () -> IncusRemote.fromConfig(dir, "images"));
        assertTrue(ns.getMessage().contains("simplestreams"), ns.getMessage());
        assertThrows(NotSupportedException.class, () -> IncusRemote.fromConfig(dir, "hts-oidc"));

        Files.delete(dir.resolve("client.key"));
        InvalidArgumentException ia = assertThrows(InvalidArgumentException.class,
                () -> IncusRemote.fromConfig(dir, "hts-prod"));
        assertTrue(ia.getMessage().contains("client.key"), ia.getMessage());
    }

    @Test
    void aMissingConfigurationStillHasTheLocalRemoteAndABrokenOneIsNamed() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertThrows(NotFoundException.class, () -> IncusRemote.fromConfig(empty, "hts-prod"));
        Files.writeString(empty.resolve("config.yml"), "remotes: [unclosed");
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> IncusRemote.fromConfig(empty, null));
        assertTrue(e.getMessage().contains("config.yml"), e.getMessage());
        Files.writeString(empty.resolve("config.yml"), "remotes:\n  hts-sock:\n    addr: unix:///run/hts.socket\n");
        assertEquals("unix:/run/hts.socket", IncusRemote.fromConfig(empty, "hts-sock").build().address());
    }

    @Test
    void theDriverFollowsTheRemotePropertyElseTheCliDefaultRemote() throws Exception {
        assumeTrue(System.getenv("INCUS_CONF") == null, "INCUS_CONF is set: the test moves ~ instead");
        int a;
        int b;
        try (ServerSocket s1 = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ServerSocket s2 = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            a = s1.getLocalPort();
            b = s2.getLocalPort(); // both closed again: connections are refused
        }
        Path incusConf = Files.createDirectories(dir.resolve("home/.config/incus"));
        clientIn(incusConf);
        Files.writeString(incusConf.resolve("config.yml"), "default-remote: hts-a\nremotes:\n"
                + "  hts-a:\n    addr: https://127.0.0.1:" + a + "\n    protocol: incus\n"
                + "  hts-b:\n    addr: https://127.0.0.1:" + b + "\n    protocol: incus\n");
        String home = System.getProperty("user.home");
        try {
            System.setProperty("user.home", dir.resolve("home").toString());
            assertEquals(incusConf, IncusRemote.defaultConfigDir());
            assertEquals("https://127.0.0.1:" + a, IncusDriver.defaultRemote().address());
            String reason = new IncusDriver().applicability().reason();
            assertTrue(reason.contains("https://127.0.0.1:" + a), reason);
            System.setProperty(IncusDriver.REMOTE_PROPERTY, "hts-b");
            reason = new IncusDriver().applicability().reason();
            assertTrue(reason.contains("https://127.0.0.1:" + b), reason);
            IncusConnectionException e = assertThrows(IncusConnectionException.class,
                    () -> new IncusDriver().open(dir.resolve("root")));
            assertEquals(IncusConnectionException.Reason.REFUSED, e.reason());
        } finally {
            System.setProperty("user.home", home);
            System.clearProperty(IncusDriver.REMOTE_PROPERTY);
        }
    }

    @Test
    void incusAndOpensslKeyFormatsAreRead() throws Exception {
        TestCerts c = TestCerts.generate("hts-keys");
        Path crt = dir.resolve("c.crt");
        Files.writeString(crt, c.certPem());
        assertTrue(c.sec1KeyPem().contains("BEGIN EC PRIVATE KEY"), "Incus's format");
        assertTrue(c.pkcs8KeyPem().contains("BEGIN PRIVATE KEY"), "openssl's format");
        for (String pem : List.of(c.sec1KeyPem(), c.pkcs8KeyPem())) {
            Path key = dir.resolve("k.pem");
            Files.writeString(key, pem);
            assertEquals(((java.security.interfaces.ECPrivateKey) c.keys.getPrivate()).getS(),
                    ((java.security.interfaces.ECPrivateKey) Tls.privateKey(key)).getS());
            assertEquals(1, Tls.keyManagers(crt, key).length);
        }
        Path garbage = Files.writeString(dir.resolve("garbage.pem"), "not a key\n");
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> IncusRemote.https(
                URI.create("https://127.0.0.1:1")).clientCertificate(crt, garbage).build());
        assertTrue(e.getMessage().contains("garbage.pem"), e.getMessage());
        e = assertThrows(InvalidArgumentException.class, () -> IncusRemote.https(URI.create("https://127.0.0.1:1"))
                .serverCertificate(garbage).build());
        assertTrue(e.getMessage().contains("garbage.pem"), e.getMessage());
        assertThrows(InvalidArgumentException.class, () -> IncusRemote.https(URI.create("http://127.0.0.1:1")));
    }

    private IncusRemote remote(int port) throws Exception {
        TestCerts client = clientIn(dir);
        TestCerts server = TestCerts.generate("hts-pinned");
        Path pin = Files.writeString(dir.resolve("pinned.crt"), server.certPem());
        return IncusRemote.https(URI.create("https://127.0.0.1:" + port))
                .clientCertificate(dir.resolve("client.crt"), dir.resolve("client.key"))
                .serverCertificate(pin).timeout(TIMEOUT).build();
    }

    private static void assertWithin(Duration limit, long t0) {
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms < limit.toMillis(), "took " + ms + " ms, more than " + limit);
    }

    @Test
    void aRefusedConnectionNamesTheAddress() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // closed again: nothing listens there now
        }
        IncusRemote r = remote(port);
        long t0 = System.nanoTime();
        IncusConnectionException e = assertThrows(IncusConnectionException.class,
                () -> new IncusDriver().open(dir.resolve("root"), r));
        assertWithin(TIMEOUT.plus(SLACK), t0);
        assertEquals(IncusConnectionException.Reason.REFUSED, e.reason());
        assertEquals("https://127.0.0.1:" + port, e.address());
        assertTrue(e.getMessage().contains("https://127.0.0.1:" + port), e.getMessage());
    }

    /** A TLS server on 127.0.0.1 with its own self-signed certificate; {@code handshake}: complete TLS, then stay mute. */
    private SSLServerSocket tlsServer(TestCerts cert, boolean handshake) throws Exception {
        return tlsServer(cert, handshake, false);
    }

    /** As above; {@code hangUp}: close the connection once the request's first bytes arrived. */
    private SSLServerSocket tlsServer(TestCerts cert, boolean handshake, boolean hangUp) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry("s", cert.keys.getPrivate(), new char[0], new X509Certificate[] {cert.cert});
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, new char[0]);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, null);
        SSLServerSocket ss = (SSLServerSocket) ctx.getServerSocketFactory().createServerSocket();
        ss.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        closing.add(ss);
        Thread t = new Thread(() -> {
            try {
                while (!ss.isClosed()) {
                    Socket s = ss.accept();
                    closing.add(s);
                    if (handshake) {
                        ((SSLSocket) s).startHandshake();
                        InputStream in = s.getInputStream();
                        in.read(); // reads the request's first bytes, answers nothing
                        if (hangUp) {
                            s.close();
                        }
                    }
                }
            } catch (IOException e) {
                // closed by the test
            }
        }, "hts-mute-tls-server");
        t.setDaemon(true);
        t.start();
        return ss;
    }

    @Test
    void aServerThatAcceptsAndStaysMuteFailsWithinTheTimeout() throws Exception {
        for (boolean handshake : new boolean[] {false, true}) {
            TestCerts server = TestCerts.generate("hts-mute");
            SSLServerSocket ss = tlsServer(server, handshake);
            Path pin = Files.writeString(dir.resolve("mute.crt"), server.certPem());
            clientIn(dir);
            IncusRemote r = IncusRemote.https(URI.create("https://127.0.0.1:" + ss.getLocalPort()))
                    .clientCertificate(dir.resolve("client.crt"), dir.resolve("client.key"))
                    .serverCertificate(pin).timeout(TIMEOUT).build();
            long t0 = System.nanoTime();
            OperationTimeoutException e = assertThrows(OperationTimeoutException.class,
                    () -> new IncusDriver().open(dir.resolve("root"), r), "handshake " + handshake);
            assertWithin(TIMEOUT.plus(SLACK), t0);
            assertTrue(e.getMessage().contains("https://127.0.0.1:" + ss.getLocalPort()), e.getMessage());
        }
    }

    @Test
    void aServerThatHangsUpMidCallIsAConnectionFailure() throws Exception {
        TestCerts server = TestCerts.generate("hts-hangup");
        SSLServerSocket ss = tlsServer(server, true, true);
        Path pin = Files.writeString(dir.resolve("hangup.crt"), server.certPem());
        clientIn(dir);
        IncusRemote r = IncusRemote.https(URI.create("https://127.0.0.1:" + ss.getLocalPort()))
                .clientCertificate(dir.resolve("client.crt"), dir.resolve("client.key"))
                .serverCertificate(pin).timeout(TIMEOUT).build();
        long t0 = System.nanoTime();
        IncusConnectionException e = assertThrows(IncusConnectionException.class,
                () -> new IncusDriver().open(dir.resolve("root"), r));
        assertWithin(TIMEOUT.plus(SLACK), t0);
        assertEquals("https://127.0.0.1:" + ss.getLocalPort(), e.address());
        assertTrue(e.getMessage().contains("GET /1.0"), e.getMessage());
    }

    @Test
    void aServerCertificateOtherThanThePinnedOneIsRefused() throws Exception {
        SSLServerSocket ss = tlsServer(TestCerts.generate("hts-impostor"), true);
        IncusRemote r = remote(ss.getLocalPort()); // pins another certificate
        long t0 = System.nanoTime();
        IncusConnectionException e = assertThrows(IncusConnectionException.class,
                () -> new IncusDriver().open(dir.resolve("root"), r));
        assertWithin(TIMEOUT.plus(SLACK), t0);
        assertEquals(IncusConnectionException.Reason.SERVER_CERTIFICATE, e.reason());
        assertTrue(e.getMessage().contains("https://127.0.0.1:" + ss.getLocalPort())
                && e.getMessage().contains("pinned"), e.getMessage());
    }
}
