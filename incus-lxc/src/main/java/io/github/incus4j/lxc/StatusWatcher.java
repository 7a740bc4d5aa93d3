package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.lxc.binding.StatusEvents;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;

/**
 * Keeps each container's status in memory, so that {@code statusCode()} costs a field read instead of a round trip
 * to liblxc's monitor (about 60 µs). The status is queried once, then again whenever the kernel says it may have
 * changed: the container's init exited (its pidfd became readable) or its freezer file was written (inotify), which
 * covers {@code lxc-stop}, {@code lxc-freeze} and a killed init behind the driver's back. While a state is in
 * transition (liblxc's {@code STOPPING}, a freeze under way) it is queried every {@value #SETTLE_MILLIS} ms until it
 * settles, and every tracked container is queried again every {@value #RESYNC_MILLIS} ms, which is how a start from
 * outside (nothing to watch yet) is noticed. The driver's own operations refresh the status before they return.
 *
 * <p>One named daemon thread of the driver waits on all the descriptors; it and every descriptor end with
 * {@link #close()}, and a container's descriptors are closed as soon as it is found stopped. Where pidfds are not
 * available (Linux before 5.3), nothing is cached and every status is asked of liblxc.
 */
final class StatusWatcher implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(StatusWatcher.class.getName());
    /** How often a status in transition is asked again. */
    static final int SETTLE_MILLIS = 5;
    /** How often every tracked container's status is asked again. */
    static final int RESYNC_MILLIS = 1000;
    /** {@link #RESYNC_MILLIS}, which tests lengthen to show that only the events make a change seen at once. */
    static volatile int resyncMillis = RESYNC_MILLIS;

    private final StatusEvents events;
    private final Map<LxcContainerInstance, Watch> watches = new ConcurrentHashMap<>();
    private final Set<LxcContainerInstance> tracked = ConcurrentHashMap.newKeySet();
    private final Set<LxcContainerInstance> settling = ConcurrentHashMap.newKeySet();
    private final Thread thread;
    private volatile boolean closed;

    /** A running container's descriptors, for the init with pid {@code pid}. */
    private static final class Watch {
        final int pid;
        final int pidfd;
        final int wd;
        volatile boolean exited;

        Watch(int pid, int pidfd, int wd) {
            this.pid = pid;
            this.pidfd = pidfd;
            this.wd = wd;
            this.exited = pidfd < 0;
        }
    }

    StatusWatcher(ThreadFactory threads) {
        StatusEvents opened;
        try {
            opened = StatusEvents.open();
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.INFO, "Container status is asked of liblxc each time: {0}", e.getMessage());
            opened = null;
        }
        this.events = opened;
        if (opened != null) {
            thread = threads.newThread(this::run);
            thread.start();
        } else {
            thread = null;
        }
    }

    /** Whether statuses are kept in memory here. */
    boolean active() {
        return events != null && !closed;
    }

    /**
     * Asks liblxc for the container's status now, remembers it and (un)registers the container's descriptors to
     * match: the status after this returns is never older than the call.
     */
    StatusCode refresh(LxcContainerInstance i) {
        synchronized (i.statusLock) {
            return refreshLocked(i, true);
        }
    }

    private StatusCode refreshLocked(LxcContainerInstance i, boolean again) {
        LxcStatus.Fresh f = i.status().query();
        if (!active() || !f.defined()) {
            forgetLocked(i);
            return f.status();
        }
        Watch w = watches.get(i);
        if (f.status() != StatusCode.STOPPED && f.pid() > 0) {
            if (w == null || w.pid != f.pid()) {
                release(watches.remove(i));
                int pidfd;
                try {
                    pidfd = events.openPidfd(f.pid());
                } catch (IncusException e) {
                    // Out of descriptors, say: nothing to be notified by, so nothing kept; liblxc answers each time.
                    LOG.log(System.Logger.Level.WARNING, "Status of " + i.name() + " not watched", e);
                    forgetLocked(i);
                    return f.status();
                }
                int wd = -1;
                try {
                    wd = events.watch(i.status().freezerEventsFile(f.pid()));
                } catch (IncusException e) {
                    LOG.log(System.Logger.Level.DEBUG, "No freezer to watch for {0}: {1}", i.name(), e.getMessage());
                }
                watches.put(i, new Watch(f.pid(), pidfd, wd));
                events.wake(); // the waiting thread takes the new descriptors
                if (again) {
                    // A change between the query and the registration was not notified: ask once more.
                    return refreshLocked(i, false);
                }
                w = watches.get(i);
            }
        } else if (w != null) {
            release(watches.remove(i));
            events.wake();
            w = null;
        }
        StatusCode status = f.status();
        if (w != null && w.exited && status.isRunning()) {
            // Init is gone and liblxc's monitor has not caught up yet: the container is going down.
            status = StatusCode.STOPPING;
        }
        i.watchedStatus = status;
        tracked.add(i);
        if (transitional(status) || (w != null && w.exited)) {
            settling.add(i);
            events.wake();
        } else {
            settling.remove(i);
        }
        return status;
    }

    private static boolean transitional(StatusCode s) {
        return s == StatusCode.STARTING || s == StatusCode.STOPPING || s == StatusCode.ABORTING
                || s == StatusCode.FREEZING || s == StatusCode.THAWED;
    }

    /** Stops tracking the container (deleted, renamed): its next status is asked of liblxc. */
    void forget(LxcContainerInstance i) {
        synchronized (i.statusLock) {
            forgetLocked(i);
        }
    }

    private void forgetLocked(LxcContainerInstance i) {
        i.watchedStatus = null;
        tracked.remove(i);
        settling.remove(i);
        release(watches.remove(i));
    }

    private void release(Watch w) {
        if (w != null && events != null) {
            events.closeFd(w.pidfd);
            events.unwatch(w.wd);
        }
    }

    /** The number of containers with open descriptors (for tests). */
    int watched() {
        return watches.size();
    }

    private void run() {
        long nextResync = System.nanoTime() + resyncMillis * 1_000_000L;
        while (!closed) {
            Map<Integer, LxcContainerInstance> byPidfd = new HashMap<>();
            Map<Integer, LxcContainerInstance> byWd = new HashMap<>();
            List<Integer> pidfds = new ArrayList<>();
            watches.forEach((i, w) -> {
                if (!w.exited) {
                    byPidfd.put(w.pidfd, i);
                    pidfds.add(w.pidfd);
                }
                if (w.wd >= 0) {
                    byWd.put(w.wd, i);
                }
            });
            long untilResync = Math.max(0, (nextResync - System.nanoTime()) / 1_000_000L);
            int timeout = (int) (settling.isEmpty() ? Math.min(untilResync, resyncMillis) : SETTLE_MILLIS);
            StatusEvents.Ready ready;
            try {
                ready = events.await(pidfds.stream().mapToInt(Integer::intValue).toArray(), timeout);
            } catch (IncusException e) {
                if (closed) {
                    return;
                }
                LOG.log(System.Logger.Level.WARNING, "Waiting for container events failed", e);
                sleep(SETTLE_MILLIS);
                continue;
            }
            if (closed) {
                return;
            }
            Set<LxcContainerInstance> todo = new HashSet<>(settling);
            for (int fd : ready.exitedPidfds()) {
                LxcContainerInstance i = byPidfd.get(fd);
                Watch w = i == null ? null : watches.get(i);
                if (w != null && w.pidfd == fd) {
                    synchronized (i.statusLock) {
                        w.exited = true; // readable for good: no longer polled, the status settles instead
                        StatusCode known = i.watchedStatus;
                        if (known != null && known.isRunning() && watches.get(i) == w) {
                            i.watchedStatus = StatusCode.STOPPING; // init is gone, whatever liblxc says yet
                        }
                    }
                    todo.add(i);
                }
            }
            for (int wd : ready.writtenWatches()) {
                LxcContainerInstance i = byWd.get(wd);
                if (i != null && !frozenOrThawed(i, wd)) {
                    todo.add(i);
                }
            }
            if (System.nanoTime() - nextResync >= 0) {
                todo.addAll(tracked);
                nextResync = System.nanoTime() + resyncMillis * 1_000_000L;
            }
            for (LxcContainerInstance i : todo) {
                try {
                    refresh(i);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "Status of {0} not refreshed: {1}", i.name(), e.getMessage());
                }
            }
        }
    }

    /**
     * After a write to the freezer file: reads the freezer itself (a few µs, where liblxc's query is a round trip to
     * the monitor) and keeps its answer when it is a settled one.
     */
    private boolean frozenOrThawed(LxcContainerInstance i, int wd) {
        synchronized (i.statusLock) {
            Watch w = watches.get(i);
            if (w == null || w.exited || w.wd != wd) {
                return false;
            }
            StatusCode s;
            try {
                s = i.status().freezerStatus(w.pid);
            } catch (IncusException e) {
                return false; // gone meanwhile: liblxc tells
            }
            if (s != StatusCode.FROZEN && s != StatusCode.RUNNING) {
                return false;
            }
            i.watchedStatus = s;
            settling.remove(i);
            return true;
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends the thread and closes every descriptor; statuses are then asked of liblxc. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (events == null) {
            return;
        }
        events.wake();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (LxcContainerInstance i : new ArrayList<>(tracked)) {
            forget(i);
        }
        for (LxcContainerInstance i : new ArrayList<>(watches.keySet())) {
            forget(i);
        }
        if (thread.isAlive()) {
            LOG.log(System.Logger.Level.WARNING, "The container status thread did not end within 2 s");
        } else {
            events.close();
        }
    }
}
