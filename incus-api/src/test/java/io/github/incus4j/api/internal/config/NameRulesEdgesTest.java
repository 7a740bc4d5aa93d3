package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Project, profile and device names at each rule's edge (mutation testing found these unchecked). */
class NameRulesEdgesTest {
    private static void refused(String message, Executable call) {
        assertEquals(message, assertThrows(InvalidArgumentException.class, call).getMessage());
    }

    @Test
    void projectNames() {
        refused("Project names may not contain underscores", () -> NameRules.validateProjectName("a_b"));
        // Quotes, "*", "." and ".." never reach projectValidateName's own rules: the API-name rules refuse them first.
        refused("Invalid project name: Name contains invalid character \"'\"", () -> NameRules.validateProjectName("a'b"));
        for (String n : new String[] {"a\"b", "*", ".", ".."}) {
            String m = assertThrows(InvalidArgumentException.class, () -> NameRules.validateProjectName(n)).getMessage();
            assertTrue(m.startsWith("Invalid project name: "), m);
        }
        refused("Invalid project name \"x\\x00\": Name cannot contain NUL characters",
                () -> NameRules.validateProjectName("x\0"));
        assertDoesNotThrow(() -> NameRules.validateProjectName("a.b-c"));
    }

    @Test
    void profileNames() {
        refused("No name provided", () -> NameRules.validateProfileName(""));
        refused("No name provided", () -> NameRules.validateProfileName(null));
        refused("Invalid profile name \"p\\x00\": Name cannot contain NUL characters",
                () -> NameRules.validateProfileName("p\0"));
        assertDoesNotThrow(() -> NameRules.validateProfileName("p"));
    }

    @Test
    void instanceNamesRefuseNul() {
        refused("Invalid instance name \"c\\x00\": Name cannot contain NUL characters",
                () -> NameRules.validateInstanceName("c\0", false));
        refused("Invalid instance name \"c\\ud800\": Name cannot contain unpaired UTF-16 surrogates",
                () -> NameRules.validateInstanceName("c\ud800", false));
    }

    @Test
    void deviceNames() {
        assertNull(NameRules.deviceNameError("a".repeat(63)));
        assertNull(NameRules.deviceNameError("a"));
        assertEquals("Name must be 1-63 characters long", NameRules.deviceNameError("a".repeat(64)));
        assertEquals("The maximum device name length is 64 characters", NameRules.deviceNameError("a".repeat(65)));
        assertEquals("Name must be 1-63 characters long", NameRules.deviceNameError(""));
        assertEquals("Name cannot contain NUL characters", NameRules.deviceNameError("a\0"));
        assertEquals("Name must not start with \".\" character", NameRules.deviceNameError(".a"));
    }
}
