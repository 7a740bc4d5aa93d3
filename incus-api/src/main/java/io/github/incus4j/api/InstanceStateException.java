package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * The instance is in the wrong state for the request: {@code The instance is already running},
 * {@code The instance is already stopped}, {@code Instance is running} (delete), {@code Instance is not running}
 * (exec, console)... HTTP 400 in Incus. {@link #statusCode()} tells the state seen when the request was refused.
 */
@API(status = STABLE)
public class InstanceStateException extends IncusException {
    private static final long serialVersionUID = 1L;

    private final StatusCode statusCode;

    public InstanceStateException(String message, StatusCode statusCode) {
        super(400, message, null);
        this.statusCode = statusCode;
    }

    /** The instance status when the request was refused. */
    public StatusCode statusCode() {
        return statusCode;
    }
}
