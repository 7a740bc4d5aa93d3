package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stateful stop, start and snapshots on real VMs: what the guest holds only in RAM ({@code /dev/shm} is a tmpfs)
 * survives, and the state file is where Incus keeps it. Prints the measured save and load times.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QemuStateTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final AtomicInteger NAMES = new AtomicInteger();

    @TempDir
    static Path dir;
    private QemuInstances instances;

    @BeforeAll
    void open() {
        TestGuest.image();
        instances = new QemuDriver().open(dir.resolve("root"), TestGuest.settings());
    }

    @AfterEach
    void stopAll() {
        for (Instance i : instances.list()) {
            if (i.isRunning()) {
                i.stop(false);
            }
        }
    }

    @AfterAll
    void close() {
        if (instances != null) {
            stopAll();
            instances.close();
        }
    }

    private QemuVm running(Map<String, String> config) {
        return running(InstanceArgs.builder("st-" + NAMES.incrementAndGet()).type(InstanceType.VM).config(config)
                .build());
    }

    private QemuVm running(InstanceArgs args) {
        QemuVm vm = (QemuVm) instances.create(args, InstanceSource.image(TestGuest.image()));
        vm.start(false);
        return vm;
    }

    static String sh(Instance i, String script) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of("/bin/sh", "-c", script), null, out, null)) {
            assertEquals(0, c.waitFor(WAIT), "exit status of " + script);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void ramSurvivesStatefulStopAndStart() throws IOException {
        QemuVm vm = running(Map.of("migration.stateful", "true"));
        sh(vm, "echo in-ram > /dev/shm/marker");
        long t0 = System.nanoTime();
        vm.stop(true);
        long saved = System.nanoTime();
        assertEquals(StatusCode.STOPPED, vm.statusCode());
        assertTrue(vm.isStateful());
        assertTrue(Files.size(vm.statePath()) > 0, "state file at " + vm.statePath());
        try (var in = Files.newInputStream(vm.statePath())) {
            byte[] magic = in.readNBytes(2);
            assertTrue(magic[0] == (byte) 0x1f && magic[1] == (byte) 0x8b, "gzip, as Incus writes it");
        }
        long size = Files.size(vm.statePath());
        long t1 = System.nanoTime();
        vm.start(true);
        long loaded = System.nanoTime();
        assertEquals(StatusCode.RUNNING, vm.statusCode());
        assertFalse(vm.isStateful());
        assertFalse(Files.exists(vm.statePath()), "the state is consumed by the start");
        assertEquals("in-ram\n", sh(vm, "cat /dev/shm/marker"));
        System.out.printf("state_save_ms %d%nstate_load_ms %d%nstate_file_bytes %d%n", (saved - t0) / 1_000_000,
                (loaded - t1) / 1_000_000, size);
    }

    @Test
    void plainStartForgetsTheRam() {
        QemuVm vm = running(Map.of("migration.stateful", "true"));
        sh(vm, "echo in-ram > /dev/shm/marker");
        vm.stop(true);
        vm.start(false);
        assertFalse(Files.exists(vm.statePath()));
        assertEquals("gone\n", sh(vm, "cat /dev/shm/marker 2>/dev/null || echo gone"));
    }

    @Test
    void statefulSnapshotRestoresRamAndDisk() {
        QemuVm vm = running(Map.of("migration.stateful", "true"));
        sh(vm, "echo before > /dev/shm/marker; echo before > /root/disk-marker; sync");
        vm.snapshot("live", null, true);
        assertTrue(vm.isRunning(), "running after a stateful snapshot");
        Instance snap = vm.snapshots().get(0);
        assertTrue(snap.isStateful());
        assertTrue(Files.isRegularFile(snap.path().resolve(QemuState.FILE)), "state in the snapshot's directory");
        sh(vm, "echo after > /dev/shm/marker; echo after > /root/disk-marker; sync");
        vm.restore(snap, true);
        assertTrue(vm.isRunning());
        assertEquals("before\nbefore\n", sh(vm, "cat /dev/shm/marker /root/disk-marker"));
    }

    @Test
    void stateRoomSmallerThanMemoryIsRefused() {
        QemuVm vm = running(InstanceArgs.builder("st-" + NAMES.incrementAndGet()).type(InstanceType.VM)
                .config(Map.of("migration.stateful", "true")).devices(new Devices(Map.of("root", new Device(Map.of("type",
                        "disk", "path", "/", "pool", "default", "size.state", "1MiB"))))).build());
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> vm.stop(true));
        assertEquals("Stateful stop and snapshots require the instance limits.memory be less than or equal to the"
                + " root disk size.state property", e.getMessage());
        assertTrue(vm.isRunning(), "the refused stop changes nothing");
        assertThrows(InvalidArgumentException.class, () -> vm.snapshot("s", null, true));
        assertTrue(vm.snapshots().isEmpty());
    }
}
