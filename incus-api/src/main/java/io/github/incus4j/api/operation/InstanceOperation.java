package io.github.incus4j.api.operation;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.time.Duration;
import java.util.Optional;
import org.apiguardian.api.API;

/**
 * The per-instance operation lock ({@code operationlock.InstanceOperation}): while one exists for an instance, a
 * conflicting action fails with {@code Instance is busy running a "<action>" operation}. Closing it is
 * {@link #done(Throwable) done(null)}. Obtained from {@link io.github.incus4j.api.Instance#lockExclusive()} or held
 * by drivers during their actions.
 */
@API(status = EXPERIMENTAL)
public interface InstanceOperation extends AutoCloseable {
    /** The action name: {@code create}, {@code start}, {@code stop}, {@code restart}, {@code restore}, ... */
    String action();

    /** Whether {@link #action()} is one of {@code actions}. */
    default boolean actionMatch(String... actions) {
        for (String a : actions) {
            if (a.equals(action())) {
                return true;
            }
        }
        return false;
    }

    /** Whether other callers may join this operation instead of failing (Incus's {@code reusable}). */
    boolean reusable();

    /**
     * Waits until the operation is done, at most {@code timeout}, and rethrows its failure.
     *
     * @throws io.github.incus4j.api.OperationTimeoutException when it is still running after {@code timeout}
     */
    void await(Duration timeout);

    /** Ends the operation with its outcome ({@code null} for success) and releases the lock; idempotent. */
    void done(Throwable error);

    /**
     * Whether this handle joined an operation another caller owns (Incus's inheritance, e.g. the {@code stop} inside
     * a {@code restart}). Such a handle's {@link #done} does nothing: only the owner ends the operation.
     */
    default boolean inherited() {
        return false;
    }

    /** Whether {@link #done} was called. */
    boolean isDone();

    /** Marks the stop as initiated from inside the instance (a guest shutdown), as Incus does for its events. */
    void setInstanceInitiated(boolean initiated);

    boolean instanceInitiated();

    /** The user-visible operation this lock belongs to, if any. */
    Optional<Operation> operation();

    @Override
    default void close() {
        done(null);
    }
}
