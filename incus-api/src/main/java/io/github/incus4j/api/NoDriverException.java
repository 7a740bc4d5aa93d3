package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import java.util.List;
import org.apiguardian.api.API;

/**
 * No instance driver could be chosen. The message lists every provider tried and why it was refused, in the order
 * tried, so one error tells the whole story (as Testcontainers does for its Docker strategies).
 */
@API(status = STABLE)
public class NoDriverException extends NotFoundException {
    private static final long serialVersionUID = 1L;

    /** One provider that was considered and refused. */
    public record Attempt(String driver, String reason) {
        @Override
        public String toString() {
            return driver + ": " + reason;
        }
    }

    private final List<Attempt> attempts;

    public NoDriverException(String summary, List<Attempt> attempts) {
        super(format(summary, attempts));
        this.attempts = List.copyOf(attempts);
    }

    /** Every provider tried, in order, with the reason it was refused. */
    public List<Attempt> attempts() {
        return attempts;
    }

    private static String format(String summary, List<Attempt> attempts) {
        StringBuilder sb = new StringBuilder(summary);
        if (attempts.isEmpty()) {
            sb.append(" (no instance driver is on the class path or module path)");
        }
        for (Attempt a : attempts) {
            sb.append(System.lineSeparator()).append("  - ").append(a);
        }
        return sb.toString();
    }
}
