package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.PermissionDeniedException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

/**
 * The driver's own file errors on the host (its directories, disks, logs) as the API's exceptions: no
 * {@code IOException} or {@code UncheckedIOException} leaves a public method. An unwritable directory is a
 * {@link PermissionDeniedException}, a missing file a {@link NotFoundException}, anything else an
 * {@link IncusException}; each message says what was being done and names the file.
 */
final class HostIo {
    private HostIo() {
    }

    /** {@code e}, which happened while doing {@code what} ({@code Cannot prepare the run directory of vm1}). */
    static IncusException failure(String what, IOException e) {
        String file = e instanceof FileSystemException f && f.getFile() != null ? f.getFile() : null;
        String on = file == null ? "" : " (" + file + (e instanceof FileSystemException f && f.getOtherFile() != null
                ? " -> " + f.getOtherFile() : "") + ")";
        if (e instanceof AccessDeniedException || reason(e).contains("Operation not permitted")
                || reason(e).contains("Read-only file system")) {
            return new PermissionDeniedException(what + ": permission denied" + on, e);
        }
        if (e instanceof NoSuchFileException) {
            return new NotFoundException(what + ": no such file or directory" + on, e);
        }
        String reason = e instanceof FileSystemException f && f.getReason() != null ? f.getReason()
                : e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        return new IncusException(what + ": " + reason + on, e);
    }

    private static String reason(IOException e) {
        return e instanceof FileSystemException f && f.getReason() != null ? f.getReason() : "";
    }
}
