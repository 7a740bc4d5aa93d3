package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.testkit.contract.ContractSupport.Refusal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Tag;

/**
 * The Concurrency group of {@link InstanceDriverContract} (its nested {@code Concurrency} runs these): operation
 * locks: concurrent actions serialise or fail as Incus's do, never corrupting an instance.
 */
abstract class ConcurrencyGroup extends ContractGroup {
    ConcurrencyGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void concurrentStartsOfOneInstance(InstanceType type) {
        Instance i = create(type);
        int[] pids = new int[8];
        List<Throwable> outcomes = inParallel(8, n -> {
            i.start(false);
            pids[n] = i.initPid();
        });
        long succeeded = outcomes.stream().filter(t -> t == null).count();
        assertTrue(succeeded >= 1, "one start must win: " + outcomes);
        // Incus lets a start that waited on another share its success; it must not start the instance again.
        int pid = i.initPid();
        assertTrue(pid > 0, "a running instance has an init process: " + pid);
        for (int n = 0; n < pids.length; n++) {
            if (outcomes.get(n) == null) {
                assertEquals(pid, pids[n], "every successful start saw the one boot: " + Arrays.toString(pids));
            }
        }
        // operationlock.go: a start that did not wait finds the other's lock; driver_common.go: one that
        // waited and found the instance running.
        for (Throwable t : outcomes) {
            if (t != null) {
                assertRefusedAs(t,
                        new Refusal(BusyException.class, "Instance is busy running a \"start\" operation"),
                        new Refusal(InstanceStateException.class, "The instance is already running"));
            }
        }
        assertEquals(StatusCode.RUNNING, i.statusCode());
        i.stop(false);
        assertEquals(StatusCode.STOPPED, i.statusCode(), "the instance still stops cleanly");
        i.start(false);
        assertTrue(i.isRunning());
    }

    /**
     * A start that comes while another start runs: it waits for that start and shares its outcome, or is refused
     * as Incus refuses it, but it never boots the instance a second time, and it never returns before the
     * instance runs. The driver's start is slowed down (where it can be) so that the two overlap for certain.
     */
    @ForEachInstanceType
    void aStartDuringAStartWaitsAndBootsOnce(InstanceType type) {
        Instance i = create(type);
        dut().slowDown(instances(), "start", Duration.ofMillis(1500));
        try {
            int[] pids = new int[2];
            boolean[] runningOnReturn = new boolean[2];
            List<Throwable> outcomes = inParallel(2, n -> {
                if (n == 1) {
                    try {
                        Thread.sleep(400); // the first start is under way
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                i.start(false);
                runningOnReturn[n] = i.isRunning();
                pids[n] = i.initPid();
            });
            // Whichever start won (the second may, on a loaded host), the other waited and shared or was refused.
            assertTrue(outcomes.contains(null), "one start must win: " + outcomes);
            int pid = i.initPid();
            for (int n = 0; n < 2; n++) {
                if (outcomes.get(n) == null) {
                    assertTrue(runningOnReturn[n], "a start returned before the instance ran");
                    assertEquals(pid, pids[n], "a start booted the instance again: " + Arrays.toString(pids));
                } else {
                    // operationlock.go: the lock was not waitable; driver_common.go: the other had finished.
                    assertRefusedAs(outcomes.get(n),
                            new Refusal(BusyException.class, "Instance is busy running a \"start\" operation"),
                            new Refusal(InstanceStateException.class, "The instance is already running"));
                }
            }
        } finally {
            dut().slowDown(instances(), "start", Duration.ZERO);
        }
    }

    /**
     * A snapshot that comes while another snapshot of the same name is being taken: the snapshot queue makes it
     * wait and find the name taken, so one snapshot of that name exists, in memory and on disk. Snapshots are
     * slowed down (where the driver can be) so that the two overlap for certain.
     */
    @ForEachInstanceType
    void aSnapshotDuringASnapshotOfTheSameNameIsRefused(InstanceType type) {
        Instance i = create(type);
        dut().slowDown(instances(), "snapshot", Duration.ofMillis(1500));
        try {
            List<Throwable> outcomes = inParallel(2, n -> {
                if (n == 1) {
                    try {
                        Thread.sleep(400); // the first snapshot is under way
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                i.snapshot("same", null, false);
            });
            assertEquals(1, outcomes.stream().filter(Objects::isNull).count(),
                    "exactly one snapshot named \"same\" is taken: " + outcomes);
            Throwable refused = outcomes.get(0) != null ? outcomes.get(0) : outcomes.get(1);
            assertRefusedAs(refused,
                    new Refusal(BusyException.class, "Snapshot \"" + i.name() + "/same\" already exists"),
                    new Refusal(BusyException.class, "Instance is busy running a \"create\" operation"));
        } finally {
            dut().slowDown(instances(), "snapshot", Duration.ZERO);
        }
        assertEquals(List.of(i.name() + "/same"), snapshotNames(i));
        assertEquals(List.of(i.name() + "/same"), snapshotNames(reopen().load(i.name())), "one snapshot on disk");
    }

    @ForEachInstanceType
    void concurrentCreatesWithUniqueNames(InstanceType type) {
        List<String> names = new ArrayList<>();
        for (int n = 0; n < 12; n++) {
            names.add(uniqueName("par"));
        }
        List<Throwable> outcomes = inParallel(names.size(), n -> create(args(type).name(names.get(n)).build()));
        assertEquals(Arrays.asList(new Throwable[names.size()]), outcomes, "every create succeeds");
        for (String n : names) {
            assertEquals(n, instances().load(n).name());
        }
        Instances again = reopen();
        for (String n : names) {
            assertTrue(again.find("default", n).isPresent(), n + " after reopen");
        }
    }

    @ForEachInstanceType
    void concurrentCreatesOfOneName(InstanceType type) {
        String name = uniqueName("same");
        List<Throwable> outcomes = inParallel(8, n -> create(args(type).name(name).build()));
        assertEquals(1, outcomes.stream().filter(t -> t == null).count(), "exactly one create: " + outcomes);
        // instance_utils.go CreateInternal: "%s %q already exists"; operationlock.go while the winner creates.
        for (Throwable t : outcomes) {
            if (t != null) {
                assertRefusedAs(t, new Refusal(BusyException.class, "Instance \"" + name + "\" already exists"),
                        new Refusal(BusyException.class, "Instance is busy running a \"create\" operation"));
            }
        }
        assertEquals(1, instances().list().stream().filter(x -> x.name().equals(name)).count());
    }

    @ForEachInstanceType
    void lockExclusiveBlocksStartUntilReleased(InstanceType type) {
        Instance i = create(type);
        try (InstanceOperation lock = i.lockExclusive()) {
            assertEquals("create", lock.action());
            assertRefused(BusyException.class, "Instance is busy running a \"create\" operation",
                    () -> i.start(false));
            assertRefused(BusyException.class, "Instance is busy running a \"create\" operation",
                    () -> i.delete(true));
        }
        i.start(false);
        assertTrue(i.isRunning());
    }

    @ForEachInstanceType
    void lockExclusiveOfRunningInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(InstanceStateException.class, "Instance is running", i::lockExclusive);
    }

    /**
     * Concurrent snapshots with distinct names on one instance: every one is kept, listed once and recorded. Each of
     * the rounds (each with its own time bound) lines the threads up (a barrier, then a spin to one instant, closer
     * than the barrier's one-by-one wake-ups) so that they record their snapshots together: an unsynchronised record
     * (read the list, add, write back) loses one in nine runs out of ten on the fake (its copy is quick, the race window
     * narrow); a snapshot of a taken name, in
     * {@link #aSnapshotDuringASnapshotOfTheSameNameIsRefused}, catches a missing snapshot lock every time.
     */
    @ForEachInstanceType
    void concurrentSnapshotsAreAllKept(InstanceType type) {
        Instance i = create(type);
        int threads = 8;
        // Six rounds at least, up to 24 within a few seconds: the fake's quick snapshots get the rounds a narrow race
        // needs, a real driver's slow ones (a rootfs copy, a REST call each) do not multiply the test's time.
        long roundsUntil = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        int rounds = 0;
        for (int k = 0; k < 24 && (k < 6 || System.nanoTime() - roundsUntil < 0); k++) {
            int round = k;
            // The barrier's wake-ups come one after the other; spinning to a common instant lines them up closer.
            long[] startAt = new long[1];
            CyclicBarrier lineUp = new CyclicBarrier(threads, () -> startAt[0] = System.nanoTime() + 2_000_000);
            List<Throwable> outcomes = inParallel(threads, n -> {
                try {
                    lineUp.await(timeout().toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError("interrupted", e);
                } catch (BrokenBarrierException | TimeoutException e) {
                    throw new AssertionError("another thread failed to line up", e);
                }
                while (System.nanoTime() - startAt[0] < 0) {
                    Thread.onSpinWait();
                }
                i.snapshot("s" + n + "-" + round, null, false);
            });
            assertEquals(Arrays.asList(new Throwable[threads]), outcomes, "round " + k);
            rounds++;
        }
        Set<String> expected = new TreeSet<>();
        for (int n = 0; n < threads; n++) {
            for (int k = 0; k < rounds; k++) {
                expected.add(i.name() + "/s" + n + "-" + k);
            }
        }
        assertEquals(expected, new TreeSet<>(snapshotNames(i)), "every snapshot listed");
        assertEquals(threads * rounds, snapshotNames(i).size(), "each listed once");
        assertEquals(expected, new TreeSet<>(snapshotNames(reopen().load(i.name()))), "every snapshot recorded");
    }

    @ForEachInstanceType
    void concurrentVolatileSetsAreAllKept(InstanceType type) {
        Instance i = create(type);
        List<Throwable> outcomes = inParallel(8, n -> i.volatileSet(Map.of("volatile.par." + n, "v" + n)));
        assertEquals(Arrays.asList(new Throwable[8]), outcomes);
        Instance again = reopen().load(i.name());
        for (int n = 0; n < 8; n++) {
            assertEquals("v" + n, again.localConfig().get("volatile.par." + n));
        }
    }

    private static final Refusal[] RACE_REFUSALS = {
        new Refusal(BusyException.class, "Instance is busy running a \"start\" operation"),
        new Refusal(BusyException.class, "Instance is busy running a \"stop\" operation"),
        new Refusal(InstanceStateException.class, "The instance is already running"),
        new Refusal(InstanceStateException.class, "The instance is already stopped")
    };

    @ForEachInstanceType
    void startStopRaceLeavesAConsistentState(InstanceType type) {
        Instance i = create(type);
        List<Throwable> outcomes = inParallel(4, n -> {
            for (int k = 0; k < 5; k++) {
                try {
                    if ((n + k) % 2 == 0) {
                        i.start(false);
                    } else {
                        i.stop(false);
                    }
                } catch (BusyException | InstanceStateException e) {
                    // The refusals Incus gives to a lost race (operationlock.go, driver_common.go).
                    assertRefusedAs(e, RACE_REFUSALS);
                }
            }
        });
        assertEquals(Arrays.asList(new Throwable[4]), outcomes, "only Incus's refusals are expected");
        StatusCode s = i.statusCode();
        assertTrue(s == StatusCode.RUNNING || s == StatusCode.STOPPED, "state after the race: " + s);
        assertEquals(s.upperText(), i.state());
        if (s == StatusCode.RUNNING) {
            i.stop(false);
        }
        i.start(false);
        assertTrue(i.isRunning(), "still usable after the race");
    }

    @ForEachInstanceType
    @Tag("soak") // minutes per run: mutation testing leaves it out (excludedGroups)
    void mixedActionsOnSharedInstancesLoseNothing(InstanceType type) {
        DriverUnderTest.SoakLoad load = dut().soakLoad();
        ConcurrencySoak soak = new ConcurrencySoak(contract(), type, load, 42);
        ConcurrencySoak.Outcome outcome = soak.run(System.nanoTime() + Duration.ofMinutes(5).toNanos());
        String summary = outcome.operations() + " operations, " + outcome.succeeded() + " succeeded, refused "
                + outcome.refusals();
        if (!outcome.unexpected().isEmpty()) {
            AssertionError e = new AssertionError(outcome.unexpected().size() + " unexpected failures in "
                    + summary + "; first: " + outcome.unexpected().get(0), outcome.unexpected().get(0));
            outcome.unexpected().stream().skip(1).limit(5).forEach(e::addSuppressed);
            throw e;
        }
        assertEquals((long) load.threads() * load.operationsPerThread(), outcome.operations(), "every operation ran: " + summary);
        assertTrue(outcome.succeeded() > outcome.operations() / 4, "most operations must do something: "
                + summary);
        List<ConcurrencySoak.Recorded> memory = soak.inMemory();
        assertEquals(soak.recordsOfListed(), soak.recordsOnDisk(), "one record per listed instance, no ghost");
        assertEquals(memory, soak.afterReopen(), "memory equals disk after a reopen");
        assertEquals(soak.recordsOfListed(), soak.recordsOnDisk(), "the same records after the reopen");
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void concurrentExecsKeepTheirOwnOutput(InstanceType type) {
        Instance i = createRunning(type);
        String[] outputs = new String[8];
        List<Throwable> outcomes = inParallel(8, n -> outputs[n] = run(i, "echo", "out-" + n).stdout());
        assertEquals(Arrays.asList(new Throwable[8]), outcomes);
        for (int n = 0; n < 8; n++) {
            assertEquals("out-" + n + "\n", outputs[n]);
        }
    }
}
