package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** The instance, snapshot, file, device or driver asked for does not exist (HTTP 404 in Incus). */
@API(status = STABLE)
public class NotFoundException extends IncusException {
    private static final long serialVersionUID = 1L;

    public NotFoundException(String message) {
        super(404, message, null);
    }

    public NotFoundException(String message, Throwable cause) {
        super(404, message, cause);
    }
}
