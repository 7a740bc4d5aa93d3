package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class NameRulesTest {
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
        assertEquals(63, NameRules.MAX_LENGTH);
        assertEquals("/", NameRules.SNAPSHOT_DELIMITER);
    }

    // ---------------------------------------------------------------- instance names (ValidName / IsHostname)

    @ParameterizedTest
    @ValueSource(strings = {"a", "c1", "foo", "foo-bar", "Foo-Bar-1", "1a", "123a", "a--b",
            "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123",
            // Too large for uint64: Go's ParseUint fails, so Incus does not see "a number".
            "99999999999999999999999"})
    void validInstanceNames(String name) {
        NameRules.validateInstanceName(name, false);
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
        assertMessage(message, () -> NameRules.validateInstanceName(name, false));
    }

    @Test
    void lengthIsCountedInBytes() {
        // 32 two-byte characters: 64 bytes, over the limit before the charset is even looked at.
        assertMessage(LENGTH, () -> NameRules.validateInstanceName("é".repeat(32), false));
    }

    @Test
    void nullInstanceNameIsRefusedLikeEmpty() {
        assertMessage(LENGTH, () -> NameRules.validateInstanceName(null, false));
        assertMessage(LENGTH, () -> NameRules.validateInstanceName(null, true));
    }

    // ---------------------------------------------------------------- snapshot full names

    @ParameterizedTest
    @ValueSource(strings = {"foo/snap0", "c1/snap-2024.01.01_x", "a/b", "foo/Snapshot_1"})
    void validSnapshotFullNames(String name) {
        NameRules.validateInstanceName(name, true);
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
        assertMessage(message, () -> NameRules.validateInstanceName(name, true));
    }

    @Test
    void snapshotWithoutShortNameIsInvalid() {
        assertMessage(ENDS, () -> NameRules.validateInstanceName("foo/", true));
        assertMessage(ENDS, () -> NameRules.validateInstanceName("foo", true));
    }

    // ---------------------------------------------------------------- short snapshot names (IsAPIName)

    @ParameterizedTest
    @ValueSource(strings = {"a", "snap0", "snap-0", "snap.0", "snap_0", "2024-01-01", "a-ünï-1",
            "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"})
    void validSnapshotNames(String name) {
        NameRules.validateSnapshotName(name);
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
        assertMessage("Invalid instance snapshot name: " + reason, () -> NameRules.validateSnapshotName(name));
    }

    @Test
    void doubleQuoteIsReportedWithGoQuoting() {
        assertMessage("Invalid instance snapshot name: Name contains invalid character \"\\\"\"",
                () -> NameRules.validateSnapshotName("a\"b"));
    }

    @Test
    void spaceAndSlashGetValidNamesOwnMessage() {
        assertMessage(SPACE_OR_SLASH, () -> NameRules.validateSnapshotName("a b"));
        assertMessage(SPACE_OR_SLASH, () -> NameRules.validateSnapshotName("a/b"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\u3000b"})
    void otherWhiteSpaceIsRefused(String name) {
        assertMessage("Invalid instance snapshot name: Name cannot contain white space",
                () -> NameRules.validateSnapshotName(name));
    }

    @Test
    void emptyAndNullSnapshotNamesAreInvalid() {
        assertMessage(ENDS, () -> NameRules.validateSnapshotName(""));
        assertMessage(ENDS, () -> NameRules.validateSnapshotName(null));
    }

    @Test
    void snapshotNameLengthIsCountedInBytes() {
        // 1 + 31 * 2 + 1 = 64 bytes, the limit; one more two-byte character is over it.
        NameRules.validateSnapshotName("a" + "é".repeat(31) + "z");
        assertMessage("Invalid instance snapshot name: Maximum name length is 64 characters",
                () -> NameRules.validateSnapshotName("a" + "é".repeat(32) + "z"));
    }

    // ---------------------------------------------------------------- helpers

    @Test
    void splitsOnTheFirstDelimiter() {
        assertTrue(NameRules.isSnapshot("c1/snap0"));
        assertFalse(NameRules.isSnapshot("c1"));
        assertEquals("c1", NameRules.parentName("c1/snap0"));
        assertEquals("c1", NameRules.parentName("c1"));
        assertEquals("snap0", NameRules.snapshotPart("c1/snap0"));
        assertEquals("", NameRules.snapshotPart("c1"));
        assertEquals("c1", NameRules.parentName("c1/a/b"));
        assertEquals("a/b", NameRules.snapshotPart("c1/a/b"));
        assertEquals("", NameRules.snapshotPart("c1/"));
        assertEquals("c1/snap0", NameRules.snapshotFullName("c1", "snap0"));
    }

    @Test
    void helpersRefuseNullWithInvalidArgument() {
        assertMessage(LENGTH, () -> NameRules.isSnapshot(null));
        assertMessage(LENGTH, () -> NameRules.parentName(null));
        assertMessage(LENGTH, () -> NameRules.snapshotPart(null));
        assertMessage(LENGTH, () -> NameRules.snapshotFullName(null, "snap0"));
        assertMessage(ENDS, () -> NameRules.snapshotFullName("c1", null));
    }
}
