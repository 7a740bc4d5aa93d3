package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apiguardian.api.API;

/**
 * Fault injection for one {@link FakeInstances}: make the next actions fail, or slow them down, to test how code
 * copes with a driver that errs. Failures are thrown where the real driver would fail: after the shared preconditions
 * and with the operation lock held for lifecycle actions ({@code start}, {@code stop}, {@code shutdown},
 * {@code freeze}, {@code unfreeze}, {@code snapshot}, {@code restore}, {@code exec}, {@code export}, {@code migrate}),
 * before any change for the others ({@code create} after validation, {@code restart}, {@code update},
 * {@code delete}). A failed action changes nothing. Rules apply to every instance of the driver. Thread-safe.
 *
 * <pre>{@code
 * incus.faults().failNext("start", 1, () -> new IncusException("Failed to start: simulated"));
 * assertThrows(IncusException.class, () -> c1.start(false));
 * c1.start(false); // the rule is used up
 * }</pre>
 */
@API(status = EXPERIMENTAL)
public final class Faults {
    /** The actions faults can be attached to. */
    public static final Set<String> ACTIONS = Set.of("create", "start", "stop", "shutdown", "restart", "freeze",
            "unfreeze", "exec", "snapshot", "restore", "delete", "export", "migrate", "update");

    private record Failure(AtomicInteger remaining, Supplier<? extends RuntimeException> error) {
    }

    private final Map<String, Failure> failures = new ConcurrentHashMap<>();
    private final Map<String, Duration> delays = new ConcurrentHashMap<>();

    Faults() {
    }

    /**
     * Makes the next {@code times} calls of {@code action} throw what {@code error} supplies (a new exception per
     * call), replacing an earlier rule for that action.
     *
     * @throws InvalidArgumentException for an unknown action or a negative count
     */
    public Faults failNext(String action, int times, Supplier<? extends RuntimeException> error) {
        check(action);
        Objects.requireNonNull(error, "error");
        if (times < 0) {
            throw new InvalidArgumentException("The number of failures must not be negative: " + times);
        }
        if (times == 0) {
            failures.remove(action);
        } else {
            failures.put(action, new Failure(new AtomicInteger(times), error));
        }
        return this;
    }

    /** Makes every call of {@code action} take {@code latency} longer ({@link Duration#ZERO} removes the delay). */
    public Faults delay(String action, Duration latency) {
        check(action);
        Objects.requireNonNull(latency, "latency");
        if (latency.isNegative()) {
            throw new InvalidArgumentException("A delay must not be negative: " + latency);
        }
        if (latency.isZero()) {
            delays.remove(action);
        } else {
            delays.put(action, latency);
        }
        return this;
    }

    /** How many injected failures of {@code action} are still to come. */
    public int pending(String action) {
        check(action);
        Failure f = failures.get(action);
        return f == null ? 0 : f.remaining().get();
    }

    /** Removes every rule. */
    public void clear() {
        failures.clear();
        delays.clear();
    }

    /** Called by the driver as {@code action} runs: waits the delay, then throws an injected failure if one is due. */
    void hit(String action) {
        Duration d = delays.get(action);
        if (d != null) {
            try {
                Thread.sleep(d.toMillis(), d.toNanosPart() % 1_000_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted during the injected delay of " + ErrorTexts.quote(action), e);
            }
        }
        Failure f = failures.get(action);
        if (f != null) {
            int before = f.remaining().getAndUpdate(n -> n > 0 ? n - 1 : 0);
            if (before == 1) {
                failures.remove(action, f);
            }
            if (before > 0) {
                throw f.error().get();
            }
        }
    }

    private static void check(String action) {
        if (action == null || !ACTIONS.contains(action)) {
            throw new InvalidArgumentException("Unknown action " + ErrorTexts.quote(String.valueOf(action))
                    + " for fault injection; known: " + new java.util.TreeSet<>(ACTIONS));
        }
    }
}
