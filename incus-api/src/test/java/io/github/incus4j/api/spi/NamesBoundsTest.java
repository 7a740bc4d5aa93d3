package io.github.incus4j.api.spi;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.incus4j.api.InvalidArgumentException;
import org.junit.jupiter.api.Test;

/** Name rules at their first and last positions and code points. */
class NamesBoundsTest {
    private static String refusal(Runnable r) {
        return assertThrows(InvalidArgumentException.class, r::run).getMessage();
    }

    @Test
    void snapshotNamesRefuseASpaceOrSlashAnywhere() {
        assertEquals("Invalid instance snapshot name: Cannot contain space or / characters",
                refusal(() -> Names.validateSnapshotName(" a")));
        assertEquals("Invalid instance snapshot name: Cannot contain space or / characters",
                refusal(() -> Names.validateSnapshotName("/a")));
        assertEquals("snap", Names.snapshotPart("/snap"));
        assertEquals("", Names.parentName("/snap"));
    }

    @Test
    void nulIsRefusedEvenFirst() {
        assertEquals("Invalid project name \"\\x00a\": Name cannot contain NUL characters",
                refusal(() -> Names.requireStorable("project", "\0a")));
        assertEquals("Name cannot contain NUL characters", Names.deviceNameError("\0eth0"));
    }

    @Test
    void goWhiteSpaceIncludesTheWholeEnQuadToHairSpaceRange() {
        for (int cp : new int[] {0x2000, 0x2005, 0x200A, 0x1680, 0x3000}) {
            String name = "a" + new String(Character.toChars(cp)) + "b";
            assertEquals("Invalid project name: Name cannot contain white space",
                    refusal(() -> Names.validateProjectName(name)), Integer.toHexString(cp));
        }
        for (int cp : new int[] {0x1FFF, 0x200B, 0x00E9}) {
            String name = "a" + new String(Character.toChars(cp)) + "b";
            assertDoesNotThrow(() -> Names.validateProjectName(name), Integer.toHexString(cp));
        }
    }

    @Test
    void nullNamesAreRefusedAsEmpty() {
        assertEquals(refusal(() -> Names.validateProjectName("")), refusal(() -> Names.validateProjectName(null)));
        assertEquals(Names.deviceNameError(""), Names.deviceNameError(null));
        assertEquals(refusal(() -> Names.validateSnapshotName("")), refusal(() -> Names.validateSnapshotName(null)));
    }
}
