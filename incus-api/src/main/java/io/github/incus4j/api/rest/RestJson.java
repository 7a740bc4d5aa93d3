package io.github.incus4j.api.rest;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.Json;
import java.time.DateTimeException;
import java.time.Instant;
import org.apiguardian.api.API;

/**
 * Incus's JSON (and YAML) for the records of {@code io.github.incus4j.api.rest} and
 * {@code io.github.incus4j.api.model}: the field names of Incus's {@code shared/api} types ({@code status_code},
 * {@code expanded_config}, {@code wait-for-websocket}...), embedded Go structs written inline
 * ({@link ApiInstanceFull}), map keys sorted, times in RFC 3339 (UTC, Go's trimmed fraction) with Go's zero time
 * {@link #GO_ZERO_TIME} for "none" (also for a {@code null} time).
 *
 * <p>Reading ignores unknown fields and accepts numbers and booleans in string maps, as Incus does. Bad input is an
 * {@link InvalidArgumentException} naming what was wrong. Thread-safe.
 */
@API(status = EXPERIMENTAL)
public final class RestJson {
    /** Go's zero {@code time.Time}, {@code 0001-01-01T00:00:00Z}: what Incus writes for an absent date. */
    public static final Instant GO_ZERO_TIME = Json.GO_ZERO_TIME;

    private RestJson() {
    }

    /** Compact JSON, as Go's {@code json.Marshal}. */
    public static String toJson(Object restValue) {
        return Json.toJson(restValue);
    }

    /** Indented JSON (four spaces, {@code "key": value}), as Go's {@code json.MarshalIndent}. */
    public static String toPrettyJson(Object restValue) {
        return Json.toPrettyJson(restValue);
    }

    /** Reads a value of {@code type} from JSON. */
    public static <T> T fromJson(String json, Class<T> type) {
        return Json.fromJson(json, type);
    }

    /**
     * YAML in UTF-8 with the same names, as Incus's {@code yaml.v2} writes it: no {@code ---}, quotes only where a
     * string would read as something else (e.g. an {@link io.github.incus4j.api.model.ImageMetadata} as
     * {@code metadata.yaml}).
     */
    public static byte[] toYaml(Object value) {
        return Json.toYaml(value);
    }

    /** Reads a value of {@code type} from YAML. */
    public static <T> T fromYaml(byte[] yaml, Class<T> type) {
        return Json.fromYaml(yaml, type);
    }

    /** An instant as Incus writes it, e.g. {@code 2024-08-22T04:26:40.5Z}. */
    public static String formatTime(Instant instant) {
        return Json.formatTime(instant);
    }

    /** Parses an RFC 3339 time with any offset. */
    public static Instant parseTime(String rfc3339) {
        try {
            return Json.parseTime(rfc3339);
        } catch (DateTimeException e) {
            throw new InvalidArgumentException("Invalid RFC 3339 time: " + rfc3339, e);
        }
    }
}
