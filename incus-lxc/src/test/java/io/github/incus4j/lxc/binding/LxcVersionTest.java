package io.github.incus4j.lxc.binding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.NotSupportedException;
import org.junit.jupiter.api.Test;

class LxcVersionTest {
    @Test
    void parsesReleaseAndDevelopmentVersions() {
        assertEquals(new LxcVersion(5, 0, 2, "5.0.2"), LxcVersion.parse("5.0.2"));
        assertEquals(new LxcVersion(6, 0, 0, "6.0.0~git2-g1234"), LxcVersion.parse("6.0.0~git2-g1234"));
        assertEquals(new LxcVersion(4, 1, 0, "4.1-devel"), LxcVersion.parse("4.1-devel"));
    }

    @Test
    void refusesUnparsableVersionsNamingThem() {
        var e = assertThrows(NotSupportedException.class, () -> LxcVersion.parse("banana"));
        assertTrue(e.getMessage().contains("\"banana\""), e.getMessage());
        assertThrows(NotSupportedException.class, () -> LxcVersion.parse(null));
    }

    @Test
    void refusesVersionsOlderThan405() {
        var e = assertThrows(NotSupportedException.class, () -> LxcVersion.parse("4.0.4").requireSupported());
        assertTrue(e.getMessage().contains("4.0.4") && e.getMessage().contains("4.0.5"), e.getMessage());
        assertThrows(NotSupportedException.class, () -> LxcVersion.parse("3.2.1").requireSupported());
        LxcVersion.parse("4.0.5").requireSupported();
        LxcVersion.parse("4.0.12").requireSupported();
    }

    @Test
    void structSizeFollowsTheVersion() {
        assertEquals(568, LxcVersion.parse("4.0.5").containerStructSize());
        assertEquals(568, LxcVersion.parse("5.0.2").containerStructSize());
        assertEquals(584, LxcVersion.parse("6.0.1").containerStructSize());
    }

    @Test
    void everySlotFitsTheSmallestStruct() {
        for (Slot<?> slot : Slot.VALUES) {
            assertTrue(slot.offset() + 8 <= 568, slot.name());
            assertEquals(0, slot.offset() % 8, slot.name());
        }
    }
}
