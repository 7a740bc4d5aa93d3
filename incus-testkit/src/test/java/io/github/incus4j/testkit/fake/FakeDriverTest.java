package io.github.incus4j.testkit.fake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.Driver;
import io.github.incus4j.api.InstanceDrivers;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.InstanceDriver;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class FakeDriverTest extends FakeFixture {

    @Test
    void isFoundByNameAndRanksBelowRealDrivers() {
        Driver d = InstanceDrivers.select("fake");
        assertEquals("fake", d.name());
        assertEquals(-100, d.priority());
        assertTrue(d.applicable());
        assertEquals("", d.unusableReason());
        assertTrue(d.info().isOperational());
        assertTrue(d.info().hasFeature("virtual-machines"));
        try (Instances other = InstanceDrivers.open("fake", root.resolve("other"))) {
            assertTrue(other instanceof FakeInstances);
            assertEquals("fake", other.info().name());
        }
    }

    @Test
    void lifecycleWithPidsAndPowerStateKeptOffDisk() throws Exception {
        FakeInstance c1 = container("c1");
        Path record = c1.path().resolve("backup.yaml");
        long written = Files.getLastModifiedTime(record).toMillis();
        byte[] before = Files.readAllBytes(record);
        assertEquals(-1, c1.initPid());
        c1.start(false);
        assertEquals(StatusCode.RUNNING, c1.statusCode());
        int pid = c1.initPid();
        assertTrue(pid >= 10_000);
        c1.freeze();
        assertEquals("FROZEN", c1.state());
        InstanceStateException frozen = assertThrows(InstanceStateException.class, () -> run(c1, "true"));
        assertEquals(ErrorTexts.INSTANCE_FROZEN, frozen.getMessage());
        c1.unfreeze();
        c1.restart(Duration.ofSeconds(1));
        assertNotEquals(pid, c1.initPid());
        c1.shutdown(Duration.ofSeconds(1));
        assertEquals(StatusCode.STOPPED, c1.statusCode());
        assertEquals("STOPPED", c1.localConfig().get("volatile.last_state.power"));
        // Start and stop only record the power state in memory: the record is written at close.
        assertEquals(written, Files.getLastModifiedTime(record).toMillis());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(record)));
    }

    @Test
    void cleanShutdownLetsCommandsHandleSigterm() throws Exception {
        FakeInstance c1 = container("c1");
        c1.start(false);
        java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(1);
        incus.commands().register("server", p -> {
            // Install the "handler" (start trapping) before telling the test we are ready, or SIGTERM could
            // arrive first and kill the command with its default action.
            p.awaitSignal(Duration.ZERO);
            ready.countDown();
            while (p.awaitSignal(Duration.ofSeconds(5)).orElse(0) != 15) {
                Thread.onSpinWait();
            }
            p.print("bye\n");
            return 0;
        });
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Cmd server = c1.exec(ExecRequest.of("server"), null, out, null);
        Cmd plain = c1.exec(ExecRequest.of("sleep", "60"), null, null, null);
        assertTrue(ready.await(5, java.util.concurrent.TimeUnit.SECONDS));
        c1.shutdown(Duration.ofSeconds(5));
        assertEquals(0, server.waitFor(WAIT));
        assertEquals("bye\n", out.toString(StandardCharsets.UTF_8));
        assertEquals(143, plain.waitFor(WAIT));
    }

    @Test
    void ephemeralInstancesGoAwayOnStop() {
        Instance e = incus.create(InstanceArgs.builder("e1").ephemeral(true).build(), InstanceSource.none());
        e.start(false);
        e.stop(false);
        assertTrue(incus.find("default", "e1").isEmpty());
        assertFalse(Files.exists(e.path()));
    }

    @Test
    void ignoredShutdownTimesOutThenStopWorks() {
        FakeInstance c1 = container("c1");
        c1.start(false);
        c1.ignoreShutdown(true);
        long t0 = System.nanoTime();
        OperationTimeoutException e = assertThrows(OperationTimeoutException.class,
                () -> c1.shutdown(Duration.ofMillis(100)));
        assertTrue(System.nanoTime() - t0 >= 90_000_000L);
        assertTrue(e.getMessage().startsWith("Failed shutting down instance"), e.getMessage());
        assertTrue(c1.isRunning());
        c1.stop(false);
        assertEquals(StatusCode.STOPPED, c1.statusCode());
    }

    @Test
    void crashKillsCommandsAndLeavesErrorOrStopped() {
        FakeInstance c1 = container("c1");
        c1.start(false);
        Cmd sleeping = c1.exec(ExecRequest.of("sleep", "60"), null, null, null);
        c1.crash(true);
        assertEquals(137, sleeping.waitFor(WAIT));
        assertEquals(StatusCode.ERROR, c1.statusCode());
        InstanceStateException e = assertThrows(InstanceStateException.class, () -> c1.start(false));
        assertEquals(ErrorTexts.cannotStartIn("Error"), e.getMessage());
        c1.delete(false);

        FakeInstance c2 = container("c2");
        c2.start(false);
        c2.crash(false);
        assertEquals(StatusCode.STOPPED, c2.statusCode());
        assertEquals("STOPPED", c2.localConfig().get("volatile.last_state.power"));
        c2.start(false);
        assertThrows(InstanceStateException.class, () -> container("c3").crash(false));
    }

    @Test
    void aVmsCrashFailsItsCommandsInsteadOfMakingUpAStatus() {
        FakeInstance v1 = vm("v1");
        v1.start(false);
        Cmd sleeping = v1.exec(ExecRequest.of("sleep", "60"), null, null, null);
        v1.crash(false);
        InstanceStateException e = assertThrows(InstanceStateException.class, () -> sleeping.waitFor(WAIT));
        assertEquals(ErrorTexts.COMMAND_LOST_VM_DIED, e.getMessage());
        assertEquals(StatusCode.STOPPED, e.statusCode());
        assertTrue(sleeping.exitCode().isEmpty(), "no made-up exit status");
        assertEquals(StatusCode.STOPPED, v1.statusCode());
    }

    @Test
    void injectedFailuresLeaveTheInstanceAsItWas() {
        FakeInstance c1 = container("c1");
        AtomicInteger made = new AtomicInteger();
        incus.faults().failNext("start", 2, () -> new IncusException("boom " + made.incrementAndGet()));
        assertEquals("boom 1", assertThrows(IncusException.class, () -> c1.start(false)).getMessage());
        assertEquals(StatusCode.STOPPED, c1.statusCode());
        assertEquals(1, incus.faults().pending("start"));
        assertEquals("boom 2", assertThrows(IncusException.class, () -> c1.start(false)).getMessage());
        c1.start(false);
        assertEquals(StatusCode.RUNNING, c1.statusCode());

        incus.faults().failNext("exec", 1, () -> new IncusException("no exec"));
        assertThrows(IncusException.class, () -> run(c1, "true"));
        assertEquals(0, run(c1, "true").status());

        incus.faults().failNext("stop", 1, () -> new IncusException("stuck"));
        assertThrows(IncusException.class, () -> c1.stop(false));
        assertTrue(c1.isRunning());
        c1.stop(false);

        incus.faults().failNext("create", 1, () -> new IncusException("disk full"));
        assertThrows(IncusException.class, () -> container("c2"));
        assertTrue(incus.find("default", "c2").isEmpty());
        assertFalse(Files.exists(root.resolve("containers").resolve("c2")));

        incus.faults().failNext("delete", 1, () -> new IncusException("busy disk"));
        assertThrows(IncusException.class, () -> c1.delete(false));
        assertTrue(incus.find("default", "c1").isPresent());
        incus.faults().clear();
        c1.delete(false);

        assertThrows(InvalidArgumentException.class,
                () -> incus.faults().failNext("reboot", 1, () -> new IncusException("x")));
    }

    @Test
    void delaysSlowActionsDown() {
        FakeInstance c1 = container("c1");
        incus.faults().delay("start", Duration.ofMillis(80));
        long t0 = System.nanoTime();
        c1.start(false);
        assertTrue(System.nanoTime() - t0 >= 75_000_000L);
        incus.faults().delay("start", Duration.ZERO);
    }

    @Test
    void refusedSourcesLeaveNothingOnDisk() throws Exception {
        NotFoundException t = assertThrows(NotFoundException.class, () -> incus.create(
                InstanceArgs.builder("c1").build(), InstanceSource.template("alpine", Map.of())));
        assertEquals("Unknown template \"alpine\": the fake driver provides \"busybox\"", t.getMessage());
        NotFoundException n = assertThrows(NotFoundException.class, () -> incus.create(
                InstanceArgs.builder("c1").build(), InstanceSource.image(root.resolve("missing.tar"))));
        assertTrue(n.getMessage().contains("missing.tar"), n.getMessage());
        assertThrows(NotFoundException.class, () -> incus.create(InstanceArgs.builder("c1").build(),
                InstanceSource.rootfs(root.resolve("nope"))));
        try (Stream<Path> s = Files.list(root)) {
            assertEquals(0, s.filter(p -> Files.isDirectory(p.resolve("c1"))).count());
        }
        assertTrue(incus.list().isEmpty());
    }

    @Test
    void filesSurviveCloseAndReopenStopped() throws Exception {
        FakeInstance c1 = busybox("c1");
        c1.start(false);
        assertEquals(0, sh(c1, "echo kept > /root/note").status());
        c1.snapshot("s1", null, false);
        assertEquals(0, sh(c1, "echo later > /root/note").status());
        incus.close();

        incus = FakeDriver.open(root, WAIT, clock);
        FakeInstance again = incus.fake("c1");
        assertEquals(StatusCode.STOPPED, again.statusCode());
        try (var files = again.fileSftp()) {
            assertEquals("later\n", new String(files.readAllBytes("/root/note"), StandardCharsets.UTF_8));
            assertTrue(files.lstat("/bin/sh").isSymlink());
        }
        // The reopened tree shares the unchanged parts of the base tree again.
        assertSame(MemFs.at(MemFs.BUSYBOX, java.util.List.of("bin")),
                MemFs.at(again.root(), java.util.List.of("bin")));
        Instance snap = again.snapshots().get(0);
        try (var files = snap.fileSftp()) {
            assertEquals("kept\n", new String(files.readAllBytes("/root/note"), StandardCharsets.UTF_8));
        }
        again.restore(snap, false);
        again.start(false);
        assertEquals("kept\n", run(again, "cat", "/root/note").out());
    }

    @Test
    void deleteLeavesNothingOnDisk() throws Exception {
        FakeInstance c1 = busybox("c1");
        c1.snapshot("s1", null, false);
        incus.close();
        incus = FakeDriver.open(root, WAIT, clock);
        incus.delete("default", "c1", false);
        incus.close();
        try (Stream<Path> s = Files.walk(root)) {
            assertEquals(0, s.filter(Files::isRegularFile).count());
        }
        incus = FakeDriver.open(root, WAIT, clock);
        assertTrue(incus.list().isEmpty());
    }

    @Test
    void statefulStopAndStartCarryTheGuestState() throws Exception {
        Instance c1 = incus.create(InstanceArgs.builder("c1").config("migration.stateful", "true").build(),
                InstanceSource.none());
        c1.start(false);
        clock.advance(Duration.ofSeconds(100));
        long cpu = c1.renderState(null).cpu().usage();
        c1.stop(true);
        assertTrue(c1.isStateful());
        incus.close();
        incus = FakeDriver.open(root, WAIT, clock);
        Instance back = incus.load("c1");
        assertTrue(back.isStateful());
        back.start(true);
        assertFalse(back.isStateful());
        assertTrue(back.renderState(null).cpu().usage() >= cpu);
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> container("c2").stop(true));
        assertEquals(ErrorTexts.statefulStopNeedsMigrationStateful(io.github.incus4j.api.InstanceType.CONTAINER),
                e.getMessage());
    }

    @Test
    void consoleEchoesAndLogs() throws Exception {
        FakeInstance c1 = container("c1");
        c1.start(false);
        try (var session = c1.console("console")) {
            // busybox init's askfirst: the first line starts the console's shell, which then runs what is typed.
            session.input().write("\nX=6; echo from-$X-shell\n".getBytes(StandardCharsets.UTF_8));
            byte[] buf = new byte[4096];
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            while (!seen.toString(StandardCharsets.UTF_8).contains("from-6-shell\r\n/ # ")) {
                int n = session.output().read(buf);
                assertTrue(n > 0);
                seen.write(buf, 0, n);
            }
            assertTrue(seen.toString(StandardCharsets.UTF_8).startsWith("\r\n/ # X=6; echo from-$X-shell\r\n"),
                    seen.toString(StandardCharsets.UTF_8));
            c1.stop(false);
            assertTrue(session.disconnected().toCompletableFuture().isDone());
        }
        String log = ((io.github.incus4j.api.Container) c1).consoleLog(
                io.github.incus4j.api.model.ConsoleLogOptions.READ);
        assertTrue(log.contains("Container c1 started"), log);
        assertTrue(log.contains("Please press Enter to activate this console."), log);
        assertTrue(log.contains("from-6-shell"), log);
        assertTrue(log.contains("reboot: Power down"), log);
        ((io.github.incus4j.api.Container) c1).consoleLog(io.github.incus4j.api.model.ConsoleLogOptions.CLEAR);
        assertEquals("", ((io.github.incus4j.api.Container) c1).consoleLog(
                io.github.incus4j.api.model.ConsoleLogOptions.READ));
    }

    @Test
    void consoleRingIsBounded() {
        FakeConsole console = new FakeConsole(() -> "c1", (line, out, done) -> done.run());
        String line = "x".repeat(1000) + "\n";
        for (int i = 0; i < 200; i++) {
            console.print(line);
        }
        String text = console.read(0, false);
        assertEquals(FakeConsole.CAPACITY, text.length());
        assertEquals(100, console.read(100, false).length());
    }
}
