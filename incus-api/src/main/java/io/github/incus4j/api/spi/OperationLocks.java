package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.model.Project;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apiguardian.api.API;

/**
 * The per-instance operation locks of Incus's {@code operationlock} package
 * ({@code internal/server/instance/operationlock/operationlock.go}): at most one {@link InstanceOperation} per
 * instance, so that conflicting actions (a {@code stop} during a {@code start}...) fail with
 * {@code Instance is busy running a "start" operation} instead of racing.
 *
 * <p>Incus keeps one global map per daemon process; here each driver session owns an instance of this class, so two
 * sessions never see each other's locks. Thread-safe.
 *
 * <p>Unlike Incus, whose waits are unbounded ({@code Wait(context.Background())}), no wait here can last forever:
 * {@link #createWaitGet} and {@link #awaitIdle} wait at most the {@code maxWait} given to the constructor, and
 * {@link InstanceOperation#await(Duration)} at most its argument. A lock itself has no timer (as in Incus HEAD): it
 * is held until its owner calls {@link InstanceOperation#done(Throwable) done}.
 *
 * <p>Handles. {@link #create} and {@link #createWaitGet} give the caller that registered a lock the lock itself (its
 * owner). Callers that join a lock someone else registered (Incus's inheritance and reuse) get a non-owning view:
 * {@link InstanceOperation#inherited()} is {@code true}, its {@code done}/{@code close} do nothing, everything else
 * (await, isDone, instance-initiated marker, operation) reads the shared lock. {@link #get} returns the lock itself,
 * as Incus's {@code Get} does, so that a stop hook can end the lock its {@code Stop()} is waiting on.
 */
@API(status = EXPERIMENTAL)
public final class OperationLocks {

    /** The lock actions ({@code operationlock.Action}); {@link #value()} is Incus's string. */
    public enum Action {
        CREATE("create"),
        START("start"),
        STOP("stop"),
        RESTART("restart"),
        RESTORE("restore"),
        UPDATE("update"),
        DELETE("delete"),
        MIGRATE("migrate"),
        CONSOLE_RETRIEVE("console_retrieve");

        private final String value;

        Action(String value) {
            this.value = value;
        }

        /** Incus's name of the action, e.g. {@code console_retrieve}. */
        public String value() {
            return value;
        }
    }

    /** The bound on waits of {@link #OperationLocks()}: Incus's REST layer default of 600 s. */
    public static final Duration DEFAULT_WAIT = Duration.ofMinutes(10);

    private final Duration maxWait;
    // One monitor guards the map: every decision (look up, then create, reuse, inherit or fail) is atomic, which also
    // closes the window Incus's CreateWaitGet leaves between its Get and its Create.
    private final Object monitor = new Object();
    private final Map<String, Lock> locks = new HashMap<>();
    // The map's size, written under the monitor: get() with no lock held anywhere (the common case of a status
    // query, which the lxc and qemu drivers answer from memory) skips the key and the monitor.
    private volatile int held;

    /** A registry whose waits last at most {@link #DEFAULT_WAIT}. */
    public OperationLocks() {
        this(DEFAULT_WAIT);
    }

    /**
     * A registry whose waits ({@link #createWaitGet}, {@link #awaitIdle}) last at most {@code maxWait}.
     *
     * @throws InvalidArgumentException when {@code maxWait} is negative
     */
    public OperationLocks(Duration maxWait) {
        Objects.requireNonNull(maxWait, "maxWait");
        if (maxWait.isNegative()) {
            throw new InvalidArgumentException("maxWait must not be negative: " + maxWait);
        }
        this.maxWait = maxWait;
    }

    /**
     * Incus's {@code operationlock.Create}: registers a new lock for the instance and returns it, the caller being its
     * owner. When a lock already exists it is joined if it was created reusable and {@code reuseExisting} is set
     * (whatever its action, as in Incus; the caller gets a non-owning view of it), otherwise this fails.
     *
     * @param op the user-visible operation the lock belongs to, or {@code null}
     * @param createReusable whether later callers passing {@code reuseExisting} may join the new lock
     * @throws InvalidArgumentException {@code Invalid project or instance name} when either is empty
     * @throws BusyException {@code Instance is busy running a "<action>" operation}, naming the existing lock's action
     */
    public InstanceOperation create(
            String project, String instance, Operation op, Action action, boolean createReusable, boolean reuseExisting) {
        String key = key(project, instance);
        Objects.requireNonNull(action, "action");
        synchronized (monitor) {
            return createLocked(key, project, instance, op, action, createReusable, reuseExisting);
        }
    }

    /**
     * Incus's {@code operationlock.CreateWaitGet}, in its order:
     * <ol>
     *   <li>no lock: as {@link #create};
     *   <li>a lock of the same action that is not reusable, or {@code reuseExisting} is not set: waits for it to end
     *       (at most {@code maxWait}), then rethrows its failure, or returns {@link Optional#empty()} on its success
     *       (Incus's {@code ErrNonReusuableSucceeded}, {@code A matching non-reusable operation has now succeeded}:
     *       the caller treats it as success and does nothing);
     *   <li>a lock whose action is in {@code inheritable} and that the calling thread took: returns a non-owning
     *       view of it (e.g. the {@code stop} inside a {@code restart}); unlike Incus, another thread does not
     *       inherit it, so nothing else slips into a running operation;
     *   <li>otherwise as {@link #create}: reuse or {@link BusyException}.
     * </ol>
     *
     * @param inheritable actions whose lock this caller may inherit; {@code null} means none
     * @throws OperationTimeoutException when the lock waited for (case 2) is still held after {@code maxWait}
     * @throws BusyException as {@link #create}
     * @throws RuntimeException the failure the waited-for lock ended with: a {@link RuntimeException} as is, a checked
     *     exception wrapped in an {@link IncusException} with its message
     */
    public Optional<InstanceOperation> createWaitGet(
            String project,
            String instance,
            Operation op,
            Action action,
            Set<Action> inheritable,
            boolean createReusable,
            boolean reuseExisting) {
        String key = key(project, instance);
        Objects.requireNonNull(action, "action");
        Lock running;
        synchronized (monitor) {
            running = locks.get(key);
            if (running == null) {
                return Optional.of(createLocked(key, project, instance, op, action, createReusable, reuseExisting));
            }
            if (running.action != action || (reuseExisting && running.reusable)) {
                // Safer than Incus, where any request inherits: only the thread running the outer operation does
                // (the stop inside its own restart), so a user's start cannot slip into someone else's restore.
                if (inheritable != null && inheritable.contains(running.action)
                        && running.thread == Thread.currentThread()) {
                    return Optional.of(new View(running));
                }
                return Optional.of(createLocked(key, project, instance, op, action, createReusable, reuseExisting));
            }
        }
        // Same action, not to be reused: wait outside the monitor so that its owner can end it.
        running.await(maxWait);
        return Optional.empty();
    }

    /**
     * Incus's {@code operationlock.Get}: the lock held for the instance, if any. This is the lock itself, not a view:
     * as in Incus, whoever gets it may end it (a stop hook ends the {@code stop} or {@code restart} lock that the
     * stopping action waits on), so call {@code done} only when taking over that role.
     *
     * @throws InvalidArgumentException {@code Invalid project or instance name} when either is empty
     */
    public Optional<InstanceOperation> get(String project, String instance) {
        if (held == 0 && project != null && !project.isEmpty() && instance != null && !instance.isEmpty()) {
            return Optional.empty();
        }
        String key = key(project, instance);
        synchronized (monitor) {
            return Optional.ofNullable(locks.get(key));
        }
    }

    /**
     * Waits until no lock is held for the instance (used before deleting it), at most {@code timeout} and at most
     * {@code maxWait}. Ends of locks are awaited whatever their outcome; a lock registered meanwhile is awaited too.
     * Nothing stops a lock from being taken right after this returns: to exclude others, take one.
     *
     * @throws OperationTimeoutException naming the action still running when the time runs out
     */
    public void awaitIdle(String project, String instance, Duration timeout) {
        String key = key(project, instance);
        Objects.requireNonNull(timeout, "timeout");
        Duration bound = timeout.compareTo(maxWait) < 0 ? timeout : maxWait;
        long deadline = System.nanoTime() + nanos(bound);
        while (true) {
            Lock running;
            synchronized (monitor) {
                running = locks.get(key);
            }
            if (running == null) {
                return;
            }
            if (!running.awaitEnd(deadline - System.nanoTime())) {
                throw timeout(running, bound);
            }
        }
    }

    /**
     * Whether {@code op} (a lock of this registry or a view of one) is the lock now held for the instance: false
     * once it ended, or when the instance was renamed away from the name it was taken for.
     */
    public boolean covers(InstanceOperation op, String project, String instance) {
        Lock lock = op instanceof View v ? v.lock : op instanceof Lock l ? l : null;
        synchronized (monitor) {
            return lock != null && locks.get(key(project, instance)) == lock;
        }
    }

    /** The bound on every wait of this registry. */
    public Duration maxWait() {
        return maxWait;
    }

    /** Number of locks held (for tests and metrics). */
    public int size() {
        synchronized (monitor) {
            return locks.size();
        }
    }

    @Override
    public String toString() {
        synchronized (monitor) {
            return "OperationLocks" + locks.values();
        }
    }

    // Incus's Create body; the caller holds the monitor.
    private InstanceOperation createLocked(
            String key,
            String project,
            String instance,
            Operation op,
            Action action,
            boolean createReusable,
            boolean reuseExisting) {
        Lock existing = locks.get(key);
        if (existing != null) {
            if (existing.reusable && reuseExisting) {
                return new View(existing);
            }
            throw new BusyException("Instance is busy running a \"" + existing.action.value() + "\" operation");
        }
        Lock lock = new Lock(key, project, instance, op, action, createReusable);
        locks.put(key, lock);
        held = locks.size();
        return lock;
    }

    /** Incus's {@code project.Instance}: {@code name} in project {@code default}, else {@code project_name}. */
    private static String key(String project, String instance) {
        if (project == null || project.isEmpty() || instance == null || instance.isEmpty()) {
            throw new InvalidArgumentException("Invalid project or instance name");
        }
        return Project.storageName(project, instance);
    }

    private static OperationTimeoutException timeout(Lock lock, Duration waited) {
        return new OperationTimeoutException("Timed out after " + ErrorTexts.duration(waited) + " waiting for the \""
                + lock.action.value() + "\" operation of instance \"" + lock.instance + "\" in project \""
                + lock.project + "\" to finish");
    }

    // Saturating: Duration.toNanos overflows beyond ~292 years (e.g. ChronoUnit.FOREVER).
    private static long nanos(Duration d) {
        if (d.isNegative()) {
            return 0;
        }
        try {
            return d.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    /** A registered lock; the handle its owner holds. */
    private final class Lock implements InstanceOperation {
        private final String key;
        private final String project;
        private final String instance;
        private final Operation op;
        private final Action action;
        private final boolean reusable;
        // The thread that took the lock: the only one that may inherit it.
        private final Thread thread = Thread.currentThread();
        // Counted down exactly once, by done(), after the lock left the map: waiters then see the map without it.
        private final CountDownLatch ended = new CountDownLatch(1);
        // Written under the monitor before the countdown, which publishes it to the waiters.
        private Throwable error;
        private volatile boolean instanceInitiated;

        Lock(String key, String project, String instance, Operation op, Action action, boolean reusable) {
            this.key = key;
            this.project = project;
            this.instance = instance;
            this.op = op;
            this.action = action;
            this.reusable = reusable;
        }

        @Override
        public String action() {
            return action.value();
        }

        @Override
        public boolean reusable() {
            return reusable;
        }

        @Override
        public void await(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            if (!awaitEnd(nanos(timeout))) {
                throw timeout(this, timeout);
            }
            rethrow(error);
        }

        /** Whether the lock ended within {@code nanos}. */
        boolean awaitEnd(long nanos) {
            try {
                return ended.await(Math.max(0, nanos), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted while waiting for the \"" + action.value()
                        + "\" operation of instance \"" + instance + "\" to finish", e);
            }
        }

        /** Incus's {@code Done}: only the first call counts; removes the lock, then releases the waiters. */
        @Override
        public void done(Throwable err) {
            synchronized (monitor) {
                // Identity check: a later lock for the same instance must not be removed by a stale handle.
                if (locks.get(key) != this) {
                    return;
                }
                error = err;
                locks.remove(key);
                held = locks.size();
                ended.countDown();
            }
        }

        @Override
        public boolean isDone() {
            return ended.getCount() == 0;
        }

        @Override
        public void setInstanceInitiated(boolean initiated) {
            instanceInitiated = initiated;
        }

        @Override
        public boolean instanceInitiated() {
            return instanceInitiated;
        }

        @Override
        public Optional<Operation> operation() {
            return Optional.ofNullable(op);
        }

        @Override
        public String toString() {
            return "InstanceOperation[" + action.value() + " " + project + "/" + instance
                    + (reusable ? " reusable" : "") + (isDone() ? " done" : "") + "]";
        }
    }

    /** A non-owning handle on someone else's lock: reads and waits on it, cannot end it. */
    private static final class View implements InstanceOperation {
        private final Lock lock;

        View(Lock lock) {
            this.lock = lock;
        }

        @Override
        public String action() {
            return lock.action();
        }

        @Override
        public boolean reusable() {
            return lock.reusable();
        }

        @Override
        public void await(Duration timeout) {
            lock.await(timeout);
        }

        /** Does nothing: only the owner ends the operation. */
        @Override
        public void done(Throwable error) {
            // Deliberately empty.
        }

        @Override
        public boolean inherited() {
            return true;
        }

        @Override
        public boolean isDone() {
            return lock.isDone();
        }

        @Override
        public void setInstanceInitiated(boolean initiated) {
            lock.setInstanceInitiated(initiated);
        }

        @Override
        public boolean instanceInitiated() {
            return lock.instanceInitiated();
        }

        @Override
        public Optional<Operation> operation() {
            return lock.operation();
        }

        @Override
        public String toString() {
            return "inherited " + lock;
        }
    }

    private static void rethrow(Throwable error) {
        if (error == null) {
            return;
        }
        if (error instanceof RuntimeException) {
            throw (RuntimeException) error;
        }
        if (error instanceof Error) {
            throw (Error) error;
        }
        // Checked: keep its message so the caller reports what Incus would.
        throw new IncusException(error.getMessage() != null ? error.getMessage() : error.toString(), error);
    }
}
