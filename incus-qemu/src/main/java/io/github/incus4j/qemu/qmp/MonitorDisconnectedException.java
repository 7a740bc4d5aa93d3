package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;

/**
 * The connection is gone: QEMU (or the guest agent's chardev) closed the socket, QEMU died, or the client was closed.
 * Every call pending at that moment fails with it at once, and so does every later call. The QMP client's message is
 * Incus's {@value #MONITOR}.
 */
@API(status = INTERNAL)
public class MonitorDisconnectedException extends QmpException {
    private static final long serialVersionUID = 1L;

    /** Incus's {@code ErrMonitorDisconnect} text. */
    public static final String MONITOR = "Monitor is disconnected";

    public MonitorDisconnectedException() {
        this(MONITOR);
    }

    public MonitorDisconnectedException(String message) {
        super(message);
    }
}
