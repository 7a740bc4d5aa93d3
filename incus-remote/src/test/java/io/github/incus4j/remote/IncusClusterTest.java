package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.ApiInstance;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver on a real two-member Incus cluster: {@code .ci/incus-cluster start} runs one (members {@code m1} and
 * {@code m2}, each an incusd in its own network namespace on a bridge the script creates, state under
 * {@code $INCUS4J_CLUSTER_RUN}, default {@code /tmp/incus4j-cluster}). One session per member, each over that member's
 * unix socket and placing new instances on the <em>other</em> member, so every action also crosses the cluster.
 * Skipped, with the reason, where no such cluster runs. The last test stops {@code m2} and starts it again.
 */
@Tag("cluster")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class IncusClusterTest {
    /** Above incusd's own wait for a member's event connection (10 s) before it gives up forwarding to it. */
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    /** Instance names are unique across every incusd on the host (cgroup names are shared): tag + PID. */
    private static final String PREFIX = "clu-" + ProcessHandle.current().pid() % 100000 + "-";

    private static Path run;
    private static Instances viaM1; // m1's socket, places on m2
    private static Instances viaM2; // m2's socket, places on m1
    private static final List<String> created = new ArrayList<>();

    @BeforeAll
    static void open(@TempDir Path root) {
        run = Path.of(Optional.ofNullable(System.getenv("INCUS4J_CLUSTER_RUN")).orElse("/tmp/incus4j-cluster"));
        for (String m : List.of("m1", "m2")) {
            Path socket = run.resolve(m).resolve("unix.socket");
            assumeTrue(Files.exists(socket), () -> "no Incus cluster member " + m + " at " + socket
                    + " (.ci/incus-cluster start runs a two-member cluster)");
            String why = trustedOrWhy(socket);
            assumeTrue(why == null, () -> "cluster member " + m + " at " + socket + " unusable: " + why);
        }
        viaM1 = new IncusDriver().open(root.resolve("m1"),
                IncusRemote.unix(run.resolve("m1/unix.socket")).timeout(TIMEOUT).target("m2").build());
        viaM2 = new IncusDriver().open(root.resolve("m2"),
                IncusRemote.unix(run.resolve("m2/unix.socket")).timeout(TIMEOUT).target("m1").build());
    }

    private static String trustedOrWhy(Path socket) {
        try {
            IncusDriver.probe(IncusRemote.unix(socket).build(), Duration.ofSeconds(5));
            return null;
        } catch (RuntimeException e) {
            return e.getMessage();
        }
    }

    @AfterAll
    static void close() {
        for (Instances s : new Instances[] {viaM1, viaM2}) {
            if (s == null) {
                continue;
            }
            for (String n : created) {
                try {
                    s.find("default", n).ifPresent(i -> i.delete(true));
                } catch (RuntimeException e) {
                    // the other session tries too; .ci/incus-cluster stop deletes whatever is left
                }
            }
            s.close();
        }
    }

    private static RemoteInstance create(Instances session, String suffix) {
        String name = PREFIX + suffix;
        created.add(name);
        return (RemoteInstance) session.create(InstanceArgs.builder(name).build(),
                InstanceSource.template("busybox", Map.of()));
    }

    private static RemoteInstance get(Instances session, String suffix) {
        return (RemoteInstance) session.find("default", PREFIX + suffix).orElseThrow();
    }

    private static String renderedLocation(Instance i) {
        return ((ApiInstance) i.render().value()).location();
    }

    @Test
    @Order(1)
    void membersAddressesRouteToTheTestBridgeOnly() throws Exception {
        // The fixture checks this before its daemons listen; checked again here, as the tests rely on it.
        for (String addr : List.of("10.213.7.11", "10.213.7.12")) {
            Process p = new ProcessBuilder("ip", "-o", "route", "get", addr).redirectErrorStream(true).start();
            assertTrue(p.waitFor(5, TimeUnit.SECONDS), "ip route get " + addr);
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(out.contains(" dev i4jclubr "), addr + " must route to the test bridge: " + out);
            assertTrue(InetAddress.getByName(addr).isSiteLocalAddress(), addr);
        }
    }

    @Test
    @Order(2)
    void instancesArePlacedOnTheNamedMember() {
        RemoteInstance a = create(viaM1, "a"); // through m1, onto m2
        RemoteInstance b = create(viaM2, "b"); // through m2, onto m1
        assertEquals("m2", a.location());
        assertEquals("m2", renderedLocation(a));
        assertEquals("m1", b.location());
        assertEquals("m1", renderedLocation(b));
    }

    @Test
    @Order(3)
    void bothMembersListTheInstancesOfBoth() {
        for (Instances s : List.of(viaM1, viaM2)) {
            List<String> names = s.list().stream().map(Instance::name).toList();
            assertTrue(names.contains(PREFIX + "a") && names.contains(PREFIX + "b"), names.toString());
            assertEquals("m2", get(s, "a").location());
            assertEquals("m1", get(s, "b").location());
        }
    }

    @Test
    @Order(4)
    void aStoppedInstanceMovesBetweenMembers() {
        RemoteInstance a = get(viaM1, "a");
        a.move("m1");
        assertEquals("m1", a.location());
        assertEquals("m1", get(viaM2, "a").location());
        a.move("m2"); // and back, through the other member's socket
        assertEquals("m2", get(viaM2, "a").location());
        assertThrows(InvalidArgumentException.class, () -> a.move(" "));
        IncusException unknown = assertThrows(IncusException.class, () -> a.move("m9"));
        assertTrue(unknown.getMessage().contains("m9") || unknown instanceof NotFoundException,
                unknown.getClass().getSimpleName() + ": " + unknown.getMessage());
        assertEquals("m2", a.location());
    }

    @Test
    @Order(5)
    void aRunningInstanceIsNotMovedStatelessly() {
        RemoteInstance b = get(viaM1, "b");
        b.start(false);
        try {
            InstanceStateException e = assertThrows(InstanceStateException.class, () -> b.move("m2"));
            assertEquals("Instance must be stopped to be moved statelessly", e.getMessage());
            assertEquals("m1", b.location());
        } finally {
            b.stop(false);
        }
    }

    @Test
    @Order(6)
    void metricsComeFromEachInstancesMember() {
        RemoteInstance a = get(viaM1, "a"); // on m2
        RemoteInstance b = get(viaM1, "b"); // on m1
        a.start(false);
        b.start(false);
        try {
            for (RemoteInstance i : List.of(a, b, get(viaM2, "a"), get(viaM2, "b"))) {
                MetricSet m = i.metrics(List.of());
                assertFalse(m.samples(MetricType.CPU_SECONDS_TOTAL).isEmpty(),
                        "cpu samples of " + i.name() + " on " + i.location() + ": " + m.toText());
            }
        } finally {
            a.stop(false);
            b.stop(false);
        }
    }

    @Test
    @Order(7)
    void aStoppedMembersInstancesFailClearlyWhileTheOthersKeepWorking() throws Exception {
        RemoteInstance onM2 = get(viaM1, "a");
        RemoteInstance onM1 = get(viaM1, "b");
        long pid = Long.parseLong(Files.readString(run.resolve("m2.pid")).trim());
        ProcessHandle m2 = ProcessHandle.of(pid).orElseThrow(() -> new AssertionError("m2's incusd " + pid));
        m2.destroy(); // SIGTERM
        m2.onExit().get(30, TimeUnit.SECONDS);
        try {
            long t0 = System.nanoTime();
            IncusException e = assertThrows(IncusException.class, onM2::render);
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            assertTrue(took.compareTo(TIMEOUT) < 0, "failed after " + took + ", the call's timeout is " + TIMEOUT);
            // The server's text (Incus 6.0.4 waits 10 s for the member: "Missing event connection with target
            // cluster member"), and what it means.
            assertTrue(e.getMessage().endsWith(Errors.MEMBER_UNREACHABLE_NOTE), "why: " + e.getMessage());
            assertFalse(e instanceof NotFoundException, e.toString());
            // An action too (an operation forwarded to the member).
            long t1 = System.nanoTime();
            IncusException start = assertThrows(IncusException.class, () -> onM2.start(false));
            Duration startTook = Duration.ofNanos(System.nanoTime() - t1);
            assertTrue(startTook.compareTo(TIMEOUT) < 0, "failed after " + startTook + ", timeout " + TIMEOUT);
            // Later requests fail at once, Incus 6.0.4's text reading "Server isn't ready yet".
            assertTrue(start.getMessage().endsWith(Errors.MEMBER_UNREACHABLE_NOTE), "why: " + start.getMessage());
            // The other member's instance: start, render, stop, as before.
            onM1.start(false);
            assertEquals(StatusCode.RUNNING, onM1.statusCode());
            assertEquals("m1", renderedLocation(onM1));
            onM1.stop(false);
            // The listing still answers, the unreachable member's instance with an error status.
            Instance listed = viaM1.list().stream().filter(i -> i.name().equals(onM2.name())).findFirst()
                    .orElseThrow();
            assertEquals(StatusCode.ERROR, listed.statusCode());
        } finally {
            restartM2();
        }
        assertEquals("m2", get(viaM2, "a").location());
        // m1 forwards to m2 again once its event connection to m2 is back (heartbeats: seconds).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
        while (true) {
            try {
                assertEquals(StatusCode.STOPPED, statusOf(onM2.render().value()));
                break;
            } catch (IncusException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(500);
            }
        }
    }

    private static StatusCode statusOf(Object rendered) {
        int code = ((ApiInstance) rendered).statusCode();
        return java.util.Arrays.stream(StatusCode.values()).filter(s -> s.code() == code).findFirst().orElseThrow();
    }

    /** {@code .ci/incus-cluster start-member 2}: m2's incusd back in its namespace, for cleanup and later runs. */
    private static void restartM2() throws IOException, InterruptedException {
        Path script = Path.of("").toAbsolutePath().getParent().resolve(".ci/incus-cluster");
        if (!Files.isExecutable(script)) {
            return; // .ci/incus-cluster stop ends the rest
        }
        Process p = new ProcessBuilder(script.toString(), "start-member", "2").inheritIO().start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
    }
}
