package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * Root of every exception incus4j throws. Unchecked, like every error of the Go interface it mirrors.
 *
 * <p>Incus wraps its errors in {@code api.StatusError} carrying an HTTP status; {@link #status()} keeps that number
 * so that callers bridging to HTTP (or comparing with Incus's REST answers) get the same code. Catch a subtype to act
 * on a cause: {@link NotFoundException}, {@link BusyException}, {@link InvalidArgumentException},
 * {@link InstanceStateException}, {@link NotSupportedException}, {@link OperationTimeoutException},
 * {@link PermissionDeniedException}.
 */
@API(status = STABLE)
public class IncusException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    public IncusException(String message) {
        this(500, message, null);
    }

    public IncusException(String message, Throwable cause) {
        this(500, message, cause);
    }

    protected IncusException(int status, String message, Throwable cause) {
        super(message, cause);
        this.status = status;
    }

    /** The HTTP status Incus would answer with for this error (400, 404, 409, 500, 501, 504...). */
    public int status() {
        return status;
    }
}
