package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import org.apiguardian.api.API;

/**
 * A failure talking to QEMU's monitor or guest agent. Incus returns these errors unwrapped, which its REST layer
 * answers with 500, so {@link #status()} is 500. Subtypes: {@link QmpErrorException} (QEMU answered with an error),
 * {@link MonitorDisconnectedException} (the connection is gone). A reply that did not come in time is an
 * {@link io.github.incus4j.api.OperationTimeoutException} instead.
 */
@API(status = INTERNAL)
public class QmpException extends IncusException {
    private static final long serialVersionUID = 1L;

    public QmpException(String message) {
        super(message);
    }

    public QmpException(String message, Throwable cause) {
        super(message, cause);
    }
}
