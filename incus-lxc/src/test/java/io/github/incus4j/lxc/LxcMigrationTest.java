package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.internal.config.VolatileIdmaps;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.internal.migration.MigrationWire;
import io.github.incus4j.lxc.binding.Liblxc;
import io.github.incus4j.testkit.fake.FakeMigration;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Migration between two lxc drivers on different roots of this host whose id maps differ (the target maps container
 * root to host id {@link #TARGET_BASE}), and what a migration refuses.
 */
class LxcMigrationTest {
    private static final System.Logger LOG = System.getLogger(LxcMigrationTest.class.getName());
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final long TARGET_BASE = 2_000_000;
    private static final IdmapSet TARGET_MAP = new IdmapSet(List.of(new IdmapEntry(true, false, TARGET_BASE, 0, 65536),
            new IdmapEntry(false, true, TARGET_BASE, 0, 65536)));

    @TempDir
    Path dir;
    private LxcInstances source;
    private LxcInstances target;

    @BeforeEach
    void open() {
        LxcHost.require();
        source = new LxcDriver().open(LxcHost.searchable(dir.resolve("source")), WAIT);
        target = new LxcInstances(new LxcDriver().info(), Liblxc.load(), LxcHost.searchable(dir.resolve("target")),
                WAIT, Optional.of(TARGET_MAP));
    }

    @AfterEach
    void close() {
        LxcHost.deleteAll(target);
        LxcHost.deleteAll(source);
    }

    private static String name() {
        return "lxcm-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static long uid(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    private static String run(Instance i, String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of(argv), null, out, new ByteArrayOutputStream())) {
            assertEquals(0, c.waitFor(WAIT), List.of(argv).toString());
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void stoppedContainerMovesWithSnapshotsAndIsShiftedToTheTargetsMap() throws Exception {
        Instance src = source.create(InstanceArgs.builder(name()).config("user.k", "v").build(),
                InstanceSource.template("busybox", Map.of()));
        long sourceBase = ((Container) src).diskIdmap().orElseThrow().entries().get(0).hostId();
        src.start(false);
        run(src, "sh", "-c", "mkdir -p /srv && echo v1 > /srv/f && chown 1000:1001 /srv/f");
        src.stop(false);
        src.snapshot("s1", null, false);
        src.start(false);
        // After the write, which clears set-id bits.
        run(src, "sh", "-c", "echo v2 > /srv/f && chmod 4750 /srv/f");
        src.stop(false);
        assertEquals(sourceBase + 1000, uid(src.rootfsPath().resolve("srv/f")));
        assertEquals(04750, (Integer) Files.getAttribute(src.rootfsPath().resolve("srv/f"), "unix:mode") & 07777);

        Instance dst = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.none());
        long t0 = System.nanoTime();
        FakeMigration.migrate(src, dst, false, true, WAIT);
        long migrated = System.nanoTime();
        LOG.log(System.Logger.Level.INFO, "migration of a stopped busybox container with one snapshot: {0} ms",
                (migrated - t0) / 1_000_000);

        Container moved = (Container) target.load(src.name());
        assertEquals("v", moved.localConfig().get("user.k"));
        assertEquals(TARGET_MAP, moved.diskIdmap().orElseThrow());
        assertEquals(TARGET_MAP, moved.nextIdmap().orElseThrow());
        assertEquals(Long.toString(TARGET_BASE), moved.localConfig().get("volatile.idmap.base"));
        assertFalse(moved.localConfig().containsKey(VolatileIdmaps.CURRENT));
        Path f = moved.rootfsPath().resolve("srv/f");
        assertEquals(TARGET_BASE + 1000, uid(f), "owner shifted to the target's map");
        assertEquals(TARGET_BASE + 1001, (long) (Integer) Files.getAttribute(f, "unix:gid", LinkOption.NOFOLLOW_LINKS));
        assertEquals(04750, (Integer) Files.getAttribute(f, "unix:mode") & 07777, "set-id bit kept");
        assertEquals(TARGET_BASE, uid(moved.rootfsPath()));
        assertEquals("v2\n", Files.readString(f));
        assertEquals(List.of(src.name() + "/s1"), moved.snapshots().stream().map(Instance::name).toList());
        Path snapFile = moved.snapshots().get(0).rootfsPath().resolve("srv/f");
        assertEquals("v1\n", Files.readString(snapFile));
        assertEquals(TARGET_BASE + 1000, uid(snapFile));
        assertFalse(Files.exists(moved.path().resolve(".migrating")), "no staging left");
        assertTrue(src.rootfsPath().resolve("srv/f").toFile().exists(), "the source stays until deleted");

        moved.start(false);
        assertEquals(StatusCode.RUNNING, moved.statusCode());
        assertEquals("1000 1001 v2\n", run(moved, "sh", "-c", "echo $(stat -c '%u %g' /srv/f) $(cat /srv/f)"));
        String info = LxcHost.lxcInfo(target, moved);
        assertTrue(info.contains("RUNNING"), info);
        assertTrue(info.contains(Integer.toString(moved.initPid())), info);
        moved.restore(moved.snapshots().get(0), false);
        assertEquals("v1\n", run(moved, "cat", "/srv/f"));
        moved.stop(false);
        assertTrue(LxcHost.lxcInfo(target, moved).contains("STOPPED"));
    }

    @Test
    void privilegedContainerKeepsItsIds() throws Exception {
        Instance src = source.create(InstanceArgs.builder(name()).config("security.privileged", "true").build(),
                InstanceSource.template("busybox", Map.of()));
        Files.writeString(src.rootfsPath().resolve("root/owned"), "x");
        Files.setAttribute(src.rootfsPath().resolve("root/owned"), "unix:uid", 4242, LinkOption.NOFOLLOW_LINKS);
        Instance dst = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.none());
        FakeMigration.migrate(src, dst, false, false, WAIT);
        Container moved = (Container) target.load(src.name());
        assertTrue(moved.diskIdmap().isEmpty());
        assertEquals(4242, uid(moved.rootfsPath().resolve("root/owned")));
        assertEquals(0, uid(moved.rootfsPath().resolve("bin")));
        moved.start(false);
        assertEquals("0\n", run(moved, "id", "-u"));
    }

    @Test
    void runningContainerIsNotSentWithoutLiveOrConsent() {
        Instance src = source.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox",
                Map.of()));
        src.start(false);
        Instance dst = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.none());
        IncusException e = assertThrows(IncusException.class, () -> FakeMigration.migrate(src, dst, false, false,
                WAIT));
        assertTrue(e.getMessage().startsWith("Instance is running"), e.getMessage());
        assertTrue(src.isRunning());
        assertTrue(dst.snapshots().isEmpty());
    }

    /** A stream that must be refused, and the start of the refusal's message. */
    private record BadStream(String what, String message, List<ImageTar.Entry> entries) {
    }

    @Test
    void badStreamsAreRefusedAndLeaveTheTargetAsItWas() throws Exception {
        Instant now = Instant.now();
        ImageTar.Entry root = new ImageTar.Entry("rootfs", ImageTar.Kind.DIRECTORY, 0755, 0, 0, now, 0, "");
        List<BadStream> streams = List.of(
                new BadStream("an owner outside the target's map", "Couldn't map id 100000", List.of(root,
                        new ImageTar.Entry("rootfs/a", ImageTar.Kind.FILE, 0644, 0, 0, now, 1, ""),
                        new ImageTar.Entry("rootfs/b", ImageTar.Kind.FILE, 0644, 100_000, 0, now, 1, ""))),
                new BadStream("a file under a planted symlink", "Invalid image: \"etc/x\" lies under", List.of(
                        root, new ImageTar.Entry("rootfs/etc", ImageTar.Kind.SYMLINK, 0777, 0, 0, now, 0,
                                dir.resolve("outside").toString()),
                        new ImageTar.Entry("rootfs/etc/x", ImageTar.Kind.FILE, 0644, 0, 0, now, 1, ""))),
                new BadStream("a snapshot not announced", "Unexpected snapshot \"s9\"", List.of(root,
                        new ImageTar.Entry("snapshots/s9/rootfs", ImageTar.Kind.DIRECTORY, 0755, 0, 0, now, 0,
                                ""))));
        Files.createDirectories(dir.resolve("outside"));
        for (BadStream bad : streams) {
            Instance dst = target.create(InstanceArgs.builder(name()).build(), InstanceSource.none());
            Throwable refused = receiveFrom(dst, bad.entries());
            assertInstanceOf(InvalidArgumentException.class, refused, bad.what());
            assertTrue(refused.getMessage().startsWith(bad.message()), bad.what() + ": " + refused.getMessage());
            Instance again = target.load(dst.name());
            assertEquals(null, again.localConfig().get("user.sent"), bad.what());
            assertTrue(again.snapshots().isEmpty(), bad.what());
            try (var list = Files.list(again.rootfsPath())) {
                assertEquals(0, list.count(), bad.what() + ": the empty rootfs stays empty");
            }
            assertFalse(Files.exists(again.path().resolve(".migrating")), bad.what() + ": no staging left");
            try (var list = Files.list(dir.resolve("outside"))) {
                assertEquals(0, list.count(), bad.what() + ": nothing written outside");
            }
        }
    }

    @Test
    void liveStreamWhoseDumpCannotBeRestoredLeavesTheTargetAsItWas() throws Exception {
        LiveCounter.requireCriu();
        Instance dst = target.create(InstanceArgs.builder(name()).build(), InstanceSource.none());
        FakeMigration.Ends ends = FakeMigration.pipe(true, false, Duration.ofSeconds(20));
        CompletableFuture<Void> received = new CompletableFuture<>();
        Thread receiver = new Thread(() -> {
            try {
                dst.migrateReceive(new MigrateReceiveArgs(ends.target(), null, false, false));
                received.complete(null);
            } catch (Throwable t) {
                received.completeExceptionally(t);
            }
        }, "lxc-migration-test-receiver");
        receiver.start();
        InstanceArgs sent = InstanceArgs.builder(dst.name()).config("user.sent", "yes")
                .config("migration.stateful", "true").build();
        Map<String, String> header = MigrationWire.header("test", InstanceType.CONTAINER,
                new InstanceRecord(sent, List.of()), true, CriuStream.FORMAT, Map.of(MigrationWire.READY, "true"));
        Path bogus = dir.resolve(CriuStream.FINAL);
        Files.createDirectories(bogus);
        Files.writeString(bogus.resolve("inventory.img"), "not a CRIU image");
        Instant now = Instant.now();
        IncusException e = assertThrows(IncusException.class, () -> MigrationWire.send(ends.source(), header,
                Duration.ofSeconds(60), "test", new MigrationWire.Sender() {
                    @Override
                    public void filesystem(java.io.OutputStream out) {
                        ImageTar.Writer w = ImageTar.writer(out);
                        w.add(new ImageTar.Entry("rootfs", ImageTar.Kind.DIRECTORY, 0755, 0, 0, now, 0, ""), null);
                        w.add(new ImageTar.Entry("rootfs/f", ImageTar.Kind.FILE, 0644, 0, 0, now, 1, ""),
                                new java.io.ByteArrayInputStream(new byte[] {'x'}));
                        w.finish();
                    }

                    @Override
                    public void state(java.io.OutputStream out) throws IOException {
                        java.io.DataOutputStream d = new java.io.DataOutputStream(out);
                        CriuStream.writeDir(d, bogus);
                        CriuStream.writeManifest(d, List.of("f"));
                        d.writeByte(CriuStream.END);
                        d.flush();
                    }
                }));
        assertTrue(e.getMessage().contains("Failed to restore container"), e.getMessage());
        ExecutionException failed = assertThrows(ExecutionException.class, () -> received.get(60, TimeUnit.SECONDS));
        assertTrue(failed.getCause().getMessage().contains("Failed to restore container"),
                failed.getCause().getMessage());
        receiver.join(10_000);
        Instance again = target.load(dst.name());
        assertEquals(null, again.localConfig().get("user.sent"), "the former definition is back");
        assertEquals(StatusCode.STOPPED, again.statusCode());
        try (var list = Files.list(again.rootfsPath())) {
            assertEquals(0, list.count(), "the empty rootfs is empty again");
        }
        assertFalse(Files.exists(again.path().resolve(".migrating")), "no staging left");
    }

    /** Sends {@code entries} (contents: one byte each) as a migration into {@code dst}; returns its failure. */
    private Throwable receiveFrom(Instance dst, List<ImageTar.Entry> entries) throws Exception {
        FakeMigration.Ends ends = FakeMigration.pipe(false, false, Duration.ofSeconds(5));
        CompletableFuture<Void> received = new CompletableFuture<>();
        Thread receiver = new Thread(() -> {
            try {
                dst.migrateReceive(new MigrateReceiveArgs(ends.target(), null, false, false));
                received.complete(null);
            } catch (Throwable t) {
                received.completeExceptionally(t);
            }
        }, "lxc-migration-test-receiver");
        receiver.start();
        InstanceArgs sent = InstanceArgs.builder(dst.name()).config("user.sent", "yes").build();
        Map<String, String> header = MigrationWire.header("test", InstanceType.CONTAINER,
                new InstanceRecord(sent, List.of()), false, null, Map.of());
        assertThrows(IncusException.class, () -> MigrationWire.send(ends.source(), header, Duration.ofSeconds(5),
                "test", out -> {
                    ImageTar.Writer w = ImageTar.writer(out);
                    for (ImageTar.Entry e : entries) {
                        w.add(e, e.kind() == ImageTar.Kind.FILE ? new java.io.ByteArrayInputStream(new byte[] {'x'})
                                : null);
                    }
                    w.finish();
                }));
        try {
            received.get(10, TimeUnit.SECONDS);
            throw new AssertionError("the receiver accepted the stream");
        } catch (ExecutionException e) {
            return e.getCause();
        } finally {
            receiver.join(10_000);
        }
    }

    /** The counter's {pid, count} once its count exceeds {@code floor}, failing after {@link #WAIT}. */
    private static long[] counterPast(Instance i, long floor, String failure) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (Cmd c = i.exec(ExecRequest.of("cat", "/counter"), null, out, new ByteArrayOutputStream())) {
                last = c.waitFor(WAIT) == 0 ? out.toString(StandardCharsets.UTF_8).strip() : "";
            }
            if (last.matches("[0-9]+ [0-9]+") && Long.parseLong(last.split(" ")[1]) > floor) {
                return new long[] {Long.parseLong(last.split(" ")[0]), Long.parseLong(last.split(" ")[1])};
            }
            Thread.sleep(50);
        }
        return fail(failure + " (count " + floor + " before, now \"" + last + "\")");
    }

    @Test
    void runningContainerMovesLiveWithPreDumpsAndItsCounterCountsOn() throws Exception {
        LiveCounter.requireCriu();
        Container src = (Container) source.create(InstanceArgs.builder(name()).config("migration.stateful", "true")
                .config("migration.incremental.memory", "true").config("migration.incremental.memory.iterations", "4")
                .build(), InstanceSource.template("busybox", Map.of()));
        src.start(false);
        LiveCounter.start(src);
        long[] before = counterPast(src, 3, "the counter never counted");
        Instance dst = target.create(InstanceArgs.builder(src.name()).build(), InstanceSource.none());
        try (LiveCounter watch = LiveCounter.watch(src.rootfsPath(), dst.rootfsPath())) {
            long t0 = System.nanoTime();
            FakeMigration.migrate(src, dst, true, false, WAIT);
            long total = (System.nanoTime() - t0) / 1_000_000;
            Container moved = (Container) target.load(src.name());
            assertEquals(StatusCode.RUNNING, moved.statusCode());
            long[] after = counterPast(moved, before[1], "the counter did not count on after the migration");
            watch.awaitPast(after[1] + 2, WAIT);
            LiveCounter.Gap gap = watch.longestGap();
            System.out.printf("ct_live_migrate_total_ms %d ms%nct_live_migrate_downtime_ms %d ms (counter stood at"
                    + " %d)%n", total, gap.millis(), gap.at());
            assertEquals(before[0], after[0], "the same process counts on");
            assertTrue(gap.at() >= before[1], "the gap is the migration's: " + gap);
            assertEquals(StatusCode.STOPPED, src.statusCode(), "the source stopped once moved");
            assertEquals(TARGET_MAP, moved.diskIdmap().orElseThrow());
            assertTrue(LxcHost.lxcInfo(target, moved).contains("RUNNING"));
            assertFalse(Files.exists(moved.path().resolve(".migrating")), "no staging left");
            assertFalse(Files.exists(src.path().resolve(".migration-state")), "no dumps left on the source");
            assertTrue(watch.monotonic(), "the count never went back: " + watch.samples());
        }
    }

    @Test
    void statefulOperationsFollowWhatCriuCanDoHere() throws Exception {
        Criu criu = Criu.host();
        Map<String, Object> features = new LxcDriver().info().features();
        assertEquals(criu.usable(), features.get("criu"));
        Container c = (Container) source.create(InstanceArgs.builder(name()).config("migration.stateful", "true")
                .build(), InstanceSource.template("busybox", Map.of()));
        c.start(false);
        if (!criu.usable()) {
            assertEquals(criu.reason(), features.get("criu.error"));
            LOG.log(System.Logger.Level.INFO, "CRIU unusable here: {0}", criu.reason());
            IncusException stop = assertThrows(IncusException.class, () -> c.stop(true));
            assertTrue(stop.getMessage().startsWith("Unable to perform container live migration. CRIU "),
                    stop.getMessage());
            assertTrue(stop.getMessage().endsWith(criu.installed() ? criu.reason() : "CRIU isn't installed"),
                    stop.getMessage());
            assertTrue(c.isRunning());
            assertFalse(c.isStateful());
            IncusException snap = assertThrows(IncusException.class, () -> c.snapshot("s1", null, true));
            assertTrue(snap.getMessage().startsWith("Unable to create a stateful snapshot. CRIU "),
                    snap.getMessage());
            assertTrue(c.snapshots().isEmpty());
            Instance dst = target.create(InstanceArgs.builder(c.name()).build(), InstanceSource.none());
            IncusException live = assertThrows(IncusException.class, () -> FakeMigration.migrate(c, dst, true,
                    false, WAIT));
            assertTrue(live.getMessage().startsWith("Unable to perform container live migration. CRIU "),
                    live.getMessage());
            assertTrue(c.isRunning());
            assertFalse(Files.exists(c.statePath()));
            return;
        }
        // A counter only a live process holds, written to disk: after a boot it would stand still, after a restore
        // the same process goes on. Started as a daemon (setsid): a process left in the exec's session has its session
        // leader outside the container, which CRIU cannot dump (as with Incus).
        run(c, "sh", "-c", "setsid sh -c 'n=0; while :; do n=$((n+1)); echo $$ $n > /counter.new && mv /counter.new"
                + " /counter; sleep 0.1; done' </dev/null >/dev/null 2>&1 &");
        long[] counting = counterPast(c, 2, "the counter never counted");
        long t0 = System.nanoTime();
        c.stop(true);
        long dumped = System.nanoTime();
        assertEquals(StatusCode.STOPPED, c.statusCode());
        assertTrue(c.isStateful());
        c.start(true);
        long restored = System.nanoTime();
        LOG.log(System.Logger.Level.INFO, "checkpoint {0} ms, restore {1} ms", (dumped - t0) / 1_000_000,
                (restored - dumped) / 1_000_000);
        assertEquals(StatusCode.RUNNING, c.statusCode());
        assertFalse(c.isStateful());
        // It counted on until the dump froze it: what the file holds now is where it stopped.
        long[] stopped = counterPast(c, counting[1] - 1, "the counter's file is gone");
        long[] after = counterPast(c, stopped[1], "the counter did not carry on after the stateful start");
        assertEquals(counting[0], after[0], "the same process counts on");
        c.snapshot("live", null, true);
        assertTrue(c.snapshots().get(0).isStateful());
        assertTrue(c.isRunning());
        List<String> names = new ArrayList<>();
        c.snapshots().forEach(s -> names.add(s.name()));
        assertEquals(List.of(c.name() + "/live"), names);
    }
}
