package io.github.incus4j.api.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class NamesTest {
    private static final String LENGTH = "Invalid instance name: Name must be 1-63 characters long";
    private static final String ENDS =
            "Invalid instance snapshot name: Names must start and end with an alphanumeric character";
    private static final String SPACE_OR_SLASH = "Invalid instance snapshot name: Cannot contain space or / characters";

    private static void assertMessage(String expected, Runnable r) {
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, r::run);
        assertEquals(expected, e.getMessage());
        assertEquals(400, e.status());
    }

    @Test
    void constants() {
        assertEquals(63, Names.MAX_LENGTH);
        assertEquals("/", Names.SNAPSHOT_DELIMITER);
    }

    // ---------------------------------------------------------------- instance names (ValidName / IsHostname)

    @ParameterizedTest
    @ValueSource(strings = {"a", "c1", "foo", "foo-bar", "Foo-Bar-1", "1a", "123a", "a--b",
            "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123",
            // Too large for uint64: Go's ParseUint fails, so Incus does not see "a number".
            "99999999999999999999999"})
    void validInstanceNames(String name) {
        Names.validateInstanceName(name, false);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''|Invalid instance name: Name must be 1-63 characters long",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234|" + LENGTH,
        "-foo|Invalid instance name: Name must not start with \"-\" character",
        "-|Invalid instance name: Name must not start with \"-\" character",
        "foo-|Invalid instance name: Name must not end with \"-\" character",
        "123|Invalid instance name: Name cannot be a number",
        "0|Invalid instance name: Name cannot be a number",
        "foo_bar|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "foo.bar|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "foo bar|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "+5|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "héllo|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "foo/bar|The character \"/\" is reserved for snapshots",
        "-foo/|The character \"/\" is reserved for snapshots",
    })
    void invalidInstanceNames(String name, String message) {
        assertMessage(message, () -> Names.validateInstanceName(name, false));
    }

    @Test
    void lengthIsCountedInBytes() {
        // 32 two-byte characters: 64 bytes, over the limit before the charset is even looked at.
        assertMessage(LENGTH, () -> Names.validateInstanceName("é".repeat(32), false));
    }

    @Test
    void nullInstanceNameIsRefusedLikeEmpty() {
        assertMessage(LENGTH, () -> Names.validateInstanceName(null, false));
        assertMessage(LENGTH, () -> Names.validateInstanceName(null, true));
    }

    // ---------------------------------------------------------------- snapshot full names

    @ParameterizedTest
    @ValueSource(strings = {"foo/snap0", "c1/snap-2024.01.01_x", "a/b", "foo/Snapshot_1"})
    void validSnapshotFullNames(String name) {
        Names.validateInstanceName(name, true);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "-foo/snap|Invalid instance name: Name must not start with \"-\" character",
        "123/snap|Invalid instance name: Name cannot be a number",
        "/snap|Invalid instance name: Name must be 1-63 characters long",
        "foo_x/snap|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "foo/snap 1|Invalid instance snapshot name: Cannot contain space or / characters",
        "foo/a/b|Invalid instance snapshot name: Cannot contain space or / characters",
        "foo/-snap|Invalid instance snapshot name: Names must start and end with an alphanumeric character",
        "foo/snap$|Invalid instance snapshot name: Name contains invalid character \"$\"",
    })
    void invalidSnapshotFullNames(String name, String message) {
        assertMessage(message, () -> Names.validateInstanceName(name, true));
    }

    @Test
    void snapshotWithoutShortNameIsInvalid() {
        assertMessage(ENDS, () -> Names.validateInstanceName("foo/", true));
        assertMessage(ENDS, () -> Names.validateInstanceName("foo", true));
    }

    // ---------------------------------------------------------------- short snapshot names (IsAPIName)

    @ParameterizedTest
    @ValueSource(strings = {"a", "snap0", "snap-0", "snap.0", "snap_0", "2024-01-01", "a-ünï-1",
            "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"})
    void validSnapshotNames(String name) {
        Names.validateSnapshotName(name);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '~', value = {
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij12345|Maximum name length is 64 characters",
        "a$b|Name contains invalid character \"$\"",
        "a?b|Name contains invalid character \"?\"",
        "a&b|Name contains invalid character \"&\"",
        "a+b|Name contains invalid character \"+\"",
        "a'b|Name contains invalid character \"'\"",
        "a`b|Name contains invalid character \"`\"",
        "a*b|Name contains invalid character \"*\"",
        "-snap|Names must start and end with an alphanumeric character",
        "snap-|Names must start and end with an alphanumeric character",
        ".snap|Names must start and end with an alphanumeric character",
        // The first reserved character in Incus's list order is reported.
        "a*b$c|Name contains invalid character \"$\"",
    })
    void invalidSnapshotNames(String name, String reason) {
        assertMessage("Invalid instance snapshot name: " + reason, () -> Names.validateSnapshotName(name));
    }

    @Test
    void doubleQuoteIsReportedWithGoQuoting() {
        assertMessage("Invalid instance snapshot name: Name contains invalid character \"\\\"\"",
                () -> Names.validateSnapshotName("a\"b"));
    }

    @Test
    void spaceAndSlashGetValidNamesOwnMessage() {
        assertMessage(SPACE_OR_SLASH, () -> Names.validateSnapshotName("a b"));
        assertMessage(SPACE_OR_SLASH, () -> Names.validateSnapshotName("a/b"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\u3000b"})
    void otherWhiteSpaceIsRefused(String name) {
        assertMessage("Invalid instance snapshot name: Name cannot contain white space",
                () -> Names.validateSnapshotName(name));
    }

    @Test
    void emptyAndNullSnapshotNamesAreInvalid() {
        assertMessage(ENDS, () -> Names.validateSnapshotName(""));
        assertMessage(ENDS, () -> Names.validateSnapshotName(null));
    }

    @Test
    void snapshotNameLengthIsCountedInBytes() {
        // 1 + 31 * 2 + 1 = 64 bytes, the limit; one more two-byte character is over it.
        Names.validateSnapshotName("a" + "é".repeat(31) + "z");
        assertMessage("Invalid instance snapshot name: Maximum name length is 64 characters",
                () -> Names.validateSnapshotName("a" + "é".repeat(32) + "z"));
    }

    // ---------------------------------------------------------------- helpers

    @Test
    void splitsOnTheFirstDelimiter() {
        assertTrue(Names.isSnapshot("c1/snap0"));
        assertFalse(Names.isSnapshot("c1"));
        assertEquals("c1", Names.parentName("c1/snap0"));
        assertEquals("c1", Names.parentName("c1"));
        assertEquals("snap0", Names.snapshotPart("c1/snap0"));
        assertEquals("", Names.snapshotPart("c1"));
        assertEquals("c1", Names.parentName("c1/a/b"));
        assertEquals("a/b", Names.snapshotPart("c1/a/b"));
        assertEquals("", Names.snapshotPart("c1/"));
        assertEquals("c1/snap0", Names.snapshotFullName("c1", "snap0"));
    }

    @Test
    void helpersRefuseNullWithInvalidArgument() {
        assertMessage(LENGTH, () -> Names.isSnapshot(null));
        assertMessage(LENGTH, () -> Names.parentName(null));
        assertMessage(LENGTH, () -> Names.snapshotPart(null));
        assertMessage(LENGTH, () -> Names.snapshotFullName(null, "snap0"));
        assertMessage(ENDS, () -> Names.snapshotFullName("c1", null));
    }
}
