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
 * Migration between two roots of the qemu driver on real VMs, over TCP between two network namespaces: offline (the
 * disk and its snapshots travel, the VM boots on the target), live by pre-copy and back by stop-and-copy (a file
 * only in the guest's tmpfs is still there, a counter process counts on, the guest's serial heartbeat measures each
 * stand-still). Prints the measured migration times.
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

    /**
     * Migrates {@code vm} to a new instance of the same name in {@code to}, over TCP between the two namespaces of
     * {@code net} (snapshots included); returns the milliseconds taken.
     */
    private static long migrate(Instance vm, QemuInstances to, boolean live, NetnsPair net) throws Exception {
        Instance receiver = to.create(InstanceArgs.builder(vm.name()).type(InstanceType.VM).build(),
                InstanceSource.none());
        try (TcpMigration tcp = TcpMigration.open(net, live, 0)) {
            long t0 = System.nanoTime();
            CompletableFuture<Void> recv = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                try {
                    receiver.migrateReceive(new MigrateReceiveArgs(flags(tcp.target(), live), null, false, false));
                    recv.complete(null);
                } catch (Throwable e) {
                    recv.completeExceptionally(e);
                }
            }, "qemu-migration-receiver");
            t.setDaemon(true);
            t.start();
            vm.migrateSend(new MigrateSendArgs(flags(tcp.source(), live), false));
            recv.get(5, TimeUnit.MINUTES);
            return (System.nanoTime() - t0) / 1_000_000;
        }
    }

    @Test
    void stoppedMigrationOverTcpBetweenTwoNamespacesMovesDiskAndSnapshotsAndBootsOnTheTarget() throws Exception {
        QemuVm vm = (QemuVm) source.create(InstanceArgs.builder("mig-off").type(InstanceType.VM).build(),
                InstanceSource.image(TestGuest.image()));
        vm.start(false);
        QemuStateTest.sh(vm, "echo first > /root/moved; sync");
        vm.snapshot("s1", null, false);
        QemuStateTest.sh(vm, "echo second > /root/moved; sync");
        vm.stop(false);
        long ms;
        // Two "hosts": the two drivers share nothing but TCP connections between two network namespaces.
        try (NetnsPair net = NetnsPair.create()) {
            net.checkRoute();
            ms = migrate(vm, target, false, net);
        }
        Instance moved = target.load("mig-off");
        assertEquals(List.of("mig-off/s1"), moved.snapshots().stream().map(Instance::name).toList());
        moved.start(false);
        assertEquals("second\n", QemuStateTest.sh(moved, "cat /root/moved"));
        moved.restore(moved.snapshots().get(0), false);
        assertEquals("first\n", QemuStateTest.sh(moved, "cat /root/moved"), "the disk snapshot travelled too");
        assertEquals(StatusCode.STOPPED, vm.statusCode(), "the source stays as it was");
        System.out.printf("migration_offline_ms %d (disk %d bytes)%n", ms, Files.size(((QemuVm) moved).disk()));
    }

    /**
     * One guest, two migrations over TCP between two namespaces: pre-copy live to the target, then back by
     * stop-and-copy (the pre-copy limit forced to nothing, so the guest is paused for the whole transfer: QEMU's own
     * fallback). The guest's heartbeat on a serial port gives its own view of each stand-still, next to QEMU's
     * downtime figure; a counter process and a file in RAM show it is the same guest throughout.
     */
    @Test
    void liveMigrationIsPreCopyOverTcpBetweenTwoNamespacesAndBackByStopAndCopy() throws Exception {
        Path beatFile = dir.resolve("mig-live-heartbeat.log");
        QemuVm vm = (QemuVm) source.create(InstanceArgs.builder("mig-live").type(InstanceType.VM)
                .config(Map.of("migration.stateful", "true", "raw.qemu", GuestHeartbeat.rawQemu(beatFile)))
                .build(), InstanceSource.image(TestGuest.image()));
        vm.start(false);
        QemuStateTest.sh(vm, "echo in-ram > /dev/shm/marker");
        // A counter only a live process holds, in RAM and on the disk: a reboot would start it from 0.
        QemuStateTest.sh(vm, "setsid sh -c 'n=0; while :; do n=$((n+1)); echo $$ $n > /dev/shm/count; echo $n >"
                + " /root/count; sleep 0.1; done' </dev/null >/dev/null 2>&1 &");
        try (GuestHeartbeat beats = GuestHeartbeat.watch(beatFile);
                NetnsPair net = NetnsPair.create()) {
            QemuStateTest.sh(vm, GuestHeartbeat.guestLoop());
            beats.awaitPast(50, Duration.ofMinutes(1));
            Thread.sleep(1000);
            String[] first = QemuStateTest.sh(vm, "cat /dev/shm/count").strip().split(" ");
            long before = Long.parseLong(first[1]);
            // Two "hosts": the two drivers share nothing but TCP connections between two network namespaces.
            net.checkRoute();
            long t0 = System.nanoTime();
            long ms = migrate(vm, target, true, net);
            QemuPrecopy.Figures f = vm.lastMigration;
            assertEquals(StatusCode.STOPPED, vm.statusCode(), "the source stops once the target runs");
            assertFalse(Files.exists(vm.disk().resolveSibling(QemuPrecopy.OVERLAY)), "merged into the source's disk");
            QemuVm moved = (QemuVm) target.load("mig-live");
            assertTrue(moved.isRunning(), "running on the target");
            long beatsAfter = beats.count();
            beats.awaitPast(beatsAfter + 50, Duration.ofMinutes(1));
            GuestHeartbeat.Gap gap = beats.longestGapSince(t0);
            long period = beats.medianPeriodMillisBefore(t0);
            assertEquals("in-ram\n", QemuStateTest.sh(moved, "cat /dev/shm/marker"));
            String[] last = QemuStateTest.sh(moved, "cat /dev/shm/count").strip().split(" ");
            long after = Long.parseLong(last[1]);
            assertEquals(first[0], last[0], "the same process counts on");
            long onDisk = Long.parseLong(QemuStateTest.sh(moved, "sync; cat /root/count").strip());
            assertFalse(Files.exists(moved.disk().resolveSibling(QemuPrecopy.OVERLAY)),
                    "merged into the target's disk");
            System.out.printf("vm_live_migrate_total_ms %d ms (QEMU total-time %d ms)%n"
                    + "vm_live_migrate_downtime_ms %d ms (the guest's heartbeat, period %d ms; %d RAM passes,"
                    + " stop-and-copy fallback %b)%nvm_live_migrate_qemu_downtime_ms %d ms (QEMU's figure)%n"
                    + "counter %d before, %d after%n", ms, f.totalMillis(), gap.millis(), period, f.passes(),
                    f.stopAndCopy(), f.downtimeMillis(), before, after);
            assertTrue(after > before, "the guest's counter counted on: " + before + " then " + after);
            assertTrue(onDisk > before, "the guest's disk writes during and after the migration are there: "
                    + onDisk);
            assertFalse(f.stopAndCopy(), "pre-copy converged");
            assertTrue(f.downtimeMillis() < f.totalMillis(), "the guest ran during most of the migration: " + f);
            assertTrue(beats.continuous(), "the same heartbeat loop beats on");
            assertTrue(gap.millis() < ms, "the guest beat during most of the migration: longest gap "
                    + gap.millis() + " ms of " + ms + " ms");
            assertFalse(Files.exists(moved.statePath()), "no state file left");

            // Back to the first host, by stop-and-copy: the guest paused for the whole transfer.
            vm.delete(true);
            QemuPrecopy.precopyLimit = Duration.ZERO;
            long t1 = System.nanoTime();
            long msBack;
            try {
                msBack = migrate(moved, source, true, net);
            } finally {
                QemuPrecopy.precopyLimit = QemuPrecopy.PRECOPY_LIMIT;
            }
            QemuPrecopy.Figures back = moved.lastMigration;
            QemuVm home = (QemuVm) source.load("mig-live");
            assertTrue(home.isRunning(), "running on the first host again");
            long beatsBack = beats.count();
            beats.awaitPast(beatsBack + 50, Duration.ofMinutes(1));
            GuestHeartbeat.Gap stopGap = beats.longestGapSince(t1);
            String[] home1 = QemuStateTest.sh(home, "cat /dev/shm/count").strip().split(" ");
            System.out.printf("vm_stop_and_copy_ms %d ms (the guest's heartbeat; migration %d ms)%n"
                    + "vm_stop_and_copy_qemu_downtime_ms %d ms (QEMU's figure, from its own switchover)%n",
                    stopGap.millis(), msBack, back.downtimeMillis());
            assertTrue(back.stopAndCopy(), "the forced fallback: " + back);
            assertEquals(first[0], home1[0], "the same process counts on");
            assertTrue(beats.continuous(), "the same heartbeat loop beats on");
            assertTrue(stopGap.millis() >= back.downtimeMillis(), "the guest stood still at least through QEMU's"
                    + " downtime: " + stopGap + " vs " + back);
        }
    }
}
