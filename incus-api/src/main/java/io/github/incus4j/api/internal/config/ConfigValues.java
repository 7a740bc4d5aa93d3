package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InvalidArgumentException;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apiguardian.api.API;

/** Config values as Incus reads them: booleans ({@code shared/util}) and byte sizes ({@code shared/units}). */
@API(status = INTERNAL)
public final class ConfigValues {
    private static final Set<String> TRUE_WORDS = Set.of("true", "1", "yes", "on");
    private static final Set<String> FALSE_WORDS = Set.of("false", "0", "no", "off");

    private ConfigValues() {
    }

    /** Incus's {@code util.IsTrue}: {@code true}, {@code 1}, {@code yes} or {@code on}, any case. */
    public static boolean isTrue(String v) {
        return v != null && TRUE_WORDS.contains(v.toLowerCase(Locale.ROOT));
    }

    /** Incus's {@code util.IsFalseOrEmpty}: unset, empty, or {@code false}, {@code 0}, {@code no}, {@code off}. */
    public static boolean isFalseOrEmpty(String v) {
        return v == null || v.isEmpty() || FALSE_WORDS.contains(v.toLowerCase(Locale.ROOT));
    }

    /** Incus's {@code validate.IsBool}: one of {@code true false yes no 1 0 on off}, any case. */
    public static boolean isBool(String v) {
        return v != null && (isTrue(v) || FALSE_WORDS.contains(v.toLowerCase(Locale.ROOT)));
    }

    /**
     * Incus's {@code units.ParseByteSizeString}: digits followed by a suffix: none, {@code B} or {@code " bytes"}
     * (bytes), {@code kB MB GB TB PB EB} (powers of 1000) or {@code KiB MiB GiB TiB PiB EiB} (powers of 1024). The
     * empty string is 0. {@code KB}, decimals and signs are refused.
     *
     * @throws InvalidArgumentException naming the value, e.g. {@code Invalid value: 5XB}
     */
    public static long parseByteSize(String s) {
        if (s == null) {
            throw new InvalidArgumentException("Invalid value: null");
        }
        String err = byteSizeError(s);
        if (err != null) {
            throw new InvalidArgumentException(ConfigKeys.named(err, s));
        }
        return parseByteSizeOrNull(s);
    }

    private static final Map<String, Long> BYTE_MULTIPLIERS = byteMultipliers();

    private static Map<String, Long> byteMultipliers() {
        Map<String, Long> m = new HashMap<>();
        m.put("", 1L);
        m.put("B", 1L);
        m.put(" bytes", 1L);
        String[] decimal = {"kB", "MB", "GB", "TB", "PB", "EB"};
        String[] binary = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        long d = 1;
        long b = 1;
        for (int i = 0; i < decimal.length; i++) {
            d *= 1000;
            b *= 1024;
            m.put(decimal[i], d);
            m.put(binary[i], b);
        }
        return Map.copyOf(m);
    }

    /** {@code units.ParseByteSizeString}'s error text, or {@code null}. */
    static String byteSizeError(String input) {
        if (input.isEmpty()) {
            return null;
        }
        int split = firstNonDigit(input);
        if (split == 0) {
            return "Invalid value: " + input;
        }
        String number = input.substring(0, split);
        Long multiplier = BYTE_MULTIPLIERS.get(input.substring(split));
        if (GoInt.parse(number, true, 64) != null) {
            return "Invalid integer: " + input;
        }
        if (multiplier == null) {
            return "Invalid value: " + input;
        }
        long value = Long.parseLong(number);
        try {
            Math.multiplyExact(value, multiplier.longValue());
            return null;
        } catch (ArithmeticException e) {
            return "Overflow multiplying " + value + " with " + multiplier;
        }
    }

    /** The size of an input {@link #byteSizeError} accepted. */
    static long parseByteSizeOrNull(String input) {
        if (input.isEmpty()) {
            return 0;
        }
        int split = firstNonDigit(input);
        return Long.parseLong(input.substring(0, split)) * BYTE_MULTIPLIERS.get(input.substring(split));
    }

    private static int firstNonDigit(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return i;
            }
        }
        return s.length();
    }
}
