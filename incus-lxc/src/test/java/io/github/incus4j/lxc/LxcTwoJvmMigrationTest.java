package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.testkit.net.NetnsPair;
import io.github.incus4j.testkit.net.TcpMigration;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Live migration of a container into a second JVM ({@link TwoJvmTarget}, spawned by the test inside the second
 * network namespace of a {@link NetnsPair} with this JVM's class path): two processes, two roots, two id maps, and
 * TCP over a veth pair their only link. Also the cable cut mid-state: the source runs on, the target is left empty.
 * The child JVM is killed by its pid if it does not end by itself.
 */
class LxcTwoJvmMigrationTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int PORT = 8444;

    @TempDir
    Path dir;
    private NetnsPair net;
    private LxcInstances source;
    private Process child;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

    @BeforeEach
    void open() throws Exception {
        LxcHost.require();
        LiveCounter.requireCriu();
        net = NetnsPair.create();
        net.checkRoute();
        source = new LxcDriver().open(LxcHost.searchable(dir.resolve("host-a")), WAIT);
    }

    @AfterEach
    void close() throws Exception {
        try {
            if (child != null) {
                try {
                    child.getOutputStream().close(); // the end of its stdin: it deletes what it holds and exits
                } catch (IOException ignored) {
                    // gone already
                }
                if (!child.waitFor(60, TimeUnit.SECONDS)) {
                    child.destroyForcibly(); // by its pid
                    child.waitFor(30, TimeUnit.SECONDS);
                }
                // Whatever a killed child left on its root.
                LxcHost.deleteAll(new LxcDriver().open(dir.resolve("host-b"), WAIT));
            }
            LxcHost.deleteAll(source);
        } finally {
            if (net != null) {
                net.close();
            }
        }
    }

    /** Starts the target JVM in namespace b for {@code name}; returns its receiver's root filesystem. */
    private Path spawnTarget(String name) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = net.commandInB(List.of(java, "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp",
                System.getProperty("java.class.path"), TwoJvmTarget.class.getName(), dir.resolve("host-b").toString(),
                net.addressB().getHostAddress(), Integer.toString(PORT), name, "true"));
        child = new ProcessBuilder(cmd).redirectError(dir.resolve("target-jvm.err").toFile()).start();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String l = r.readLine(); l != null; l = r.readLine()) {
                    lines.add(l);
                }
            } catch (IOException ignored) {
                // the end
            }
            lines.add("EOF");
        }, "two-jvm-target-stdout");
        reader.setDaemon(true);
        reader.start();
        return Path.of(expect("LISTENING ", Duration.ofSeconds(90)));
    }

    /** The rest of the target's next line starting with {@code word} (other lines are skipped). */
    private String expect(String word, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String l = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (l == null || l.equals("EOF")) {
                fail("The target JVM said no " + word.strip() + " (" + (l == null ? "timeout" : "it ended") + "): "
                        + Files.readString(dir.resolve("target-jvm.err")).lines()
                                .reduce("", (a, b) -> a.length() > 4000 ? a : a + "\n" + b));
            }
            if (l.startsWith(word)) {
                return l.substring(word.length());
            }
        }
    }

    private void tell(String line) throws IOException {
        OutputStream o = child.getOutputStream();
        o.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        o.flush();
    }

    private static long[] counter(Instance i) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of("cat", "/counter"), null, out, new ByteArrayOutputStream())) {
            assertEquals(0, c.waitFor(WAIT));
        }
        String[] p = out.toString(StandardCharsets.UTF_8).strip().split(" ");
        return new long[] {Long.parseLong(p[0]), Long.parseLong(p[1])};
    }

    private Container runningCounter() throws InterruptedException {
        Container src = (Container) source.create(InstanceArgs.builder("lxc2j-" + UUID.randomUUID().toString()
                .substring(0, 8)).config("migration.stateful", "true").config("migration.incremental.memory", "true")
                .build(), InstanceSource.template("busybox", Map.of()));
        src.start(false);
        LiveCounter.start(src);
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!Files.exists(src.rootfsPath().resolve("counter")) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Thread.sleep(300);
        return src;
    }

    private TcpMigration.End connect(long cutStateAfter) throws Exception {
        return net.inA(() -> TcpMigration.connect(new InetSocketAddress(net.addressB(), PORT), true,
                cutStateAfter));
    }

    @Test
    void runningContainerMovesLiveIntoASecondJvmInTheOtherNamespace() throws Exception {
        Container src = runningCounter();
        Path dstRootfs = spawnTarget(src.name());
        long[] before = counter(src);
        try (LiveCounter watch = LiveCounter.watch(src.rootfsPath(), dstRootfs);
                TcpMigration.End end = connect(0)) {
            long t0 = System.nanoTime();
            src.migrateSend(new MigrateSendArgs(end.args(), false));
            String[] received = expect("RECEIVED ", WAIT).split(" ");
            long total = (System.nanoTime() - t0) / 1_000_000;
            assertEquals("RUNNING", received[0]);
            assertEquals(before[0], Long.parseLong(received[1]), "the same process counts on in the other JVM's"
                    + " container");
            assertTrue(Long.parseLong(received[2]) > before[1], "counted on from " + before[1] + ": "
                    + received[2]);
            watch.awaitPast(before[1] + 10, WAIT);
            assertTrue(watch.monotonic(), watch.samples());
            LiveCounter.Gap gap = watch.longestGap();
            System.out.printf("two JVMs over TCP: total %d ms, counter stood still %d ms%n", total, gap.millis());
            tell("COUNTER");
            String[] later = expect("COUNTER ", WAIT).split(" ");
            assertEquals(before[0], Long.parseLong(later[0]));
            assertTrue(Long.parseLong(later[1]) >= before[1] + 10, later[1]);
            assertEquals(StatusCode.STOPPED, src.statusCode());
        }
        tell("END");
        expect("ENDED", WAIT);
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, child.exitValue());
    }

    @Test
    void connectionCutMidStateLeavesTheSourceRunningAndTheOtherJvmsTargetEmpty() throws Exception {
        Container src = runningCounter();
        spawnTarget(src.name());
        long[] before = counter(src);
        try (TcpMigration.End end = connect(64 * 1024)) {
            Exception e = assertThrows(Exception.class, () -> src.migrateSend(new MigrateSendArgs(end.args(),
                    false)));
            assertTrue(e instanceof IncusException, "our own type: " + e);
            assertTrue(String.valueOf(e.getMessage()).contains("cut by the test"), String.valueOf(e));
        }
        // The target saw its connections reset: status, rootfs entries, staging left, migration.stateful, error.
        String[] failed = expect("FAILED ", WAIT).split(" ", 5);
        System.out.println("the target JVM reported: " + String.join(" ", failed));
        assertEquals(List.of("STOPPED", "0", "false", "null"), List.of(failed).subList(0, 4));
        assertTrue(failed[4].startsWith(IncusException.class.getName()), "our own type: " + failed[4]);
        assertEquals(StatusCode.RUNNING, src.statusCode(), "restored from its own dump");
        Thread.sleep(500);
        long[] after = counter(src);
        assertEquals(before[0], after[0], "the same process counts on");
        assertTrue(after[1] > before[1], before[1] + " then " + after[1]);
        assertFalse(Files.exists(src.path().resolve(".migration-state")));
        tell("END");
        expect("ENDED", WAIT);
    }
}
