package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** A bounded wait ran out: a lock that was not released, a shutdown the guest ignored, a command still running. */
@API(status = STABLE)
public class OperationTimeoutException extends IncusException {
    private static final long serialVersionUID = 1L;

    public OperationTimeoutException(String message) {
        super(504, message, null);
    }

    public OperationTimeoutException(String message, Throwable cause) {
        super(504, message, cause);
    }
}
