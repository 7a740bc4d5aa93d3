package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.model.Image;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class VolatileKeysTest {
    @Test
    void anEmptyOrNullValueRemovesAKeyAndOthersAreSet() {
        Map<String, String> changes = new HashMap<>();
        changes.put("volatile.a", "");
        changes.put("volatile.b", null);
        changes.put("volatile.c", "3");
        Map<String, String> out = VolatileKeys.withChanges(Map.of("volatile.a", "1", "volatile.b", "2", "x", "y"),
                changes);
        assertEquals(Map.of("volatile.c", "3", "x", "y"), out);
    }

    @Test
    void deviceKeysGoInAndOutWithTheirPrefix() {
        assertEquals(Map.of("volatile.eth0.hwaddr", "00:16:3e:00:00:01", "volatile.eth0.name", ""),
                VolatileKeys.forDevice("eth0", Map.of("hwaddr", "00:16:3e:00:00:01", "name", "")));
        assertEquals(Map.of("hwaddr", "m"), VolatileKeys.ofDevice(Map.of("volatile.eth0.hwaddr", "m",
                "volatile.eth01.hwaddr", "other", "eth0.hwaddr", "not volatile"), "eth0"));
    }

    @Test
    void onlyDroppingAnIdmapKeyCounts() {
        Map<String, String> old = Map.of("volatile.idmap.next", "[]", "volatile.other", "1");
        assertTrue(VolatileKeys.dropsIdmapKey(old, Map.of("volatile.other", "1")));
        assertFalse(VolatileKeys.dropsIdmapKey(old, Map.of("volatile.idmap.next", "[]")));
        assertFalse(VolatileKeys.dropsIdmapKey(Map.of(), Map.of()));
    }

    @Test
    void aRebuildSwapsTheImageKeysAndStartsAUuidGeneration() {
        Map<String, String> config = Map.of("image.os", "old", "volatile.base_image", "aaa",
                "volatile.idmap.next", "[]", "volatile.last_state.idmap", "[]", "volatile.idmap.current", "[]",
                "volatile.uuid", "u1", "limits.cpu", "1");
        Image image = new Image("bbb", null, null, null, 0, false, false, false, Map.of("os", "new"), null, null,
                null, null, null, null, null, null);
        assertEquals(Map.of("image.os", "new", "volatile.base_image", "bbb", "volatile.idmap.current", "[]",
                "volatile.uuid", "u1", "volatile.uuid.generation", "u1", "limits.cpu", "1"),
                VolatileKeys.afterRebuild(config, image));
        assertEquals(Map.of("volatile.idmap.current", "[]", "limits.cpu", "1"),
                VolatileKeys.afterRebuild(Map.of("image.os", "old", "volatile.idmap.current", "[]",
                        "limits.cpu", "1"), null));
    }

    @Test
    void aRestoreKeepsTheInstancesVolatileKeysButTheSnapshotsUuidGeneration() {
        Map<String, String> current = Map.of("volatile.uuid", "u", "volatile.uuid.generation", "g2",
                "volatile.eth0.hwaddr", "m", "limits.cpu", "2");
        Map<String, String> snapshot = Map.of("volatile.uuid.generation", "g1", "volatile.stale", "s",
                "limits.cpu", "1");
        assertEquals(Map.of("volatile.uuid", "u", "volatile.uuid.generation", "g1", "volatile.eth0.hwaddr", "m",
                "limits.cpu", "1"), VolatileKeys.afterRestore(current, snapshot));
        assertEquals(Map.of("volatile.uuid.generation", "g2"),
                VolatileKeys.afterRestore(Map.of("volatile.uuid.generation", "g2"), Map.of()));
    }
}
