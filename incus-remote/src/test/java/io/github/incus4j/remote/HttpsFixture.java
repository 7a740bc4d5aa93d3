package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.spi.Applicability;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The real daemon (.ci/incusd) made reachable over HTTPS for a test class: incusd listens on 127.0.0.1 (a free port,
 * checked to route through {@code lo}), and the incus CLI itself adds it as remote {@code hts} to a temporary
 * configuration ({@code INCUS_CONF}: a trust token, {@code client.crt}/{@code client.key} written by the CLI,
 * {@code servercerts/hts.crt}), plus remote {@code hts-p} on a project when one is named. {@link #close()} removes
 * the trusted certificate, the project and its {@code hts-} instances, and unsets {@code core.https_address} again;
 * call it from {@code @AfterAll}, which JUnit runs also when the setup or a test failed.
 */
final class HttpsFixture implements AutoCloseable {
    private final String tag;
    private final Path conf;
    private final String project;
    private String address;
    private boolean unsetAddress;
    private boolean createdProject;
    private boolean tokenIssued;
    private String fingerprint;

    private HttpsFixture(String tag, Path conf, String project) {
        this.tag = tag;
        this.conf = conf;
        this.project = project;
    }

    /** Sets it up, or skips the test class (with the reason) where no trusted incusd or no loopback route is here. */
    static HttpsFixture start(String tag, Path conf, String project) throws Exception {
        Applicability a = new IncusDriver().applicability();
        assumeTrue(a.applicable(), () -> "no trusted incusd here (.ci/incusd start runs one): " + a.reason());
        String route = run(Map.of(), "ip", "route", "get", "127.0.0.1");
        assumeTrue(route.contains(" dev lo "), () -> "127.0.0.1 does not route through lo here: " + route);
        HttpsFixture f = new HttpsFixture(tag, conf, project);
        try {
            f.setUp();
        } catch (Exception | AssertionError e) {
            f.close();
            throw e;
        }
        return f;
    }

    private void setUp() throws Exception {
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
            // Kept as it is (and not unset afterwards): only a loopback address is used by these tests.
            assumeTrue(prior.startsWith("127.0.0.1:"), () -> "incusd already listens on " + prior
                    + ", not on 127.0.0.1 only");
            address = prior;
        }
        awaitListening(address);
        if (project != null && run(Map.of(), "incus", "project", "list", "-f", "csv", "-c", "n").lines()
                .noneMatch(l -> l.equals(project) || l.startsWith(project + " "))) {
            // Images and profiles of the default project, so that `busybox` and the root disk are there.
            run(Map.of(), "incus", "project", "create", project, "-c", "features.images=false",
                    "-c", "features.profiles=false");
            createdProject = true;
        }
        String out = run(Map.of(), "incus", "config", "trust", "add", tag, "-q");
        tokenIssued = true;
        List<String> lines = out.lines().filter(l -> !l.isBlank()).toList();
        String token = lines.get(lines.size() - 1).trim();
        Map<String, String> cli = Map.of("INCUS_CONF", conf.toString());
        run(cli, "incus", "remote", "add", "hts", "https://" + address, "--token", token, "--accept-certificate");
        tokenIssued = false;
        fingerprint = Tls.fingerprint(Tls.certificates(conf.resolve("client.crt")).get(0));
        if (project != null) {
            run(cli, "incus", "remote", "add", "hts-p", "https://" + address, "--accept-certificate",
                    "--project", project);
        }
        run(cli, "incus", "remote", "switch", "hts");
    }

    /** {@code host:port} incusd listens on. */
    String address() {
        return address;
    }

    /** The temporary incus CLI configuration directory. */
    Path conf() {
        return conf;
    }

    @Override
    public void close() {
        List<String> failures = new ArrayList<>();
        if (project != null) {
            for (String name : instances(project, createdProject)) {
                quietly(failures, "incus", "delete", "--force", "--project", project, name);
            }
        }
        if (tokenIssued) {
            quietly(failures, "incus", "config", "trust", "revoke-token", tag);
        }
        if (fingerprint != null) {
            quietly(failures, "incus", "config", "trust", "remove", fingerprint);
        }
        if (createdProject) {
            quietly(failures, "incus", "project", "delete", project);
        }
        if (unsetAddress) {
            quietly(failures, "incus", "config", "unset", "core.https_address");
        }
        assertTrue(failures.isEmpty(), "restoring the daemon: " + failures);
    }

    /** The instances of {@code project}: all of them in a project of ours, else those named with our tag. */
    private static List<String> instances(String project, boolean ours) {
        try {
            return run(Map.of(), "incus", "list", "--project", project, "-f", "csv", "-c", "n").lines()
                    .filter(l -> !l.isBlank() && (ours || l.startsWith("hts-"))).toList();
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

    /** Runs a command (bounded: 60 s), returns its output; a failure is an AssertionError with the output. */
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
}
