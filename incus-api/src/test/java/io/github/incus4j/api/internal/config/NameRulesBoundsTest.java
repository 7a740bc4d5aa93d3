package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.NameRules;
import org.junit.jupiter.api.Test;

/** Name rules at their first and last positions and code points. */
class NameRulesBoundsTest {
    private static String refusal(Runnable r) {
        return assertThrows(InvalidArgumentException.class, r::run).getMessage();
    }

    @Test
    void snapshotNamesRefuseASpaceOrSlashAnywhere() {
        assertEquals("Invalid instance snapshot name: Cannot contain space or / characters",
                refusal(() -> NameRules.validateSnapshotName(" a")));
        assertEquals("Invalid instance snapshot name: Cannot contain space or / characters",
                refusal(() -> NameRules.validateSnapshotName("/a")));
        assertEquals("snap", NameRules.snapshotPart("/snap"));
        assertEquals("", NameRules.parentName("/snap"));
    }

    @Test
    void nulIsRefusedEvenFirst() {
        assertEquals("Invalid project name \"\\x00a\": Name cannot contain NUL characters",
                refusal(() -> NameRules.requireStorable("project", "\0a")));
        assertEquals("Name cannot contain NUL characters", NameRules.deviceNameError("\0eth0"));
    }

    @Test
    void goWhiteSpaceIncludesTheWholeEnQuadToHairSpaceRange() {
        for (int cp : new int[] {0x2000, 0x2005, 0x200A, 0x1680, 0x3000}) {
            String name = "a" + new String(Character.toChars(cp)) + "b";
            assertEquals("Invalid project name: Name cannot contain white space",
                    refusal(() -> NameRules.validateProjectName(name)), Integer.toHexString(cp));
        }
        for (int cp : new int[] {0x1FFF, 0x200B, 0x00E9}) {
            String name = "a" + new String(Character.toChars(cp)) + "b";
            assertDoesNotThrow(() -> NameRules.validateProjectName(name), Integer.toHexString(cp));
        }
    }

    @Test
    void nullNamesAreRefusedAsEmpty() {
        assertEquals(refusal(() -> NameRules.validateProjectName("")), refusal(() -> NameRules.validateProjectName(null)));
        assertEquals(NameRules.deviceNameError(""), NameRules.deviceNameError(null));
        assertEquals(refusal(() -> NameRules.validateSnapshotName("")), refusal(() -> NameRules.validateSnapshotName(null)));
    }
}
