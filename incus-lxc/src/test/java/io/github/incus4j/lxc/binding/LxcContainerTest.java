package io.github.incus4j.lxc.binding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * One real busybox container through its life: created by lxc-create, configured and inspected through the binding,
 * started by lxc-start, frozen through the cgroup filesystem, shut down and destroyed through the binding. Needs root,
 * liblxc, lxc and busybox-static; skipped with the reason otherwise.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LxcContainerTest {
    private Path lxcpath;
    private String name;
    private LxcContainer c;
    private String cgroupsBefore;
    private String sigIgnBefore;

    @BeforeAll
    void create(@TempDir Path dir) {
        Liblxc lxc = TestLxc.requireContainerHost();
        lxcpath = dir;
        name = TestLxc.uniqueName();
        c = TestLxc.createBusybox(lxc, lxcpath, name);
    }

    @AfterAll
    void cleanUp() {
        if (c != null) {
            TestLxc.discard(c);
        }
    }

    @Test
    @Order(1)
    void stoppedContainerAndItsConfig() {
        assertTrue(c.isDefined());
        assertFalse(c.isRunning());
        assertEquals("STOPPED", c.state());
        assertEquals(-1, c.initPid());
        assertEquals(Optional.of("empty"), c.getConfigItem("lxc.net.0.type"));
        assertEquals(Optional.of("unconfined"), c.getConfigItem("lxc.apparmor.profile"));
        assertEquals(Optional.of(name), c.getConfigItem("lxc.uts.name"));
        // A value longer than any small fixed buffer round-trips: the length is asked first.
        String longValue = "x".repeat(3000);
        c.setConfigItem("lxc.environment", "LONG=" + longValue);
        assertTrue(c.getConfigItem("lxc.environment").orElseThrow().contains(longValue));
        c.setConfigItem("lxc.environment", "");
        assertEquals(Optional.of(""), c.getConfigItem("lxc.environment"));
        // What was saved is on disk in the container's own config file.
        String saved = TestLxc.read(lxcpath.resolve(name).resolve("config"));
        assertTrue(saved.contains("lxc.net.0.type = empty"), saved);
        assertTrue(saved.contains("lxc.apparmor.profile = unconfined"), saved);
        var e = assertThrows(InvalidArgumentException.class, () -> c.setConfigItem("lxc.net.0.type", "no-such"));
        assertTrue(e.getMessage().contains("no-such"), e.getMessage());
        Path copy = lxcpath.resolve("config-copy");
        c.saveConfig(copy.toString());
        assertTrue(TestLxc.read(copy).contains("lxc.net.0.type = empty"));
    }

    @Test
    @Order(2)
    void startsFromAHelperProcessLeavingTheJvmAlone() {
        cgroupsBefore = TestLxc.read(Path.of("/proc/self/cgroup"));
        sigIgnBefore = TestLxc.sigIgn();
        LxcTool.start(lxcpath, name, Duration.ofSeconds(60));

        assertTrue(c.isRunning());
        assertEquals("RUNNING", c.state());
        int pid = c.initPid();
        assertTrue(pid > 0, "init pid " + pid);
        Map<String, String> info = TestLxc.lxcInfo(lxcpath, name);
        assertEquals("RUNNING", info.get("State"), info.toString());
        assertEquals(Integer.toString(pid), info.get("PID"), info.toString());

        assertEquals(cgroupsBefore, TestLxc.read(Path.of("/proc/self/cgroup")), "the JVM moved cgroups");
        assertEquals(sigIgnBefore, TestLxc.sigIgn(), "the JVM's ignored signals changed");
        assertEquals(0, ProcessHandle.current().descendants().count(), "the monitor must not be the JVM's child");
        assertTrue(c.wait("RUNNING", 1));
    }

    @Test
    @Order(3)
    void runningConfigAndCgroupItems() {
        assertEquals(Optional.of("empty"), c.getRunningConfigItem("lxc.net.0.type"));
        assertEquals(Optional.of("unconfined"), c.getRunningConfigItem("lxc.apparmor.profile"));

        boolean v1 = c.getCgroupItem("memory.limit_in_bytes").isPresent();
        String memoryKey = v1 ? "memory.limit_in_bytes" : "memory.max";
        c.setCgroupItem(memoryKey, "268435456");
        assertEquals(Optional.of("268435456"), c.getCgroupItem(memoryKey));
        c.setCgroupItem("pids.max", "123");
        assertEquals(Optional.of("123"), c.getCgroupItem("pids.max"));
        long pids = Long.parseLong(c.getCgroupItem("pids.current").orElseThrow());
        assertTrue(pids >= 1, "pids.current " + pids);
        assertEquals(Optional.empty(), c.getCgroupItem("no.such.file"));
        var e = assertThrows(InvalidArgumentException.class, () -> c.setCgroupItem("pids.max", "lots"));
        assertTrue(e.getMessage().contains("lots"), e.getMessage());
        System.out.println("cgroup " + (v1 ? "v1" : "v2") + ": " + memoryKey + "=" + c.getCgroupItem(memoryKey)
                .orElseThrow() + " pids.current=" + pids);
    }

    @Test
    @Order(4)
    void freezesAndThawsQuicklyTwentyTimes() {
        Freezer freezer = Freezer.of(c.initPid(), name);
        assertTrue(Files.isDirectory(freezer.directory()), freezer.directory().toString());
        assertEquals("THAWED", freezer.state());
        long maxNs = 0;
        for (int i = 0; i < 20; i++) {
            long t0 = System.nanoTime();
            freezer.freeze(Duration.ofSeconds(2));
            long t1 = System.nanoTime();
            assertEquals("FROZEN", freezer.state(), "cycle " + i);
            if (i == 0) {
                // Recorded for the driver: liblxc's state comes from the monitor, which did not do the freezing.
                System.out.println("while frozen through the cgroup: liblxc state " + c.state() + ", lxc-info "
                        + TestLxc.lxcInfo(lxcpath, name).get("State"));
            }
            long t2 = System.nanoTime();
            freezer.unfreeze(Duration.ofSeconds(2));
            long t3 = System.nanoTime();
            assertEquals("THAWED", freezer.state(), "cycle " + i);
            maxNs = Math.max(maxNs, Math.max(t1 - t0, t3 - t2));
        }
        System.out.printf("freezer %s (%s): max freeze or thaw %.3f ms over 20 cycles%n", freezer.directory(),
                freezer.isV2() ? "v2" : "v1", maxNs / 1e6);
        // A sanity bound only: liblxc's own freeze reaches a whole second.
        assertTrue(maxNs < 500_000_000L, "max " + maxNs / 1e6 + " ms");
        assertTrue(c.isRunning());
    }

    @Test
    @Order(5)
    void consoleLog() throws InterruptedException {
        if (!c.supportsConsoleLog()) {
            assertThrows(io.github.incus4j.api.NotSupportedException.class, () -> c.consoleLog(false, true, 10));
            return;
        }
        // Written from a helper process (lxc-attach), so that the JVM never forks.
        String marker = "console-marker-" + name;
        TestLxc.run("lxc-attach", "-P", lxcpath.toString(), "-n", name, "--", "/bin/sh", "-c",
                "echo " + marker + " > /dev/console");
        // The monitor moves console output into the ring buffer on its own loop: give it a moment under load.
        String log = c.consoleLog(false, true, 65536);
        for (long deadline = System.nanoTime() + 5_000_000_000L; !log.contains(marker)
                && System.nanoTime() < deadline; log = c.consoleLog(false, true, 65536)) {
            Thread.sleep(20);
        }
        assertTrue(log.contains(marker), log);
        assertTrue(c.consoleLog(false, true, 8).length() <= 8);
        assertEquals("", c.consoleLog(true, false, 0));
        assertFalse(c.consoleLog(false, true, 65536).contains(marker), "cleared buffer");
    }

    @Test
    @Order(6)
    void shutsDownCleanly() {
        assertTrue(c.shutdown(30), "shutdown" + c.lastError().describe());
        assertFalse(c.isRunning());
        assertEquals("STOPPED", c.state());
        assertEquals(-1, c.initPid());
        assertEquals("STOPPED", TestLxc.lxcInfo(lxcpath, name).get("State"));
        assertTrue(c.wait("STOPPED", 1));
        assertEquals(cgroupsBefore, TestLxc.read(Path.of("/proc/self/cgroup")), "the JVM moved cgroups");
    }

    @Test
    @Order(7)
    void destroys() {
        c.destroy();
        assertFalse(c.isDefined());
        assertFalse(Files.exists(lxcpath.resolve(name)));
        var e = assertThrows(io.github.incus4j.api.IncusException.class, c::destroy);
        assertTrue(e.getMessage().contains(name), e.getMessage());
    }
}
