package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A name, configuration key, value or request was rejected (HTTP 400 in Incus). The message names the bad value,
 * with Incus's wording, e.g. {@code Unknown configuration key: limits.cpus}. Nothing was changed.
 */
@API(status = STABLE)
public class InvalidArgumentException extends IncusException {
    private static final long serialVersionUID = 1L;

    public InvalidArgumentException(String message) {
        super(400, message, null);
    }

    public InvalidArgumentException(String message, Throwable cause) {
        super(400, message, cause);
    }
}
