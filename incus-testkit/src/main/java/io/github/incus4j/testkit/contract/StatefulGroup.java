package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.testkit.contract.ContractSupport.ExecResult;

/**
 * The Stateful group of {@link InstanceDriverContract} (its nested {@code Stateful} runs these).
 *
 * Stateful stop, start and snapshots (CRIU, QEMU state files). What comes back is checked in the guest's memory:
 * a file in {@code /dev/shm}, a tmpfs (RAM for CRIU's dump and for QEMU's state alike), which a boot starts
 * empty, so that a "stateful" start that really boots cold cannot pass.
 */
abstract class StatefulGroup extends ContractGroup {
    StatefulGroup(ContractSupport contract) {
        super(contract);
    }

    private static final String IN_MEMORY = "/dev/shm/incus4j-contract";

    private Instance statefulRunning(InstanceType type) {
        Instance i = create(args(type).config("migration.stateful", "true").build());
        i.start(false);
        return i;
    }

    /** Writes {@code value} into the guest's tmpfs: only its memory holds it. */
    private void remember(Instance i, String value) {
        ExecResult r = run(i, "sh", "-c", "echo " + value + " > " + IN_MEMORY);
        assertEquals(0, r.exitCode(), "writing " + IN_MEMORY + ": " + r.stderr());
    }

    /** What the guest's tmpfs holds, {@code null} when the file is gone (a boot, a plain stop). */
    private String recalled(Instance i) {
        ExecResult r = run(i, "cat", IN_MEMORY);
        return r.exitCode() == 0 ? r.stdout().strip() : null;
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void plainStopLosesTheMemory(InstanceType type) {
        // The control for the tests below: the tmpfs is memory, not disk.
        Instance i = statefulRunning(type);
        remember(i, "gone-after-stop");
        assertEquals("gone-after-stop", recalled(i));
        i.stop(false);
        i.start(false);
        assertNull(recalled(i), "a boot starts with an empty tmpfs");
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void statefulStopThenStatefulStart(InstanceType type) {
        Instance i = statefulRunning(type);
        remember(i, "kept-by-stateful-stop");
        i.stop(true);
        assertEquals(StatusCode.STOPPED, i.statusCode());
        assertTrue(i.isStateful(), "saved state expected");
        i.start(true);
        assertEquals(StatusCode.RUNNING, i.statusCode());
        assertFalse(i.isStateful(), "state consumed by the start");
        assertEquals("kept-by-stateful-stop", recalled(i), "memory restored by the stateful start");
        remember(i, "still-writable");
        assertEquals("still-writable", recalled(i));
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void plainStartDiscardsTheSavedState(InstanceType type) {
        Instance i = statefulRunning(type);
        remember(i, "discarded");
        i.stop(true);
        i.start(false);
        assertTrue(i.isRunning());
        assertFalse(i.isStateful());
        assertNull(recalled(i), "a plain start boots: the saved memory is not used");
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void savedStateSurvivesReopen(InstanceType type) {
        Instance i = statefulRunning(type);
        remember(i, "kept-across-reopen");
        i.stop(true);
        Instance again = reopen().load(i.name());
        assertTrue(again.isStateful());
        again.start(true);
        assertTrue(again.isRunning());
        assertEquals("kept-across-reopen", recalled(again), "memory restored from the state on disk");
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void statefulSnapshotAndRestore(InstanceType type) {
        Instance i = statefulRunning(type);
        remember(i, "at-snapshot");
        i.snapshot("live", null, true);
        Instance snap = i.snapshots().get(0);
        assertTrue(snap.isStateful(), "stateful snapshot");
        assertTrue(i.isRunning(), "a stateful snapshot leaves the instance running");
        assertEquals("at-snapshot", recalled(i), "the snapshot left the memory alone");
        remember(i, "after-snapshot");
        i.restore(snap, true);
        assertTrue(i.isRunning());
        assertEquals("at-snapshot", recalled(i), "memory of the snapshot restored");
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void statefulRestoreOfAStoppedInstance(InstanceType type) {
        Instance i = statefulRunning(type);
        remember(i, "restored-into-stopped");
        i.snapshot("live", null, true);
        i.stop(false);
        i.restore(i.snapshots().get(0), true);
        assertTrue(i.isRunning(), "restoring a stateful snapshot starts the instance");
        assertEquals("restored-into-stopped", recalled(i), "memory of the snapshot restored");
    }

    @ForEachInstanceType
    void canLiveMigrateFollowsMigrationStateful(InstanceType type) {
        Instance i = statefulRunning(type);
        assertTrue(i.canLiveMigrate());
        assertFalse(create(type).canLiveMigrate());
    }
}
