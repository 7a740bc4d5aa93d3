package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * This driver (or this host) cannot do what was asked: Incus's {@code instance.ErrNotImplemented} ("Not implemented")
 * or a missing host capability such as CRIU ("Unable to create a stateful snapshot. CRIU isn't installed").
 */
@API(status = STABLE)
public class NotSupportedException extends IncusException {
    private static final long serialVersionUID = 1L;

    /** Incus's text for {@code instance.ErrNotImplemented}. */
    public static final String NOT_IMPLEMENTED = "Not implemented";

    public NotSupportedException(String message) {
        super(501, message, null);
    }

    public NotSupportedException(String message, Throwable cause) {
        super(501, message, cause);
    }
}
