package io.github.incus4j.remote;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.util.regex.Pattern;

/** Incus's error replies as our exception types, the server's text unchanged. */
final class Errors {
    /**
     * Texts of Incus's refusals for an instance in the wrong state (HTTP 400 like plain bad input): "The instance is
     * already running", "Instance is not running", "Renaming of running instance not allowed"...
     */
    private static final Pattern WRONG_STATE = Pattern.compile(
            "(?i).*(already running|already stopped|already frozen|isn't running|is not running|not running"
            + "|^instance is running|^instance is frozen|running instance|must be stopped|is stopped"
            + "|has (startup|delete) protection|^instance is protected|cannot export a running"
            + "|can't set cgroups on a stopped).*");
    private static final Pattern BUSY = Pattern.compile(
            "(?i).*(already exists|already in use|is busy|name in use|already being migrated"
            + "|UNIQUE constraint failed).*");
    /** Validation failures reported inside an operation (no HTTP status to go by). */
    private static final Pattern INVALID = Pattern.compile(
            "(?i).*(invalid|unknown configuration key|not provided|cannot contain|may not|must not"
            + "|can only contain|is reserved|cannot be|can't be|requires? |requested but).*");
    private static final Pattern NOT_FOUND = Pattern.compile("(?i).*(not found|no such).*");

    /**
     * Incus's texts when a request it forwards to the instance's cluster member finds no event connection to it
     * (internal/server/cluster/events.go): the first request waits 10 s, later ones fail at once with a text that
     * reads as if the server itself were starting.
     */
    private static final Pattern MEMBER_UNREACHABLE = Pattern.compile(
            "Missing event connection with target cluster member|Server isn't ready yet");
    static final String MEMBER_UNREACHABLE_NOTE = " (the cluster member this request was forwarded to does not answer)";

    private Errors() {
    }

    /** The exception for an HTTP status (or an operation's failure, code 400 or 0) and the server's message. */
    static IncusException map(int code, String message) {
        if (MEMBER_UNREACHABLE.matcher(message).matches()) {
            return new IncusException(message + MEMBER_UNREACHABLE_NOTE); // the server's text first, unchanged
        }
        if (message.equals(ErrorTexts.COMMAND_NOT_FOUND) || message.equals(ErrorTexts.COMMAND_NOT_EXECUTABLE)) {
            return new InvalidArgumentException(message); // exec's refusals, as every driver gives them
        }
        if (code == 404 || (code != 400 && NOT_FOUND.matcher(message).matches() && !BUSY.matcher(message).matches())) {
            return new NotFoundException(message);
        }
        if (code == 403) {
            return new PermissionDeniedException(message);
        }
        if (code == 409 || code == 412 || BUSY.matcher(message).matches()) {
            return new BusyException(message);
        }
        if (WRONG_STATE.matcher(message).matches()) {
            return new InstanceStateException(message, null);
        }
        if (code == 400 || (code == 0 && INVALID.matcher(message).matches())) {
            return new InvalidArgumentException(message);
        }
        return new IncusException(message);
    }

    /** As {@link #map(int, String)}, recording the instance's state when known. */
    static IncusException map(int code, String message, StatusCode state) {
        IncusException e = map(code, message);
        return e instanceof InstanceStateException ? new InstanceStateException(message, state) : e;
    }

    /** An exception of {@code e}'s type (so of its meaning to the caller) with {@code message}, caused by {@code e}. */
    static IncusException retyped(String message, IncusException e) {
        if (e instanceof OperationTimeoutException) {
            return new OperationTimeoutException(message, e);
        } else if (e instanceof InstanceStateException s) {
            return new InstanceStateException(message, s.statusCode());
        } else if (e instanceof NotFoundException) {
            return new NotFoundException(message, e);
        } else if (e instanceof BusyException) {
            return new BusyException(message, e);
        } else if (e instanceof PermissionDeniedException) {
            return new PermissionDeniedException(message, e);
        } else if (e instanceof InvalidArgumentException) {
            return new InvalidArgumentException(message, e);
        } else if (e instanceof NotSupportedException) {
            return new NotSupportedException(message, e);
        }
        return new IncusException(message, e);
    }
}
