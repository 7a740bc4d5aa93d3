package io.github.incus4j.api.spi;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Project, profile and device names at each rule's edge (mutation testing found these unchecked). */
class NamesEdgesTest {
    private static void refused(String message, Executable call) {
        assertEquals(message, assertThrows(InvalidArgumentException.class, call).getMessage());
    }

    @Test
    void projectNames() {
        refused("Project names may not contain underscores", () -> Names.validateProjectName("a_b"));
        // Quotes, "*", "." and ".." never reach projectValidateName's own rules: the API-name rules refuse them first.
        refused("Invalid project name: Name contains invalid character \"'\"", () -> Names.validateProjectName("a'b"));
        for (String n : new String[] {"a\"b", "*", ".", ".."}) {
            String m = assertThrows(InvalidArgumentException.class, () -> Names.validateProjectName(n)).getMessage();
            assertTrue(m.startsWith("Invalid project name: "), m);
        }
        refused("Invalid project name \"x\\x00\": Name cannot contain NUL characters",
                () -> Names.validateProjectName("x\0"));
        assertDoesNotThrow(() -> Names.validateProjectName("a.b-c"));
    }

    @Test
    void profileNames() {
        refused("No name provided", () -> Names.validateProfileName(""));
        refused("No name provided", () -> Names.validateProfileName(null));
        refused("Invalid profile name \"p\\x00\": Name cannot contain NUL characters",
                () -> Names.validateProfileName("p\0"));
        assertDoesNotThrow(() -> Names.validateProfileName("p"));
    }

    @Test
    void instanceNamesRefuseNul() {
        refused("Invalid instance name \"c\\x00\": Name cannot contain NUL characters",
                () -> Names.validateInstanceName("c\0", false));
        refused("Invalid instance name \"c\\ud800\": Name cannot contain unpaired UTF-16 surrogates",
                () -> Names.validateInstanceName("c\ud800", false));
    }

    @Test
    void deviceNames() {
        assertNull(Names.deviceNameError("a".repeat(63)));
        assertNull(Names.deviceNameError("a"));
        assertEquals("Name must be 1-63 characters long", Names.deviceNameError("a".repeat(64)));
        assertEquals("The maximum device name length is 64 characters", Names.deviceNameError("a".repeat(65)));
        assertEquals("Name must be 1-63 characters long", Names.deviceNameError(""));
        assertEquals("Name cannot contain NUL characters", Names.deviceNameError("a\0"));
        assertEquals("Name must not start with \".\" character", Names.deviceNameError(".a"));
    }
}
