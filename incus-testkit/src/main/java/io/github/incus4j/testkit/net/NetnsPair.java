package io.github.incus4j.testkit.net;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import jnr.ffi.LibraryLoader;
import org.apiguardian.api.API;

/**
 * Two network namespaces ({@code i4jm-<id>-a}, {@code i4jm-<id>-b}) joined by a veth pair ({@code i4jm<id>a} /
 * {@code i4jm<id>b}) with the addresses of a /30, made by the test and deleted on close (also when setting up
 * fails): two "hosts" whose only link is that cable. {@link #inA}/{@link #inB} run code on a thread moved into one
 * of them (setns(2) moves only the calling thread), so the sockets it opens live there. Needs root, iproute2 and
 * jnr-ffi on the class path (an optional dependency of the testkit).
 */
@API(status = EXPERIMENTAL)
public final class NetnsPair implements AutoCloseable {
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 02000000;

    /** libc's setns, open, close (public for jnr-ffi's proxy, not for use). */
    @API(status = org.apiguardian.api.API.Status.INTERNAL)
    public interface Ns {
        int setns(int fd, int nstype);

        int open(String path, int flags);

        int close(int fd);
    }

    private final String a;
    private final String b;
    private final InetAddress addressA;
    private final InetAddress addressB;
    private final String vethA;
    private final String vethB;
    private final List<String> made = new ArrayList<>();

    private NetnsPair() throws IOException {
        String id = UUID.randomUUID().toString().substring(0, 6);
        a = "i4jm-" + id + "-a";
        b = "i4jm-" + id + "-b";
        vethA = "i4jm" + id + "a";
        vethB = "i4jm" + id + "b";
        addressA = InetAddress.getByName("10.254.77.1");
        addressB = InetAddress.getByName("10.254.77.2");
    }

    private void setUp() throws IOException, InterruptedException {
        ip("netns", "add", a);
        made.add(a);
        ip("netns", "add", b);
        made.add(b);
        // Created inside a: deleting the namespaces deletes the pair, nothing is left in the host's namespace.
        ip("-n", a, "link", "add", vethA, "type", "veth", "peer", "name", vethB, "netns", b);
        ip("-n", a, "addr", "add", "10.254.77.1/30", "dev", vethA);
        ip("-n", b, "addr", "add", "10.254.77.2/30", "dev", vethB);
        for (String[] up : new String[][] {{a, vethA}, {b, vethB}, {a, "lo"}, {b, "lo"}}) {
            ip("-n", up[0], "link", "set", up[1], "up");
        }
    }

    /** Makes the pair, or skips the test when namespaces cannot be made here (tearing down what was made). */
    public static NetnsPair create() throws IOException, InterruptedException {
        assumeTrue(Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip")),
                "iproute2's ip is not installed");
        assumeTrue("root".equals(System.getProperty("user.name")), "network namespaces need root");
        NetnsPair pair = new NetnsPair();
        try {
            pair.setUp();
            return pair;
        } catch (IOException | InterruptedException | RuntimeException e) {
            try {
                pair.close();
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    /** The address of the host side in namespace a. */
    public InetAddress addressA() {
        return addressA;
    }

    /** The address of the host side in namespace b. */
    public InetAddress addressB() {
        return addressB;
    }

    /**
     * {@code command} prefixed to run inside namespace b ({@code ip netns exec}, which execs it: the process's pid is
     * the command's), e.g. a second JVM acting as the other host.
     */
    public List<String> commandInB(List<String> command) {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", b));
        cmd.addAll(command);
        return cmd;
    }

    /** Checks with {@code ip route get} that a reaches b through the veth (nothing leaves the two namespaces). */
    public void checkRoute() throws IOException, InterruptedException {
        String route = ip("-n", a, "route", "get", addressB.getHostAddress());
        assertTrue(route.contains("dev " + vethA), route);
    }

    /** Runs {@code task} inside namespace a (on a thread of its own), e.g. to open a socket there. */
    public <T> T inA(Callable<T> task) throws Exception {
        return in(a, task);
    }

    /** Runs {@code task} inside namespace b. */
    public <T> T inB(Callable<T> task) throws Exception {
        return in(b, task);
    }

    /** Runs {@code task} on a fresh thread moved into namespace {@code ns}; the thread ends with it. */
    private static <T> T in(String ns, Callable<T> task) throws Exception {
        CompletableFuture<T> result = new CompletableFuture<>();
        Ns libc = Libc.INSTANCE;
        Thread t = new Thread(() -> {
            int fd = libc.open("/run/netns/" + ns, O_RDONLY | O_CLOEXEC);
            try {
                if (fd < 0 || libc.setns(fd, CLONE_NEWNET) != 0) {
                    throw new IllegalStateException("Cannot enter network namespace " + ns);
                }
                result.complete(task.call());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            } finally {
                if (fd >= 0) {
                    libc.close(fd);
                }
            }
        }, "netns-" + ns);
        t.setDaemon(true);
        t.start();
        try {
            return result.get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception x ? x : e;
        }
    }

    /** Loaded at first use: jnr-ffi is optional. */
    private static final class Libc {
        static final Ns INSTANCE = LibraryLoader.create(Ns.class).load("c");
    }

    private static String ip(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
        return out;
    }

    /** Deletes both namespaces (and with them the veth pair). */
    @Override
    public void close() throws IOException {
        IOException first = null;
        for (String ns : made) {
            try {
                ip("netns", "del", ns);
            } catch (IOException e) {
                first = first == null ? e : first;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                first = first == null ? new IOException("Interrupted while deleting " + ns, e) : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
