package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;

/**
 * QEMU (or the guest agent) answered a command with {@code {"error":{"class":...,"desc":...}}}. The message is
 * Incus's {@code "<class>: <desc>"}, e.g. {@code CommandNotFound: The command nope has not been found}.
 */
@API(status = INTERNAL)
public class QmpErrorException extends QmpException {
    private static final long serialVersionUID = 1L;

    private final String errorClass;
    private final String description;

    public QmpErrorException(String errorClass, String description) {
        super(errorClass + ": " + description);
        this.errorClass = errorClass;
        this.description = description;
    }

    /** QEMU's error class: {@code GenericError}, {@code CommandNotFound}, {@code DeviceNotFound}... */
    public String errorClass() {
        return errorClass;
    }

    /** QEMU's human-readable description. */
    public String description() {
        return description;
    }
}
