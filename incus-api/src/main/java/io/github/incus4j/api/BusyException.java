package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * Another operation holds the instance, or the thing to create already exists (HTTP 409 in Incus).
 * Typical text: {@code Instance is busy running a "start" operation}. Retrying later may succeed.
 */
@API(status = STABLE)
public class BusyException extends IncusException {
    private static final long serialVersionUID = 1L;

    public BusyException(String message) {
        super(409, message, null);
    }

    public BusyException(String message, Throwable cause) {
        super(409, message, cause);
    }
}
