package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import org.apiguardian.api.API;

/**
 * Overflow-safe parsing of the numbers drivers read from config values: a value that is not a decimal number within
 * range is an {@link InvalidArgumentException} naming the key and the value, never a {@link NumberFormatException}, and
 * arithmetic on them saturates instead of wrapping.
 */
@API(status = INTERNAL)
public final class ConfigNumbers {
    private ConfigNumbers() {
    }

    /**
     * A decimal {@code long} (optional sign), for config key {@code key}.
     *
     * @throws InvalidArgumentException {@code Invalid value for config key "<key>": "<value>" is not an integer
     *     within 64 bits}
     */
    public static long parseLong(String key, String value) {
        if (value != null) {
            try {
                return Long.parseLong(value.trim());
            } catch (NumberFormatException e) {
                // reported below
            }
        }
        throw new InvalidArgumentException("Invalid value for config key " + ErrorTexts.quote(key) + ": "
                + ErrorTexts.quote(String.valueOf(value)) + " is not an integer within 64 bits");
    }

    /** A decimal {@code int}, clamped to {@code [min, max]} once parsed (so that huge counts do not wrap). */
    public static int parseIntClamped(String key, String value, int min, int max) {
        long n = parseLong(key, value);
        return (int) Math.max(min, Math.min(max, n));
    }

    /** {@code a * b}, saturated at {@link Long#MAX_VALUE} / {@link Long#MIN_VALUE} instead of wrapping. */
    public static long multiplySaturated(long a, long b) {
        long r = a * b;
        long ax = Math.abs(a);
        long bx = Math.abs(b);
        if (((ax | bx) >>> 31 != 0) && ((b != 0 && r / b != a) || (a == Long.MIN_VALUE && b == -1))) {
            return (a < 0) == (b < 0) ? Long.MAX_VALUE : Long.MIN_VALUE;
        }
        return r;
    }

    /**
     * How many CPUs a {@code limits.cpu} CPU set such as {@code 0-3,6} names: a range counts its members (none when
     * reversed), anything else one; between 1 and {@link ConfigKeys#MAX_CPUS}.
     *
     * @throws InvalidArgumentException a range bound is not a number
     */
    public static int cpuSetSize(String set) {
        int n = 0;
        for (String part : set.split(",")) {
            String[] r = part.split("-");
            n += r.length == 2 ? Math.max(0, parseIntClamped("limits.cpu", r[1], 0, ConfigKeys.MAX_CPUS)
                    - parseIntClamped("limits.cpu", r[0], 0, ConfigKeys.MAX_CPUS) + 1) : 1;
        }
        return Math.max(1, Math.min(ConfigKeys.MAX_CPUS, n));
    }
}
