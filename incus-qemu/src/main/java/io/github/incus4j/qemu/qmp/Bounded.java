package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.apiguardian.api.API;

/**
 * A blocking call that has no timeout of its own (a unix-domain connect into a full backlog, an SSH handshake with a
 * silent server), bounded: it runs on a thread of the caller's factory while the caller waits up to the timeout, and
 * on timeout {@code abort} closes what the call blocks on, so that the thread ends at once instead of staying pinned.
 */
@API(status = INTERNAL)
public final class Bounded {
    /** The blocking work; may throw anything, which the caller gets back unwrapped (checked ones as the cause). */
    @FunctionalInterface
    public interface Work<T> {
        T run() throws Exception;
    }

    /** The outcome of {@link #call}: the value, or what the work threw. */
    public record Outcome<T>(T value, Throwable failure) {
    }

    private Bounded() {
    }

    /**
     * Runs {@code work} on a new thread of {@code threads} and waits up to {@code timeout} for it.
     *
     * @param abort unblocks the work (closes its socket); called on timeout and on interruption, and must not block
     * @param timedOut the exception for a timeout
     * @return what the work returned or threw
     * @throws OperationTimeoutException {@code timedOut}'s, after {@code abort} ran
     * @throws IncusException the caller was interrupted (after {@code abort}; the interrupt status stays set)
     */
    public static <T> Outcome<T> call(ThreadFactory threads, Duration timeout, Work<T> work, Runnable abort,
            Supplier<OperationTimeoutException> timedOut) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread t = threads.newThread(() -> {
            try {
                result.complete(work.run());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
        t.start();
        try {
            return new Outcome<>(result.get(JsonLineChannel.nanos(timeout), TimeUnit.NANOSECONDS), null);
        } catch (ExecutionException e) {
            return new Outcome<>(null, e.getCause());
        } catch (TimeoutException e) {
            abort.run();
            throw timedOut.get();
        } catch (InterruptedException e) {
            abort.run();
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted", e);
        }
    }
}
