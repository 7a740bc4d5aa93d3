package io.github.incus4j.remote;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import org.apiguardian.api.API;

/**
 * The connection to an Incus server failed before it answered: nothing listens at the address, the server's TLS
 * certificate is not the pinned one (or not trusted), the TLS handshake failed, or the connection broke. The
 * message names the address. (A server that answers but does not trust this client's certificate is a
 * {@link io.github.incus4j.api.PermissionDeniedException}; one that does not answer in time an
 * {@link io.github.incus4j.api.OperationTimeoutException}.)
 */
@API(status = EXPERIMENTAL)
public final class IncusConnectionException extends IncusException {
    private static final long serialVersionUID = 1L;

    /** Why the connection failed. */
    public enum Reason {
        /** Nothing accepts connections at the address (connection refused, no such socket). */
        REFUSED,
        /** The server's certificate is not the pinned one, or not trusted by the trust store. */
        SERVER_CERTIFICATE,
        /** The TLS handshake failed for another reason (protocol, cipher, the server closed it). */
        TLS,
        /** The connection broke otherwise (closed mid-call, reset). */
        FAILED
    }

    private final String address;
    private final Reason reason;

    IncusConnectionException(Reason reason, String address, String message, Throwable cause) {
        super(503, message, cause);
        this.reason = reason;
        this.address = address;
    }

    /** The server's address: {@code https://host:port} or {@code unix:/path/to/socket}. */
    public String address() {
        return address;
    }

    /** Why the connection failed. */
    public Reason reason() {
        return reason;
    }
}
