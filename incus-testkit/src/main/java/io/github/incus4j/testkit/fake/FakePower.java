package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.time.Duration;

/**
 * The power state of one fake instance, what a kernel or hypervisor would hold: its status and its runtime (the
 * {@link Guest}, present only while it runs), and the transitions between them: running a new guest, powering off
 * (commands die with 137, devices stop, the tmpfs and frozen I/O go, consoles detach), a crash of init or QEMU,
 * freezing, and a clean shutdown in which commands get SIGTERM and a grace period, or which a guest set to ignore it
 * lets time out. Transitions hold the instance's monitor and wake its waiters, as the instance's own bookkeeping
 * does.
 */
final class FakePower {
    /** How long a clean shutdown lets commands that handle SIGTERM run before killing them. */
    private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(1);

    private final FakeInstance instance;
    private volatile StatusCode status = StatusCode.STOPPED;
    private volatile Guest guest;
    private volatile boolean ignoreShutdown;

    FakePower(FakeInstance instance) {
        this.instance = instance;
    }

    StatusCode status() {
        return status;
    }

    /** The runtime, {@code null} when not running. */
    Guest guest() {
        return guest;
    }

    /** See {@link FakeInstance#ignoreShutdown}. */
    void ignoreShutdown(boolean ignore) {
        this.ignoreShutdown = ignore;
    }

    /** A new guest with {@code state}'s counters, sized by the limits, now running. */
    Guest run(SavedState state) {
        Guest g = new Guest(instance.nextPid(), instance.driver().clock().instant(), state);
        FakeLimits.size(g, instance.expandedConfig());
        swapGuest(g, StatusCode.RUNNING);
        return g;
    }

    /** Installs the runtime (or none) and its status, waking waiters; returns the previous runtime. */
    private Guest swapGuest(Guest next, StatusCode to) {
        synchronized (instance) {
            Guest previous = guest;
            guest = next;
            status = to;
            instance.notifyAll();
            return previous;
        }
    }

    /** See {@link FakeInstance#crash}. */
    void crash(boolean leaveInError) {
        StatusCode after = leaveInError ? StatusCode.ERROR : StatusCode.STOPPED;
        Guest g;
        synchronized (instance) {
            if (guest == null) {
                throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, status);
            }
            g = swapGuest(null, after);
        }
        if (instance.type() == InstanceType.VM) {
            g.loseAll(new InstanceStateException(ErrorTexts.COMMAND_LOST_VM_DIED, after));
        } else {
            g.killAll(Cmd.exitStatusForSignal(9));
        }
        instance.devices().stopAll();
        release(g, "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\r\n");
    }

    /**
     * A clean shutdown: SIGTERM, a grace period, then power off; {@code false} when a guest that ignores it is
     * still running after {@code timeout} (at most the driver's lock wait).
     */
    boolean shutdown(Duration timeout) {
        if (ignoreShutdown) {
            Duration lockWait = instance.driver().lockWait();
            Duration bound = timeout.compareTo(lockWait) < 0 ? timeout : lockWait;
            long deadline = System.nanoTime() + bound.toNanos();
            synchronized (instance) {
                long left = bound.toNanos();
                while (status.isRunning() && left > 0) {
                    try {
                        instance.wait(left / 1_000_000, (int) (left % 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IncusException("Interrupted while waiting for " + instance.name() + " to shut down",
                                e);
                    }
                    left = deadline - System.nanoTime();
                }
                return status == StatusCode.STOPPED;
            }
        }
        instance.console().print("\r\nThe system is going down NOW!\r\nSent SIGTERM to all processes\r\n");
        Guest g = guest;
        if (g != null) {
            terminateAll(g, timeout.compareTo(SHUTDOWN_GRACE) < 0 ? timeout : SHUTDOWN_GRACE);
        }
        powerOff("Sent SIGKILL to all processes\r\nreboot: Power down\r\n");
        return true;
    }

    /**
     * Sends SIGTERM to every command and, as busybox's init does before SIGKILL, gives those that handle it up to
     * {@code grace} to exit.
     */
    private static void terminateAll(Guest g, Duration grace) {
        for (Task t : g.tasks) {
            t.signal(15);
        }
        long deadline = System.nanoTime() + grace.toNanos();
        for (Task t : g.tasks) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            try {
                t.waitFor(Duration.ofNanos(left));
            } catch (IncusException stillRunning) {
                break;
            }
        }
    }

    /** Ends the runtime: commands die (137), consoles detach; {@code message} (if any) goes to the console. */
    void powerOff(String message) {
        Guest g = swapGuest(null, StatusCode.STOPPED);
        instance.devices().stopAll();
        if (g != null) {
            g.killAll(Cmd.exitStatusForSignal(9));
            release(g, message);
        }
    }

    /** What goes with an ended runtime: frozen I/O, the tmpfs (memory), the consoles; {@code message} is printed. */
    private void release(Guest g, String message) {
        g.setFrozen(false);
        instance.disk().setTree(r -> Tmpfs.unmounted(r, instance.clockMillis()));
        FakeConsole c = message != null ? instance.console() : instance.tty().ifOpen();
        if (c != null) {
            if (message != null) {
                c.print(message);
            }
            c.detachAll();
        }
    }

    /** Freezes ({@code true}) or thaws the running guest's commands. */
    void setFrozen(boolean frozen) {
        synchronized (instance) {
            Guest g = guest;
            if (g != null) {
                g.setFrozen(frozen);
                status = frozen ? StatusCode.FROZEN : StatusCode.RUNNING;
            }
        }
    }
}
