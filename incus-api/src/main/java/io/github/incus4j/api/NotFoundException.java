package io.github.incus4j.api;

/** The instance, snapshot, file, device or driver asked for does not exist (HTTP 404 in Incus). */
public class NotFoundException extends IncusException {
    private static final long serialVersionUID = 1L;

    public NotFoundException(String message) {
        super(404, message, null);
    }

    public NotFoundException(String message, Throwable cause) {
        super(404, message, cause);
    }
}
