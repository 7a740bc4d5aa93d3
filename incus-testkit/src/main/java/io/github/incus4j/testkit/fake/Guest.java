package io.github.incus4j.testkit.fake;

import java.io.InterruptedIOException;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The simulated runtime of a started instance: its init PID, start time, the commands running in it, the counters
 * its state and metrics are derived from, its cgroup writes, and whether it is frozen. One per start; dropped at
 * stop, so a stopped instance holds none of this.
 */
final class Guest {
    final int pid;
    final Instant startedAt;
    final long startMillis;
    /** Counters carried over from a restored state ({@link SavedState#ZERO} on a cold boot). */
    final SavedState base;
    final AtomicLong execs = new AtomicLong();
    final AtomicLong bytesOut = new AtomicLong();
    final AtomicLong bytesIn = new AtomicLong();
    final AtomicLong memoryPeak = new AtomicLong();
    /** CPU time commands spent computing (besides what exec and uptime cost), in nanoseconds. */
    final AtomicLong workNanos = new AtomicLong();
    final Set<Task> tasks = ConcurrentHashMap.newKeySet();
    /** Values written with {@code CGroup.set}; the rest is derived from the config. */
    final Map<String, String> cgroupWrites = new ConcurrentHashMap<>();
    private boolean frozen;
    /** The memory (bytes) and CPUs the guest has: set at boot, changed only by an applied live update. */
    volatile long memoryBytes;
    volatile int cpus;

    Guest(int pid, Instant startedAt, SavedState base) {
        this.pid = pid;
        this.startedAt = startedAt;
        this.startMillis = startedAt.toEpochMilli();
        this.base = base;
    }

    synchronized void setFrozen(boolean f) {
        frozen = f;
        notifyAll();
    }

    /** Blocks a process's I/O while the instance is frozen; a kill interrupts the wait. */
    synchronized void awaitThawed() throws InterruptedIOException {
        while (frozen) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("Killed while frozen");
            }
        }
    }

    /** Kills every command (the instance stopped or crashed under them). */
    void killAll(int status) {
        for (Task t : tasks) {
            t.kill(status);
        }
    }

    /** Ends every command without a status (see {@link Task#lose}). */
    void loseAll(io.github.incus4j.api.InstanceStateException why) {
        for (Task t : tasks) {
            t.lose(why);
        }
    }

    // ---- deterministic counters: functions of uptime (by the driver's clock), commands run and bytes moved -------

    long uptimeMillis(long nowMillis) {
        return Math.max(0, nowMillis - startMillis);
    }

    long cpuNanos(long nowMillis) {
        return base.cpuNanos() + uptimeMillis(nowMillis) * 10_000 + execs.get() * 3_000_000 + workNanos.get()
                + (bytesOut.get() + bytesIn.get()) * 50;
    }

    long rxBytes(long nowMillis) {
        return base.rxBytes() + uptimeMillis(nowMillis) / 1000 * 1200 + execs.get() * 4096 + bytesIn.get();
    }

    long txBytes(long nowMillis) {
        return base.txBytes() + uptimeMillis(nowMillis) / 1000 * 800 + execs.get() * 1024 + bytesOut.get();
    }

    long loopbackBytes() {
        return base.loopbackBytes() + execs.get() * 512;
    }

    /** Running processes: init and the commands. */
    int processes() {
        return 1 + tasks.size();
    }

    /** What a stateful stop or snapshot keeps. */
    SavedState save(long nowMillis) {
        return new SavedState(cpuNanos(nowMillis), rxBytes(nowMillis), txBytes(nowMillis), loopbackBytes(),
                base.execs() + execs.get(), memoryPeak.get(), null);
    }
}
