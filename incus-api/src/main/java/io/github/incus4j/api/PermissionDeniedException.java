package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * A file operation refused for lack of permission (SFTP's {@code PERMISSION_DENIED}, HTTP 403): what a driver's file
 * access throws for {@code EACCES}/{@code EPERM}.
 */
@API(status = STABLE)
public class PermissionDeniedException extends IncusException {
    private static final long serialVersionUID = 1L;

    public PermissionDeniedException(String message) {
        super(403, message, null);
    }

    public PermissionDeniedException(String message, Throwable cause) {
        super(403, message, cause);
    }
}
