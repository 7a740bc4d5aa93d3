package io.github.incus4j.api.internal.text;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Go's {@code strconv.Quote} and {@code strings.TrimSpace}, at the edges of their character classes. */
class GoStringsTest {
    @Test
    void quoteEscapesAsGoDoes() {
        assertEquals("\"a\\\"b\\\\c\"", GoStrings.quote("a\"b\\c"));
        assertEquals("\"\\a\\b\\f\\n\\r\\t\\v\"", GoStrings.quote("\u0007\b\f\n\r\t\u000b"));
        assertEquals("\"é ✓\"", GoStrings.quote("é ✓"));
        // Unprintable: two hex digits below 0x80, four below 0x10000, eight above.
        assertEquals("\"\\x00\\x7f\"", GoStrings.quote("\u0000\u007f"));
        assertEquals("\"\\u0080\\u00ad\"", GoStrings.quote("\u0080\u00ad"));
        assertEquals("\"\\u2028\\U000e0001\"", GoStrings.quote("\u2028" + new String(Character.toChars(0xE0001))));
        assertEquals("\"\\u00a0\"", GoStrings.quote("\u00a0"), "a no-break space is not Go's printable space");
    }

    @Test
    void trimSpaceTakesUnicodeSpaceAsGoDoes() {
        assertEquals("x", GoStrings.trimSpace("\t\n\u000b\f\r \u0085\u00a0x\u1680\u2028\u2029\u202f\u205f\u3000"));
        assertEquals("x", GoStrings.trimSpace("\u2000x\u200a"), "the range U+2000 to U+200A, both ends");
        assertEquals("\u1fffx\u200b", GoStrings.trimSpace("\u1fffx\u200b"), "just outside the range");
        assertEquals("", GoStrings.trimSpace("   "));
    }
}
