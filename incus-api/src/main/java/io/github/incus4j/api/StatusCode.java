package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/**
 * Incus's {@code api.StatusCode}: the numeric code and display string of instance and operation states.
 * Instances render {@code status} as {@link #text()} ("Running") and {@code status_code} as {@link #code()} (103);
 * {@link Instance#state()} is the upper-case text ("RUNNING").
 */
@API(status = STABLE)
public enum StatusCode {
    OPERATION_CREATED(100, "Operation created"),
    STARTED(101, "Started"),
    STOPPED(102, "Stopped"),
    RUNNING(103, "Running"),
    CANCELLING(104, "Cancelling"),
    PENDING(105, "Pending"),
    STARTING(106, "Starting"),
    STOPPING(107, "Stopping"),
    ABORTING(108, "Aborting"),
    FREEZING(109, "Freezing"),
    FROZEN(110, "Frozen"),
    THAWED(111, "Thawed"),
    ERROR(112, "Error"),
    READY(113, "Ready"),
    SUCCESS(200, "Success"),
    FAILURE(400, "Failure"),
    CANCELLED(401, "Cancelled");

    private final int code;
    private final String text;
    private final String upper;

    StatusCode(int code, String text) {
        this.code = code;
        this.text = text;
        this.upper = text.toUpperCase(java.util.Locale.ROOT);
    }

    /** The numeric code, e.g. 103. */
    public int code() {
        return code;
    }

    /** The display string, e.g. {@code "Running"}. */
    public String text() {
        return text;
    }

    /** The upper-case string {@code Instance.State()} returns, e.g. {@code "RUNNING"}. */
    public String upperText() {
        return upper;
    }

    /** Incus's {@code IsFinal()}: operation codes of 200 and above are final. */
    public boolean isFinal() {
        return code >= 200;
    }

    /**
     * Incus's {@code isRunningStatusCode}: anything but Stopped and Error counts as running (Frozen, Ready, Starting...).
     */
    public boolean isRunning() {
        return this != STOPPED && this != ERROR;
    }

    /** The constant for a numeric code. */
    public static StatusCode ofCode(int code) {
        for (StatusCode s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        throw new InvalidArgumentException("Unknown status code: " + code);
    }

    /** Incus's {@code StatusCodeFromString}, case-insensitive; unknown strings are refused. */
    public static StatusCode ofText(String text) {
        for (StatusCode s : values()) {
            if (s.text.equalsIgnoreCase(text)) {
                return s;
            }
        }
        throw new InvalidArgumentException("Unknown status: " + text);
    }

    @Override
    public String toString() {
        return text;
    }
}
