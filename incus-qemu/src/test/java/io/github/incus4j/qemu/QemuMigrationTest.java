package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.testkit.contract.MigrationPipe;
import io.github.incus4j.testkit.net.NetnsPair;
import io.github.incus4j.testkit.net.TcpMigration;
import java.time.Duration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Migration between two roots of the qemu driver on real VMs: offline (the disk and its snapshots travel, the VM
 * boots on the target) and live (QEMU's pre-copy over TCP between two network namespaces: a file only in the
 * guest's tmpfs is still there on the target, a counter process counts on).
 * Prints the measured migration times.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QemuMigrationTest {
    @TempDir
    static Path dir;
    private QemuInstances source;
    private QemuInstances target;

    @BeforeAll
    void open() {
        TestGuest.image();
        source = new QemuDriver().open(dir.resolve("source"), TestGuest.settings());
        target = new QemuDriver().open(dir.resolve("target"), TestGuest.settings());
    }

    @AfterEach
    void stopAll() {
        for (QemuInstances root : List.of(source, target)) {
            for (Instance i : root.list()) {
                if (i.isRunning()) {
                    i.stop(false);
                }
            }
        }
    }

    @AfterAll
    void close() {
        if (source != null) {
            stopAll();
            source.close();
            target.close();
        }
    }

    private static MigrateArgs flags(MigrateArgs a, boolean live) {
        return new MigrateArgs(a.controlSend(), a.controlReceive(), a.stateConn(), a.filesystemConn(), true, live,
                a.disconnect(), a.clusterMoveSourceName(), a.storagePool());
    }

    /** Migrates {@code vm} to a new instance of the same name on the target; returns the milliseconds taken. */
    private long migrate(Instance vm, boolean live) throws Exception {
        Instance receiver = target.create(InstanceArgs.builder(vm.name()).type(InstanceType.VM).build(),
                InstanceSource.none());
        MigrationPipe pipe = MigrationPipe.inMemory();
        long t0 = System.nanoTime();
        try {
            CompletableFuture<Void> recv = CompletableFuture.runAsync(() -> receiver.migrateReceive(
                    new MigrateReceiveArgs(flags(pipe.receiver(), live), null, false, false)));
            vm.migrateSend(new MigrateSendArgs(flags(pipe.sender(), live), false));
            recv.get(5, TimeUnit.MINUTES);
        } finally {
            pipe.closer().close();
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }

    @Test
    void offlineMigrationMovesDiskAndSnapshotsAndBootsOnTheTarget() throws Exception {
        QemuVm vm = (QemuVm) source.create(InstanceArgs.builder("mig-off").type(InstanceType.VM).build(),
                InstanceSource.image(TestGuest.image()));
        vm.start(false);
        QemuStateTest.sh(vm, "echo first > /root/moved; sync");
        vm.snapshot("s1", null, false);
        QemuStateTest.sh(vm, "echo second > /root/moved; sync");
        vm.stop(false);
        long ms = migrate(vm, false);
        Instance moved = target.load("mig-off");
        assertEquals(List.of("mig-off/s1"), moved.snapshots().stream().map(Instance::name).toList());
        moved.start(false);
        assertEquals("second\n", QemuStateTest.sh(moved, "cat /root/moved"));
        moved.restore(moved.snapshots().get(0), false);
        assertEquals("first\n", QemuStateTest.sh(moved, "cat /root/moved"), "the disk snapshot travelled too");
        assertEquals(StatusCode.STOPPED, vm.statusCode(), "the source stays as it was");
        System.out.printf("migration_offline_ms %d (disk %d bytes)%n", ms, Files.size(((QemuVm) moved).disk()));
    }

    @Test
    void liveMigrationIsPreCopyOverTcpBetweenTwoNamespacesAndTheGuestsCounterCountsOn() throws Exception {
        QemuVm vm = (QemuVm) source.create(InstanceArgs.builder("mig-live").type(InstanceType.VM)
                .config(Map.of("migration.stateful", "true")).build(), InstanceSource.image(TestGuest.image()));
        vm.start(false);
        QemuStateTest.sh(vm, "echo in-ram > /dev/shm/marker");
        // A counter only a live process holds, in RAM and on the disk: a reboot would start it from 0.
        QemuStateTest.sh(vm, "setsid sh -c 'n=0; while :; do n=$((n+1)); echo $$ $n > /dev/shm/count; echo $n >"
                + " /root/count; sleep 0.1; done' </dev/null >/dev/null 2>&1 &");
        Thread.sleep(1500);
        String[] first = QemuStateTest.sh(vm, "cat /dev/shm/count").strip().split(" ");
        long before = Long.parseLong(first[1]);
        long ms;
        // Two "hosts": the two drivers share nothing but TCP connections between two network namespaces.
        try (NetnsPair net = NetnsPair.create()) {
            net.checkRoute();
            Instance receiver = target.create(InstanceArgs.builder(vm.name()).type(InstanceType.VM).build(),
                    InstanceSource.none());
            try (TcpMigration tcp = TcpMigration.open(net, true, 0)) {
                long t0 = System.nanoTime();
                TcpMigration.migrate(vm, receiver, tcp, Duration.ofMinutes(5));
                ms = (System.nanoTime() - t0) / 1_000_000;
            }
        }
        QemuPrecopy.Figures f = vm.lastMigration;
        assertEquals(StatusCode.STOPPED, vm.statusCode(), "the source stops once the target runs");
        assertFalse(Files.exists(vm.disk().resolveSibling(QemuPrecopy.OVERLAY)), "merged into the source's disk");
        QemuVm moved = (QemuVm) target.load("mig-live");
        assertTrue(moved.isRunning(), "running on the target");
        assertEquals("in-ram\n", QemuStateTest.sh(moved, "cat /dev/shm/marker"));
        Thread.sleep(500);
        String[] last = QemuStateTest.sh(moved, "cat /dev/shm/count").strip().split(" ");
        long after = Long.parseLong(last[1]);
        assertEquals(first[0], last[0], "the same process counts on");
        long onDisk = Long.parseLong(QemuStateTest.sh(moved, "sync; cat /root/count").strip());
        assertFalse(Files.exists(moved.disk().resolveSibling(QemuPrecopy.OVERLAY)), "merged into the target's disk");
        System.out.printf("vm_live_migrate_total_ms %d ms (QEMU total-time %d ms)%nvm_live_migrate_downtime_ms %d ms"
                + " (QEMU's downtime; %d RAM passes, stop-and-copy fallback %b)%ncounter %d before, %d after%n", ms,
                f.totalMillis(), f.downtimeMillis(), f.passes(), f.stopAndCopy(), before, after);
        assertTrue(after > before, "the guest's counter counted on: " + before + " then " + after);
        assertTrue(onDisk > before, "the guest's disk writes during and after the migration are there: " + onDisk);
        assertFalse(f.stopAndCopy(), "pre-copy converged");
        assertTrue(f.downtimeMillis() < f.totalMillis(), "the guest ran during most of the migration: " + f);
        assertFalse(Files.exists(moved.statePath()), "no state file left");
    }
}
