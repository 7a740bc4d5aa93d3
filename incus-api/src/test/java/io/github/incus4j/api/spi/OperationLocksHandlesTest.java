package io.github.incus4j.api.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.spi.OperationLocks.Action;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What a lock handle and a view of it report: coverage of an instance, markers, descriptions, failures. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class OperationLocksHandlesTest {
    private final OperationLocks locks = new OperationLocks(Duration.ofSeconds(3));

    @Test
    void coversOnlyTheLockHeldForThatInstance() {
        InstanceOperation lock = locks.create("default", "c1", null, Action.UPDATE, true, false);
        InstanceOperation view = locks.create("default", "c1", null, Action.START, false, true);
        assertTrue(locks.covers(lock, "default", "c1"));
        assertTrue(locks.covers(view, "default", "c1"), "a view covers what its lock covers");
        assertFalse(locks.covers(lock, "default", "c2"));
        assertFalse(locks.covers(lock, "other", "c1"));
        InstanceOperation foreign = new OperationLocks().create("default", "c1", null, Action.UPDATE, false, false);
        assertFalse(locks.covers(foreign, "default", "c1"), "a lock of another registry");
        lock.done(null);
        assertFalse(locks.covers(lock, "default", "c1"), "an ended lock covers nothing");
        assertFalse(locks.covers(view, "default", "c1"));
        InstanceOperation next = locks.create("default", "c1", null, Action.UPDATE, false, false);
        assertFalse(locks.covers(lock, "default", "c1"), "a stale handle does not cover the next lock");
        assertTrue(locks.covers(next, "default", "c1"));
        next.done(null);
        foreign.done(null);
        assertEquals(Duration.ofSeconds(3), locks.maxWait());
    }

    @Test
    void instanceInitiatedIsSharedBetweenTheLockAndItsViews() {
        InstanceOperation lock = locks.create("default", "c1", null, Action.STOP, true, false);
        InstanceOperation view = locks.createWaitGet("default", "c1", null, Action.STOP, null, false, true)
                .orElseThrow();
        assertTrue(view.inherited());
        assertTrue(view.reusable());
        assertFalse(lock.instanceInitiated());
        assertFalse(view.instanceInitiated());
        view.setInstanceInitiated(true);
        assertTrue(lock.instanceInitiated());
        assertTrue(view.instanceInitiated());
        lock.setInstanceInitiated(false);
        assertFalse(view.instanceInitiated());
        lock.done(null);
        assertTrue(view.isDone());
    }

    @Test
    void aViewOfANonReusableLockIsNotReusable() {
        InstanceOperation restart = locks.create("default", "c1", null, Action.RESTART, false, false);
        InstanceOperation inner = locks.createWaitGet("default", "c1", null, Action.STOP, Set.of(Action.RESTART),
                false, false).orElseThrow();
        assertTrue(inner.inherited());
        assertFalse(inner.reusable());
        inner.done(null);
        assertFalse(restart.isDone(), "a view cannot end the lock");
        restart.done(null);
    }

    @Test
    void descriptionsNameActionInstanceAndState() {
        InstanceOperation lock = locks.create("p1", "c1", null, Action.STOP, true, false);
        InstanceOperation view = locks.create("p1", "c1", null, Action.STOP, false, true);
        assertEquals("InstanceOperation[stop p1/c1 reusable]", lock.toString());
        assertEquals("inherited InstanceOperation[stop p1/c1 reusable]", view.toString());
        assertEquals("OperationLocks[InstanceOperation[stop p1/c1 reusable]]", locks.toString());
        lock.done(null);
        assertEquals("InstanceOperation[stop p1/c1 reusable done]", lock.toString());
        InstanceOperation plain = locks.create("p1", "c1", null, Action.START, false, false);
        assertEquals("InstanceOperation[start p1/c1]", plain.toString());
        plain.done(null);
        assertEquals("OperationLocks[]", locks.toString());
    }

    @Test
    void aWaiterSeesTheFailureTheLockEndedWith() throws Exception {
        InstanceOperation lock = locks.create("default", "c1", null, Action.START, false, false);
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            lock.done(new Exception());
        }, "ender");
        t.setDaemon(true);
        t.start();
        IncusException e = assertThrows(IncusException.class,
                () -> locks.createWaitGet("default", "c1", null, Action.START, null, false, false));
        assertEquals("java.lang.Exception", e.getMessage(), "a checked failure without a message is named");
        t.join();
        // An Error is rethrown as is.
        InstanceOperation failing = locks.create("default", "c1", null, Action.START, false, false);
        endLater(failing, new AssertionError("boom"));
        AssertionError error = assertThrows(AssertionError.class,
                () -> locks.createWaitGet("default", "c1", null, Action.START, null, false, false));
        assertEquals("boom", error.getMessage());
        assertEquals(0, locks.size());
    }

    @Test
    void anEndlessAwaitWaitsForTheEnd() {
        InstanceOperation lock = locks.create("default", "c1", null, Action.START, false, false);
        endLater(lock, null);
        lock.await(ChronoUnit.FOREVER.getDuration());
        assertTrue(lock.isDone());
    }

    private static void endLater(InstanceOperation lock, Throwable error) {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            lock.done(error);
        }, "ender");
        t.setDaemon(true);
        t.start();
    }

    @Test
    void awaitIdleWaitsForALockThatEndsInTime() throws Exception {
        InstanceOperation lock = locks.create("default", "c1", null, Action.DELETE, false, false);
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(150);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            lock.done(null);
        }, "ender");
        t.setDaemon(true);
        t.start();
        long t0 = System.nanoTime();
        locks.awaitIdle("default", "c1", Duration.ofSeconds(2));
        assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(100), "it waited for the lock's end");
        assertTrue(lock.isDone());
        t.join();
        // A timeout shorter than maxWait bounds the wait, and the message names it.
        InstanceOperation held = locks.create("default", "c1", null, Action.DELETE, false, false);
        OperationTimeoutException e = assertThrows(OperationTimeoutException.class,
                () -> locks.awaitIdle("default", "c1", Duration.ofMillis(50)));
        assertTrue(e.getMessage().startsWith("Timed out after 50ms"), e.getMessage());
        assertSame(held, locks.get("default", "c1").orElseThrow());
        held.done(null);
    }
}
