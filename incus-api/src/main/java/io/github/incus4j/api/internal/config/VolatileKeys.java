package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.model.Image;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The {@code volatile.*} keys of an instance's local config as Incus's {@code driver_common.go} changes them: set and
 * cleared (an empty value removes a key), per device ({@code volatile.<dev>.<key>}), kept or reset across a rebuild
 * and a restore, and the id-map keys a user may not delete. Pure functions on config maps: the instance template
 * decides when they apply and records the result.
 */
@API(status = INTERNAL)
public final class VolatileKeys {
    /** Config keys whose deletion by a user Incus refuses. */
    private static final Set<String> IDMAP_KEYS = Set.of("volatile.idmap.base", "volatile.idmap.current",
            "volatile.idmap.next", "volatile.last_state.idmap");

    private VolatileKeys() {
    }

    /** Whether going from {@code oldConfig} to {@code newConfig} deletes one of the id-map keys. */
    public static boolean dropsIdmapKey(Map<String, String> oldConfig, Map<String, String> newConfig) {
        for (String k : IDMAP_KEYS) {
            if (oldConfig.containsKey(k) && !newConfig.containsKey(k)) {
                return true;
            }
        }
        return false;
    }

    /** {@code config} with {@code changes} applied: a {@code null} or empty value removes the key. */
    public static Map<String, String> withChanges(Map<String, String> config, Map<String, String> changes) {
        Map<String, String> c = new HashMap<>(config);
        changes.forEach((k, v) -> {
            if (v == null || v.isEmpty()) {
                c.remove(k);
            } else {
                c.put(k, v);
            }
        });
        return c;
    }

    /** A device's volatile keys in {@code localConfig}, without their {@code volatile.<dev>.} prefix. */
    public static Map<String, String> ofDevice(Map<String, String> localConfig, String devName) {
        String prefix = "volatile." + devName + ".";
        Map<String, String> out = new TreeMap<>();
        localConfig.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }

    /** {@code values} (keys without prefix) as the device's full volatile keys. */
    public static Map<String, String> forDevice(String devName, Map<String, String> values) {
        Map<String, String> changes = new HashMap<>();
        values.forEach((k, v) -> changes.put("volatile." + devName + "." + k, v));
        return changes;
    }

    /**
     * The config after a rebuild from {@code image} ({@code null}: empty): the old image's keys and the id maps of
     * the old root filesystem go, the new image's come, and a new UUID generation starts.
     */
    public static Map<String, String> afterRebuild(Map<String, String> config, Image image) {
        Map<String, String> c = new HashMap<>(config);
        c.keySet().removeIf(k -> k.startsWith("image.") || k.equals("volatile.base_image")
                || k.equals("volatile.idmap.next") || k.equals("volatile.last_state.idmap"));
        if (image != null) {
            image.properties().forEach((k, v) -> c.put("image." + k, v));
            c.put("volatile.base_image", image.fingerprint());
        }
        String uuid = c.get("volatile.uuid");
        if (uuid != null) {
            c.put("volatile.uuid.generation", uuid);
        }
        return c;
    }

    /**
     * The config after restoring a snapshot whose config is {@code snapshot}: the snapshot's config comes back, but
     * the instance keeps its identity and volatile state ({@code current}'s), except the snapshot's UUID generation.
     */
    public static Map<String, String> afterRestore(Map<String, String> current, Map<String, String> snapshot) {
        Map<String, String> c = new HashMap<>(snapshot);
        c.keySet().removeIf(k -> k.startsWith("volatile."));
        current.forEach((k, v) -> {
            if (k.startsWith("volatile.")) {
                c.put(k, v);
            }
        });
        String uuid = snapshot.get("volatile.uuid.generation");
        if (uuid != null) {
            c.put("volatile.uuid.generation", uuid);
        }
        return c;
    }
}
