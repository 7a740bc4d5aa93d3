package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.model.InstanceArgs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The VM's status kept from QMP's run-state events: {@code statusCode()} answers from memory, {@code renderState()}
 * asks QEMU, and QEMU killed behind the driver's back is seen within 100 ms (the monitor's end is the event, and
 * nothing else would notice). A bounded functional check, not a speed measurement: of three rounds the median must be
 * within 100 ms and each within {@value #NOISY_MS} ms, because on the shared 2-core machine a thread can wait that
 * long for a core (observed: 17 to 40 ms under a load average of 20).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QemuStatusTest {
    private static final long SEEN_WITHIN_MS = 100;
    private static final long NOISY_MS = 300;
    private static final long GIVE_UP_MS = 10_000;

    @TempDir
    static Path dir;
    private QemuInstances instances;

    @BeforeAll
    void open() {
        TestGuest.image();
        instances = new QemuDriver().open(dir.resolve("root"), TestGuest.settings());
    }

    @AfterAll
    void close() {
        if (instances == null) {
            return;
        }
        for (Instance i : instances.list()) {
            if (i.isRunning()) {
                i.stop(false);
            }
            i.delete(false);
        }
        instances.close();
    }

    private QemuVm create(String name) {
        return (QemuVm) instances.create(InstanceArgs.builder(name).type(InstanceType.VM).build(),
                InstanceSource.image(TestGuest.image()));
    }

    @Test
    void statusComesFromEventsWhileRenderStateAsksQemu() {
        QemuVm vm = create("qst-events");
        vm.start(false);
        assertEquals(StatusCode.RUNNING, vm.keptStatus(), "kept after start");
        assertEquals(StatusCode.RUNNING, vm.statusCode());
        vm.freeze();
        assertEquals(StatusCode.FROZEN, vm.keptStatus(), "kept after the driver's own stop");
        vm.unfreeze();
        assertEquals(StatusCode.RUNNING, vm.keptStatus());
        // statusCode() shows what is kept: poisoning it shows through...
        vm.machineForTest().status = StatusCode.FROZEN;
        assertEquals(StatusCode.FROZEN, vm.statusCode());
        // ...while renderState() asks QEMU and corrects it.
        assertEquals("Running", vm.renderState(List.of()).status());
        assertEquals(StatusCode.RUNNING, vm.statusCode());
        vm.stop(false);
        assertNull(vm.keptStatus());
        assertEquals(StatusCode.STOPPED, vm.statusCode());
    }

    @Test
    void qemuKilledBehindTheDriversBackIsSeenWithin100Ms() throws InterruptedException {
        QemuVm vm = create("qst-kill");
        long[] seen = new long[3];
        for (int round = 0; round < seen.length; round++) {
            vm.start(false);
            assertEquals(StatusCode.RUNNING, vm.statusCode());
            assertEquals(StatusCode.RUNNING, vm.keptStatus());
            long t0 = System.nanoTime();
            ProcessHandle.of(vm.initPid()).orElseThrow().destroyForcibly(); // kill -9
            while (vm.statusCode() != StatusCode.STOPPED) {
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(ms < GIVE_UP_MS, "still " + vm.statusCode() + " after " + ms + " ms");
                Thread.sleep(1);
            }
            seen[round] = (System.nanoTime() - t0) / 1_000_000;
            waitForPowerState(vm);
        }
        long[] sorted = seen.clone();
        java.util.Arrays.sort(sorted);
        String all = java.util.Arrays.toString(seen) + " ms";
        assertTrue(sorted[1] <= SEEN_WITHIN_MS, "QEMU's death seen after a median of " + sorted[1] + " ms: " + all);
        assertTrue(sorted[2] <= NOISY_MS, "QEMU's death seen after " + sorted[2] + " ms in one round: " + all);
    }

    /** The stop hook of a VM that stopped by itself runs on a driver thread: let it finish before the next start. */
    private static void waitForPowerState(QemuVm vm) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!"STOPPED".equals(vm.localConfig().get("volatile.last_state.power"))) {
            assertTrue(System.nanoTime() < deadline, "power state not recorded");
            Thread.sleep(5);
        }
    }
}
