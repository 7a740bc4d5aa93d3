package io.github.incus4j.api.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.spi.OperationLocks.Action;
import java.io.IOException;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class OperationLocksTest {
    private static final String P = "default";
    private static final Duration SHORT = Duration.ofMillis(100);
    private static final Set<Action> START_INHERITS = EnumSet.of(Action.RESTART, Action.RESTORE);
    private static final Set<Action> STOP_INHERITS = EnumSet.of(Action.RESTART, Action.RESTORE, Action.MIGRATE);
    private static final int THREADS = 16;

    // Generous bound: tests that expect a wait to end never get near it; timeout tests use their own registry.
    private final OperationLocks locks = new OperationLocks(Duration.ofSeconds(5));
    // For the timeout tests.
    private final OperationLocks shortLocks = new OperationLocks(SHORT);
    private final List<Worker<?>> workers = new ArrayList<>();

    @AfterEach
    void noLeaks() throws InterruptedException {
        for (Worker<?> w : workers) {
            w.thread.join(TimeUnit.SECONDS.toMillis(5));
            assertFalse(w.thread.isAlive(), "worker still running");
        }
        assertEquals(0, locks.size(), () -> "leaked locks: " + locks);
        assertEquals(0, shortLocks.size(), () -> "leaked locks: " + shortLocks);
    }

    // --- Create ---

    @Test
    void registersALockOwnedByTheCaller() {
        Operation op = new Operation("Starting instance");
        InstanceOperation lock = locks.create(P, "c1", op, Action.START, false, false);
        assertEquals("start", lock.action());
        assertFalse(lock.reusable());
        assertFalse(lock.inherited());
        assertFalse(lock.isDone());
        assertEquals(Optional.of(op), lock.operation());
        assertEquals(1, locks.size());
        assertSame(lock, locks.get(P, "c1").orElseThrow());
        lock.done(null);
        assertTrue(lock.isDone());
        assertEquals(Optional.empty(), locks.get(P, "c1"));
    }

    @Test
    void conflictNamesTheRunningActionLikeGoQuoting() {
        try (InstanceOperation start = locks.create(P, "c1", null, Action.START, false, false)) {
            BusyException e = assertThrows(
                    BusyException.class, () -> locks.create(P, "c1", null, Action.STOP, false, false));
            assertEquals("Instance is busy running a \"start\" operation", e.getMessage());
            assertEquals(409, e.status());
            assertSame(start, locks.get(P, "c1").orElseThrow(), "the running lock is untouched");
        }
    }

    @Test
    void conflictUsesIncusActionNames() {
        try (InstanceOperation ignored = locks.create(P, "vm", null, Action.CONSOLE_RETRIEVE, false, false)) {
            BusyException e = assertThrows(
                    BusyException.class, () -> locks.create(P, "vm", null, Action.DELETE, false, false));
            assertEquals("Instance is busy running a \"console_retrieve\" operation", e.getMessage());
        }
    }

    @Test
    void emptyOrNullNamesAreRejected() {
        for (String[] names : new String[][] {{"", "c1"}, {P, ""}, {null, "c1"}, {P, null}}) {
            InvalidArgumentException e = assertThrows(
                    InvalidArgumentException.class,
                    () -> locks.create(names[0], names[1], null, Action.START, false, false));
            assertEquals("Invalid project or instance name", e.getMessage());
            assertThrows(InvalidArgumentException.class, () -> locks.get(names[0], names[1]));
            assertThrows(
                    InvalidArgumentException.class,
                    () -> locks.createWaitGet(names[0], names[1], null, Action.START, Set.of(), false, false));
            assertThrows(InvalidArgumentException.class, () -> locks.awaitIdle(names[0], names[1], SHORT));
        }
    }

    @Test
    void actionValuesAreIncusStrings() {
        assertEquals(
                List.of("create", "start", "stop", "restart", "restore", "update", "delete", "migrate",
                        "console_retrieve"),
                EnumSet.allOf(Action.class).stream().map(Action::value).toList());
    }

    // --- Reuse ---

    @Test
    void reusableLockIsJoinedAsANonOwningView() {
        InstanceOperation owner = locks.create(P, "c1", null, Action.STOP, true, true);
        InstanceOperation joined = locks.create(P, "c1", null, Action.STOP, false, true);
        assertNotSame(owner, joined);
        assertTrue(joined.inherited());
        assertEquals("stop", joined.action());
        assertTrue(joined.reusable());

        joined.done(new IOException("ignored"));
        joined.close();
        assertFalse(owner.isDone(), "a joiner cannot end the owner's lock");
        assertEquals(1, locks.size());

        owner.done(null);
        assertTrue(joined.isDone());
        joined.await(Duration.ZERO);
    }

    @Test
    void reuseIgnoresTheRequestedActionAsIncusDoes() {
        // Incus's Create returns any reusable lock when reuseExisting is set, whatever the action asked for.
        try (InstanceOperation owner = locks.create(P, "c1", null, Action.RESTART, true, true)) {
            InstanceOperation joined = locks.create(P, "c1", null, Action.START, false, true);
            assertEquals("restart", joined.action());
            assertTrue(joined.inherited());
            assertFalse(owner.isDone());
        }
    }

    @Test
    void noReuseWithoutBothFlags() {
        try (InstanceOperation ignored = locks.create(P, "c1", null, Action.STOP, true, false)) {
            assertThrows(BusyException.class, () -> locks.create(P, "c1", null, Action.STOP, true, false));
        }
        try (InstanceOperation ignored = locks.create(P, "c1", null, Action.STOP, false, true)) {
            BusyException e = assertThrows(
                    BusyException.class, () -> locks.create(P, "c1", null, Action.STOP, true, true));
            assertEquals("Instance is busy running a \"stop\" operation", e.getMessage());
        }
    }

    @Test
    void createWaitGetReusesSameActionWithoutWaiting() {
        // Shutdown holds a reusable stop; Stop (stop, [restart,restore,migrate], false, true) joins it.
        try (InstanceOperation shutdown = locks.createWaitGet(P, "c1", null, Action.STOP, Set.of(Action.RESTART),
                true, true).orElseThrow()) {
            InstanceOperation stop = locks.createWaitGet(P, "c1", null, Action.STOP, STOP_INHERITS, false, true)
                    .orElseThrow();
            assertTrue(stop.inherited());
            stop.setInstanceInitiated(true);
            assertTrue(shutdown.instanceInitiated(), "the marker is shared");
        }
    }

    // --- Inheritance ---

    @Test
    void onlyTheThreadRunningTheOperationInherits() throws Exception {
        // Restore holds a non-reusable lock: a start from another thread must not slip into it, as it could in Incus.
        try (InstanceOperation restore = locks.create(P, "c1", null, Action.RESTORE, false, false)) {
            java.util.concurrent.CompletableFuture<Throwable> other = java.util.concurrent.CompletableFuture
                    .supplyAsync(() -> {
                        try {
                            locks.createWaitGet(P, "c1", null, Action.START, Set.of(Action.RESTART, Action.RESTORE),
                                    false, false);
                            return null;
                        } catch (RuntimeException e) {
                            return e;
                        }
                    });
            Throwable refused = other.get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertInstanceOf(BusyException.class, refused);
            assertEquals("Instance is busy running a \"restore\" operation", refused.getMessage());
            InstanceOperation start = locks.createWaitGet(P, "c1", null, Action.START,
                    Set.of(Action.RESTART, Action.RESTORE), false, false).orElseThrow();
            assertTrue(start.inherited(), "the restoring thread's own start inherits");
            assertSame(restore, locks.get(P, "c1").orElseThrow());
        }
    }

    @Test
    void inheritorGetsAViewThatCannotEndTheOwnersLock() {
        Operation op = new Operation("Restarting instance");
        InstanceOperation restart = locks.create(P, "c1", op, Action.RESTART, true, true);

        InstanceOperation stop = locks.createWaitGet(P, "c1", null, Action.STOP, STOP_INHERITS, false, true)
                .orElseThrow();
        assertTrue(stop.inherited());
        assertEquals("restart", stop.action());
        assertTrue(stop.actionMatch("restart"));
        assertEquals(Optional.of(op), stop.operation(), "the owner's operation, not the inheritor's");

        stop.done(new IllegalStateException("ignored"));
        stop.close();
        assertFalse(restart.isDone());
        assertFalse(stop.isDone());
        assertSame(restart, locks.get(P, "c1").orElseThrow());

        stop.setInstanceInitiated(true);
        assertTrue(restart.instanceInitiated());

        restart.done(new IncusException("restart failed"));
        assertTrue(stop.isDone());
        IncusException e = assertThrows(IncusException.class, () -> stop.await(Duration.ZERO));
        assertEquals("restart failed", e.getMessage());
    }

    @Test
    void inheritorAwaitWaitsOnTheOwner() throws Exception {
        InstanceOperation restart = locks.create(P, "c1", null, Action.RESTART, true, true);
        InstanceOperation startView = locks.createWaitGet(P, "c1", null, Action.START, START_INHERITS, false,
                false).orElseThrow();
        assertThrows(OperationTimeoutException.class, () -> startView.await(Duration.ofMillis(10)));

        Worker<Void> waiter = start(() -> {
            startView.await(Duration.ofSeconds(5));
            return null;
        });
        awaitParked(waiter);
        restart.done(null);
        waiter.get();
    }

    @Test
    void nonInheritableOtherActionIsBusy() {
        try (InstanceOperation ignored = locks.create(P, "c1", null, Action.MIGRATE, false, false)) {
            BusyException e = assertThrows(
                    BusyException.class,
                    () -> locks.createWaitGet(P, "c1", null, Action.START, START_INHERITS, false, false));
            assertEquals("Instance is busy running a \"migrate\" operation", e.getMessage());
            // A null inheritable list means none, as Go's nil slice.
            assertThrows(
                    BusyException.class,
                    () -> locks.createWaitGet(P, "c1", null, Action.DELETE, null, false, false));
        }
    }

    @Test
    void noLockMeansCreateAsOwner() {
        InstanceOperation update = locks.createWaitGet(P, "c1", null, Action.UPDATE,
                EnumSet.of(Action.CREATE, Action.RESTART, Action.RESTORE), false, false).orElseThrow();
        assertFalse(update.inherited());
        assertEquals("update", update.action());
        update.close();
        assertTrue(update.isDone());
    }

    // --- WaitForSameAction ---

    @Test
    void waitsThenReportsSuccessAsEmpty() throws Exception {
        InstanceOperation first = locks.create(P, "c1", null, Action.START, false, false);
        Worker<Optional<InstanceOperation>> second = start(
                () -> locks.createWaitGet(P, "c1", null, Action.START, START_INHERITS, false, false));
        awaitParked(second);
        assertEquals(1, locks.size(), "the waiter created nothing");

        first.done(null);
        assertEquals(Optional.empty(), second.get(), "ErrNonReusuableSucceeded");
    }

    @Test
    void waitsWhenAskedNotToReuseEvenIfReusable() throws Exception {
        InstanceOperation first = locks.create(P, "c1", null, Action.RESTART, true, true);
        // Restart's second phase: CreateWaitGet(restart, nil, true, false).
        Worker<Optional<InstanceOperation>> second = start(
                () -> locks.createWaitGet(P, "c1", null, Action.RESTART, null, true, false));
        awaitParked(second);
        first.done(null);
        assertEquals(Optional.empty(), second.get());
    }

    @Test
    void rethrowsTheUncheckedFailureAsIs() throws Exception {
        InstanceOperation first = locks.create(P, "c1", null, Action.DELETE, false, false);
        Worker<Optional<InstanceOperation>> second = start(
                () -> locks.createWaitGet(P, "c1", null, Action.DELETE, null, false, false));
        awaitParked(second);
        InvalidArgumentException failure = new InvalidArgumentException("Instance has delete protection enabled");
        first.done(failure);
        assertSame(failure, second.failure());
    }

    @Test
    void wrapsACheckedFailureKeepingItsMessage() throws Exception {
        InstanceOperation first = locks.create(P, "c1", null, Action.START, false, false);
        Worker<Optional<InstanceOperation>> second = start(
                () -> locks.createWaitGet(P, "c1", null, Action.START, START_INHERITS, false, false));
        awaitParked(second);
        IOException failure = new IOException("Failed to mount storage");
        first.done(failure);

        IncusException e = assertInstanceOf(IncusException.class, second.failure());
        assertEquals("Failed to mount storage", e.getMessage());
        assertSame(failure, e.getCause());
        // The owner's own await reports the same.
        IncusException own = assertThrows(IncusException.class, () -> first.await(Duration.ZERO));
        assertSame(failure, own.getCause());
    }

    @Test
    void afterTheLockEndsTheNextCallerCreatesAFreshOne() {
        InstanceOperation first = locks.create(P, "c1", null, Action.START, false, false);
        first.done(null);
        InstanceOperation next = locks.createWaitGet(P, "c1", null, Action.START, START_INHERITS, false, false)
                .orElseThrow();
        assertNotSame(first, next);
        assertFalse(next.inherited());
        next.done(null);
    }

    // --- Timeouts ---

    @Test
    void createWaitGetGivesUpAfterMaxWait() {
        InstanceOperation first = shortLocks.create("p1", "c1", null, Action.START, false, false);
        OperationTimeoutException e = assertThrows(
                OperationTimeoutException.class,
                () -> shortLocks.createWaitGet("p1", "c1", null, Action.START, START_INHERITS, false, false));
        assertEquals(
                "Timed out after 100ms waiting for the \"start\" operation of instance \"c1\" in project \"p1\""
                        + " to finish",
                e.getMessage());
        assertEquals(504, e.status());
        assertFalse(first.isDone(), "timing out leaves the lock to its owner");
        first.done(null);
        assertEquals(0, shortLocks.size());
    }

    @Test
    void awaitThrowsWhileRunning() {
        InstanceOperation lock = locks.create(P, "c1", null, Action.STOP, false, false);
        OperationTimeoutException e = assertThrows(
                OperationTimeoutException.class, () -> lock.await(Duration.ofMillis(20)));
        assertTrue(e.getMessage().contains("\"stop\""), e.getMessage());
        assertTrue(e.getMessage().contains("\"c1\""), e.getMessage());
        assertThrows(OperationTimeoutException.class, () -> lock.await(Duration.ZERO));
        assertThrows(OperationTimeoutException.class, () -> lock.await(Duration.ofMillis(-5)));
        lock.done(null);
        lock.await(Duration.ZERO);
        lock.await(ChronoUnit.FOREVER.getDuration()); // saturates instead of overflowing
    }

    @Test
    void awaitIdleIsBoundedByMaxWaitWhateverTheTimeout() {
        InstanceOperation lock = shortLocks.create(P, "c1", null, Action.MIGRATE, false, false);
        long t0 = System.nanoTime();
        OperationTimeoutException e = assertThrows(
                OperationTimeoutException.class, () -> shortLocks.awaitIdle(P, "c1", Duration.ofMinutes(10)));
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
        assertTrue(e.getMessage().startsWith("Timed out after 100ms waiting for the \"migrate\" operation"),
                e.getMessage());
        lock.done(null);
    }

    @Test
    void negativeMaxWaitIsRejected() {
        assertThrows(InvalidArgumentException.class, () -> new OperationLocks(Duration.ofSeconds(-1)));
        assertEquals(Duration.ofMinutes(10), OperationLocks.DEFAULT_WAIT);
    }

    @Test
    void zeroMaxWaitNeverWaits() {
        OperationLocks noWait = new OperationLocks(Duration.ZERO);
        InstanceOperation lock = noWait.create(P, "c1", null, Action.START, false, false);
        OperationTimeoutException e = assertThrows(
                OperationTimeoutException.class,
                () -> noWait.createWaitGet(P, "c1", null, Action.START, null, false, false));
        assertTrue(e.getMessage().startsWith("Timed out after 0s"), e.getMessage());
        lock.done(null);
        noWait.awaitIdle(P, "c1", Duration.ZERO);
    }

    @Test
    void interruptedWaitFailsAndKeepsTheInterrupt() throws Exception {
        InstanceOperation lock = locks.create(P, "c1", null, Action.START, false, false);
        Worker<Boolean> waiter = start(() -> {
            try {
                lock.await(Duration.ofSeconds(5));
                return false;
            } catch (IncusException e) {
                return e.getCause() instanceof InterruptedException && Thread.currentThread().isInterrupted();
            }
        });
        awaitParked(waiter);
        waiter.thread.interrupt();
        assertTrue(waiter.get());
        assertFalse(lock.isDone());
        lock.done(null);
    }

    // --- Done ---

    @Test
    void isIdempotentAndKeepsTheFirstOutcome() {
        InstanceOperation lock = locks.create(P, "c1", null, Action.START, false, false);
        lock.done(null);
        lock.done(new IncusException("late"));
        lock.close();
        assertTrue(lock.isDone());
        lock.await(Duration.ZERO); // still the first outcome: success
    }

    @Test
    void aStaleHandleCannotEndTheNextLock() {
        InstanceOperation old = locks.create(P, "c1", null, Action.START, false, false);
        old.done(null);
        InstanceOperation current = locks.create(P, "c1", null, Action.STOP, false, false);
        old.done(new IncusException("stale"));
        assertFalse(current.isDone());
        assertSame(current, locks.get(P, "c1").orElseThrow());
        current.done(null);
    }

    @Test
    void getReturnsTheLockItselfSoAHookCanEndIt() {
        // Incus's onStop picks up the stop lock with Get and ends it; Stop() waits on it.
        InstanceOperation stop = locks.create(P, "c1", null, Action.STOP, false, true);
        InstanceOperation picked = locks.get(P, "c1").orElseThrow();
        assertSame(stop, picked);
        picked.setInstanceInitiated(true);
        picked.done(null);
        assertTrue(stop.isDone());
        assertTrue(stop.instanceInitiated());
    }

    @Test
    void removedFromTheRegistryBeforeWaitersWake() throws Exception {
        InstanceOperation lock = locks.create(P, "c1", null, Action.START, false, false);
        Worker<Integer> waiter = start(() -> {
            lock.await(Duration.ofSeconds(5));
            return locks.size();
        });
        awaitParked(waiter);
        lock.done(null);
        assertEquals(0, waiter.get());
    }

    // --- Keys ---

    @Test
    void locksArePerProject() {
        InstanceOperation inDefault = locks.create("default", "c1", null, Action.START, false, false);
        InstanceOperation inP1 = locks.create("p1", "c1", null, Action.START, false, false);
        assertEquals(2, locks.size());
        assertSame(inDefault, locks.get("default", "c1").orElseThrow());
        assertSame(inP1, locks.get("p1", "c1").orElseThrow());
        assertEquals(Optional.empty(), locks.get("p2", "c1"));
        inP1.done(null);
        assertSame(inDefault, locks.get("default", "c1").orElseThrow());
        inDefault.done(null);
    }

    @Test
    void keyIsIncusProjectInstance() {
        // project.Instance("p1", "c1") == "p1_c1" == project.Instance("default", "p1_c1"). Such an instance name is
        // invalid in Incus (no underscores), so the clash is theirs to keep and ours to reproduce.
        try (InstanceOperation ignored = locks.create("p1", "c1", null, Action.START, false, false)) {
            assertThrows(BusyException.class, () -> locks.create("default", "p1_c1", null, Action.STOP, false,
                    false));
        }
    }

    @Test
    void registriesAreIndependent() {
        OperationLocks other = new OperationLocks();
        try (InstanceOperation a = locks.create(P, "c1", null, Action.START, false, false);
                InstanceOperation b = other.create(P, "c1", null, Action.START, false, false)) {
            assertNotSame(a, b);
            assertEquals(1, other.size());
        }
        assertEquals(0, other.size());
    }

    // --- Concurrency ---

    @Test
    void exactlyOneOfManyRacingCreatesWins() throws Exception {
        CyclicBarrier barrier = new CyclicBarrier(THREADS);
        List<Worker<InstanceOperation>> racers = new ArrayList<>();
        for (int i = 0; i < THREADS; i++) {
            racers.add(start(() -> {
                barrier.await();
                return locks.create(P, "c1", null, Action.START, false, false);
            }));
        }
        List<InstanceOperation> winners = new ArrayList<>();
        for (Worker<InstanceOperation> r : racers) {
            try {
                winners.add(r.get());
            } catch (ExecutionException e) {
                BusyException busy = assertInstanceOf(BusyException.class, e.getCause());
                assertEquals("Instance is busy running a \"start\" operation", busy.getMessage());
            }
        }
        assertEquals(1, winners.size());
        assertEquals(1, locks.size());
        winners.get(0).done(null);
    }

    @Test
    void racingCreateWaitGetOneOwnsTheOthersWaitForIt() throws Exception {
        CyclicBarrier barrier = new CyclicBarrier(THREADS);
        List<Worker<Optional<InstanceOperation>>> racers = new ArrayList<>();
        for (int i = 0; i < THREADS; i++) {
            racers.add(start(() -> {
                barrier.await();
                return locks.createWaitGet(P, "c1", null, Action.START, START_INHERITS, false, false);
            }));
        }
        // Nobody ends the winner's lock yet, so every other racer must end up waiting on it.
        awaitUntil(() -> racers.stream().filter(r -> isParked(r.thread)).count() == THREADS - 1);
        InstanceOperation owner = locks.get(P, "c1").orElseThrow();
        owner.done(null);

        int owners = 0;
        for (Worker<Optional<InstanceOperation>> r : racers) {
            Optional<InstanceOperation> got = r.get();
            if (got.isPresent()) {
                assertSame(owner, got.get());
                owners++;
            }
        }
        assertEquals(1, owners);
    }

    @Test
    void differentInstancesNeverConflict() throws Exception {
        CyclicBarrier barrier = new CyclicBarrier(THREADS);
        List<Worker<InstanceOperation>> racers = new ArrayList<>();
        for (int i = 0; i < THREADS; i++) {
            String name = "c" + i;
            String project = i % 2 == 0 ? P : "p" + i;
            racers.add(start(() -> {
                barrier.await();
                return locks.create(project, name, null, Action.START, false, false);
            }));
        }
        List<InstanceOperation> held = new ArrayList<>();
        for (Worker<InstanceOperation> r : racers) {
            held.add(r.get());
        }
        assertEquals(THREADS, locks.size());
        held.forEach(InstanceOperation::close);
    }

    @Test
    void mutualExclusionUnderChurn() throws Exception {
        int instances = 4;
        AtomicInteger[] holders = new AtomicInteger[instances];
        for (int i = 0; i < instances; i++) {
            holders[i] = new AtomicInteger();
        }
        Action[] actions = Action.values();
        CyclicBarrier barrier = new CyclicBarrier(THREADS);
        List<Worker<Integer>> churners = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int seed = t;
            churners.add(start(() -> {
                barrier.await();
                int acquired = 0;
                for (int n = 0; n < 500; n++) {
                    int i = (seed + n) % instances;
                    InstanceOperation op;
                    try {
                        op = locks.create(P, "c" + i, null, actions[(seed * 7 + n) % actions.length], false,
                                false);
                    } catch (BusyException e) {
                        continue;
                    }
                    try {
                        if (holders[i].incrementAndGet() != 1) {
                            throw new AssertionError("two holders of c" + i);
                        }
                        acquired++;
                        holders[i].decrementAndGet();
                    } finally {
                        op.done(null);
                    }
                }
                return acquired;
            }));
        }
        int total = 0;
        for (Worker<Integer> c : churners) {
            total += c.get();
        }
        // Every BusyException implies another thread held the lock, so at least one acquisition happened.
        assertTrue(total > 0, "acquisitions: " + total);
    }

    // --- AwaitIdle ---

    @Test
    void returnsAtOnceWhenIdle() {
        locks.awaitIdle(P, "c1", Duration.ZERO);
    }

    @Test
    void waitsForTheRunningLockWhateverItsOutcome() throws Exception {
        InstanceOperation lock = locks.create(P, "c1", null, Action.UPDATE, false, false);
        Worker<Void> deleter = start(() -> {
            locks.awaitIdle(P, "c1", Duration.ofSeconds(5));
            return null;
        });
        awaitParked(deleter);
        lock.done(new IncusException("update failed")); // not rethrown: only idleness matters
        deleter.get();
    }

    @Test
    void timesOutNamingTheAction() {
        try (InstanceOperation ignored = locks.create("p1", "c1", null, Action.RESTORE, false, false)) {
            OperationTimeoutException e = assertThrows(
                    OperationTimeoutException.class, () -> locks.awaitIdle("p1", "c1", Duration.ofMillis(20)));
            assertEquals(
                    "Timed out after 20ms waiting for the \"restore\" operation of instance \"c1\" in project \"p1\""
                            + " to finish",
                    e.getMessage());
        }
    }

    // --- helpers ---

    /** A task on its own thread, so that its state can be observed. */
    private static final class Worker<T> {
        final Thread thread;
        final CompletableFuture<T> result = new CompletableFuture<>();

        Worker(Callable<T> task) {
            thread = new Thread(() -> {
                try {
                    result.complete(task.call());
                } catch (Throwable e) {
                    result.completeExceptionally(e);
                }
            }, "locks-test-worker");
            thread.setDaemon(true);
        }

        T get() throws Exception {
            return result.get(5, TimeUnit.SECONDS);
        }

        Throwable failure() throws Exception {
            try {
                T value = get();
                return fail("expected a failure, got " + value);
            } catch (ExecutionException e) {
                return e.getCause();
            }
        }
    }

    private <T> Worker<T> start(Callable<T> task) {
        Worker<T> w = new Worker<>(task);
        workers.add(w);
        w.thread.start();
        return w;
    }

    // Every wait in OperationLocks is a timed latch wait, so TIMED_WAITING means "blocked on a lock" (the barrier's
    // untimed await shows as WAITING, monitor contention as BLOCKED).
    private static boolean isParked(Thread t) {
        return t.getState() == Thread.State.TIMED_WAITING;
    }

    private static void awaitParked(Worker<?> w) {
        awaitUntil(() -> {
            if (w.result.isDone()) {
                fail("worker finished instead of waiting: " + w.result);
            }
            return isParked(w.thread);
        });
    }

    private static void awaitUntil(BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("condition not reached within 5 s");
            }
            Thread.yield();
        }
    }
}
