package io.github.incus4j.api.internal.config;

import io.github.incus4j.api.internal.text.GoStrings;
import java.math.BigInteger;

/** Go's {@code strconv} integer parsing (base 10, ASCII digits, optional sign for signed types). */
final class GoInt {
    private static final String SYNTAX = "invalid syntax";
    private static final String RANGE = "value out of range";
    private static final BigInteger TEN = BigInteger.TEN;

    private GoInt() {
    }

    /** {@code null} if {@code s} parses, else {@code "invalid syntax"} or {@code "value out of range"}. */
    static String parse(String s, boolean signed, int bits) {
        String digits = s;
        boolean negative = false;
        if (signed && !s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-')) {
            negative = s.charAt(0) == '-';
            digits = s.substring(1);
        }
        if (digits.isEmpty()) {
            return SYNTAX;
        }
        // The magnitude is scanned as Go's ParseUint does: a range error as soon as it overflows, a syntax error
        // at the first non-digit before that.
        BigInteger scanMax = BigInteger.ONE.shiftLeft(signed ? 64 : bits).subtract(BigInteger.ONE);
        BigInteger n = BigInteger.ZERO;
        for (int i = 0; i < digits.length(); i++) {
            char c = digits.charAt(i);
            if (c < '0' || c > '9') {
                return SYNTAX;
            }
            n = n.multiply(TEN).add(BigInteger.valueOf(c - '0'));
            if (n.compareTo(scanMax) > 0) {
                return RANGE;
            }
        }
        if (signed) {
            BigInteger limit = BigInteger.ONE.shiftLeft(bits - 1);
            if (negative ? n.compareTo(limit) > 0 : n.compareTo(limit) >= 0) {
                return RANGE;
            }
        }
        return null;
    }

    /** Go's {@code *strconv.NumError} text. */
    static String error(String func, String s, String reason) {
        return "strconv." + func + ": parsing " + GoStrings.quote(s) + ": " + reason;
    }
}
