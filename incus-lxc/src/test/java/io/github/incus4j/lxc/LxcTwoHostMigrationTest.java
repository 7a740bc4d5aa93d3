package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Container;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.lxc.binding.Liblxc;
import io.github.incus4j.testkit.net.NetnsPair;
import io.github.incus4j.testkit.net.TcpMigration;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Migration between two "hosts": two lxc drivers on separate roots (different id maps) whose only link is TCP
 * between two network namespaces joined by a veth pair ({@link NetnsPair}, {@link TcpMigration}); nothing of the
 * migration goes through shared files. Live (CRIU) and stopped, a connection cut mid-transfer, a target that refuses.
 */
class LxcTwoHostMigrationTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final long TARGET_BASE = 2_000_000;
    private static final IdmapSet TARGET_MAP = new IdmapSet(List.of(new IdmapEntry(true, false, TARGET_BASE, 0, 65536),
            new IdmapEntry(false, true, TARGET_BASE, 0, 65536)));

    @TempDir
    Path dir;
    private NetnsPair net;
    private LxcInstances source;
    private LxcInstances target;

    @BeforeEach
    void open() throws Exception {
        LxcHost.require();
        net = NetnsPair.create();
        net.checkRoute();
        source = new LxcDriver().open(LxcHost.searchable(dir.resolve("host-a")), WAIT);
        target = new LxcInstances(new LxcDriver().info(), Liblxc.load(), LxcHost.searchable(dir.resolve("host-b")),
                WAIT, Optional.of(TARGET_MAP));
    }

    @AfterEach
    void close() throws Exception {
        try {
            LxcHost.deleteAll(target);
            LxcHost.deleteAll(source);
        } finally {
            if (net != null) {
                net.close();
            }
        }
    }

    private static String name() {
        return "lxc2h-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static String run(Instance i, String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of(argv), null, out, new ByteArrayOutputStream())) {
            assertEquals(0, c.waitFor(WAIT), List.of(argv).toString());
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** {pid, count} of the counter. */
    private static long[] counter(Instance i) {
        String[] parts = run(i, "cat", "/counter").strip().split(" ");
        return new long[] {Long.parseLong(parts[0]), Long.parseLong(parts[1])};
    }

    private Container runningCounter() throws InterruptedException {
        Container src = (Container) source.create(InstanceArgs.builder(name()).config("migration.stateful", "true")
                .config("migration.incremental.memory", "true").build(), InstanceSource.template("busybox",
                        Map.of()));
        src.start(false);
        LiveCounter.start(src);
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!Files.exists(src.rootfsPath().resolve("counter")) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Thread.sleep(300);
        return src;
    }

    @Test
    void runningContainerMovesLiveOverTcpBetweenTwoNamespaces() throws Exception {
        LiveCounter.requireCriu();
        Container src = runningCounter();
        long[] before = counter(src);
        Instance dst = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.none());
        try (TcpMigration tcp = TcpMigration.open(net, true, 0);
                LiveCounter watch = LiveCounter.watch(src.rootfsPath(), dst.rootfsPath())) {
            long t0 = System.nanoTime();
            TcpMigration.migrate(src, dst, tcp, WAIT);
            long total = (System.nanoTime() - t0) / 1_000_000;
            Container moved = (Container) target.load(src.name());
            assertEquals(StatusCode.RUNNING, moved.statusCode());
            watch.awaitPast(before[1] + 10, WAIT);
            long[] after = counter(moved);
            LiveCounter.Gap gap = watch.longestGap();
            System.out.printf("two namespaces over TCP: ct_live_migrate_total_ms %d ms, ct_live_migrate_downtime_ms"
                    + " %d ms (counter stood at %d)%n", total, gap.millis(), gap.at());
            assertEquals(before[0], after[0], "the same process counts on");
            assertTrue(after[1] > before[1], "counted on from " + before[1] + ", not from 0: " + after[1]);
            assertTrue(watch.monotonic(), watch.samples());
            assertEquals(StatusCode.STOPPED, src.statusCode());
            assertTrue(LxcHost.lxcInfo(target, moved).contains("RUNNING"));
        }
    }

    @Test
    void stoppedContainerMovesOverTcpBetweenTwoNamespaces() throws Exception {
        Instance src = source.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox",
                Map.of()));
        src.start(false);
        run(src, "sh", "-c", "echo over-the-wire > /root/f && chown 1000 /root/f");
        src.stop(false);
        Instance dst = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.none());
        try (TcpMigration tcp = TcpMigration.open(net, false, 0)) {
            TcpMigration.migrate(src, dst, tcp, WAIT);
        }
        Instance moved = target.load(src.name());
        assertEquals(TARGET_BASE + 1000, (long) (Integer) Files.getAttribute(moved.rootfsPath().resolve("root/f"),
                "unix:uid"));
        moved.start(false);
        assertEquals("1000 over-the-wire\n", run(moved, "sh", "-c", "echo $(stat -c %u /root/f) $(cat /root/f)"));
    }

    @Test
    void connectionCutDuringTheStateLeavesTheSourceRunningAndTheTargetEmpty() throws Exception {
        LiveCounter.requireCriu();
        Container src = runningCounter();
        long[] before = counter(src);
        Instance dst = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.none());
        try (TcpMigration tcp = TcpMigration.open(net, true, 64 * 1024)) {
            Exception e = assertThrows(Exception.class, () -> TcpMigration.migrate(src, dst, tcp, WAIT));
            System.out.println("cut mid-state: " + e);
            assertTrue(e.getMessage().contains("cut by the test"), e.getMessage());
        }
        assertEquals(StatusCode.RUNNING, src.statusCode(), "restored from its own dump");
        Thread.sleep(500);
        long[] after = counter(src);
        assertEquals(before[0], after[0], "the same process counts on");
        assertTrue(after[1] > before[1], before[1] + " then " + after[1]);
        assertFalse(Files.exists(src.path().resolve(".migration-state")));
        Instance left = target.load(dst.name());
        assertEquals(StatusCode.STOPPED, left.statusCode());
        assertFalse(Files.exists(left.path().resolve(".migrating")), "no staging left");
        try (var list = Files.list(left.rootfsPath())) {
            assertEquals(0, list.count(), "the empty rootfs stays empty");
        }
        assertEquals(null, left.localConfig().get("migration.stateful"), "no definition adopted");
    }

    /**
     * Migrates {@code src} live into {@code dst}, which must refuse: the source's error says the target refused with
     * {@code text}, the target's is a {@code targetError}; both well before the migration's wait runs out (the
     * source learns it from the target's answer to the header, before any data moves); the counter is the same
     * process, never dumped; nothing staged on the target.
     */
    private void assertRefused(Container src, Instance dst, String text,
            Class<? extends IncusException> targetError) throws Exception {
        long[] before = counter(src);
        long t0 = System.nanoTime();
        try (TcpMigration tcp = TcpMigration.open(net, true, 0)) {
            IncusException e = assertThrows(IncusException.class, () -> TcpMigration.migrate(src, dst, tcp, WAIT));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.println("refused in " + ms + " ms: " + e.getMessage());
            assertEquals("Migration refused by the target: " + text, e.getMessage());
            assertTrue(ms < WAIT.toMillis() / 3, "refused at once, not after a wait: " + ms + " ms");
            assertEquals(1, e.getSuppressed().length, "the target's own error");
            assertTrue(targetError.isInstance(e.getSuppressed()[0]), e.getSuppressed()[0].toString());
            assertEquals(text, e.getSuppressed()[0].getMessage());
        }
        assertEquals(StatusCode.RUNNING, src.statusCode());
        long[] after = counter(src);
        assertEquals(before[0], after[0], "never dumped nor restored: the same process");
        assertTrue(after[1] >= before[1]);
        assertFalse(Files.exists(src.path().resolve(".migration-state")));
        assertFalse(Files.exists(dst.path().resolve(".migrating")), "nothing staged on the target");
    }

    @Test
    void targetWithTheNameTakenRefusesBeforeTheSourceDumps() throws Exception {
        LiveCounter.requireCriu();
        Container src = runningCounter();
        // The target host has a container of that name already: stopped with its files, then running.
        Instance taken = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.template("busybox",
                Map.of()));
        Files.writeString(taken.rootfsPath().resolve("root/mine"), "target's own");
        assertRefused(src, taken, "Instance \"" + src.name() + "\" already exists", BusyException.class);
        assertEquals("target's own", Files.readString(taken.rootfsPath().resolve("root/mine")));
        assertEquals(StatusCode.STOPPED, taken.statusCode());
        taken.start(false);
        assertRefused(src, taken, "Instance is running", InstanceStateException.class);
        assertEquals(StatusCode.RUNNING, taken.statusCode());
        assertEquals("target's own", run(taken, "cat", "/root/mine"));
    }

    @Test
    void targetWithoutCriuRefusesBeforeTheSourceDumps() throws Exception {
        LiveCounter.requireCriu();
        Container src = runningCounter();
        // The target session acts as on a host without CRIU (the answer the probe gives there).
        target.criu(new Criu(false, false, "", "CRIU isn't installed"));
        Instance dst = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.none());
        assertRefused(src, dst, "Unable to perform container live migration. CRIU isn't installed",
                NotSupportedException.class);
        try (var list = Files.list(dst.rootfsPath())) {
            assertEquals(0, list.count(), "the empty rootfs stays empty");
        }
        assertEquals(null, dst.localConfig().get("migration.stateful"), "no definition adopted");
    }

    @Test
    void targetWithoutAnIdRangeRefusesBeforeTheSourceDumps() throws Exception {
        LiveCounter.requireCriu();
        Container src = runningCounter();
        LxcInstances noIds = new LxcInstances(new LxcDriver().info(), Liblxc.load(),
                LxcHost.searchable(dir.resolve("host-c")), WAIT, Optional.empty());
        try {
            Instance dst = noIds.create(InstanceArgs.builder(src.name()).config("security.privileged", "true")
                    .build(), InstanceSource.none());
            assertRefused(src, dst, LxcContainerInstance.NO_ALLOCATION, InvalidArgumentException.class);
        } finally {
            LxcHost.deleteAll(noIds);
        }
    }
}
