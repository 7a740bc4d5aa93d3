package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.Profile;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/** An instance's config and devices expanded from its profiles ({@code instancetype.ExpandInstanceConfig}). */
@API(status = INTERNAL)
public final class ProfileExpansion {
    private ProfileExpansion() {
    }

    /**
     * The expanded config: each profile's config in order, later profiles overriding earlier ones, then the local
     * config on top. Returns an unmodifiable map sorted by key.
     */
    public static Map<String, String> expandConfig(List<Profile> profiles, Map<String, String> local) {
        TreeMap<String, String> out = new TreeMap<>();
        if (profiles != null) {
            for (Profile p : profiles) {
                out.putAll(p.config());
            }
        }
        if (local != null) {
            out.putAll(local);
        }
        return Collections.unmodifiableSortedMap(out);
    }

    /**
     * The expanded devices: each profile's devices in order, then the local devices, a device of a given name replacing
     * the earlier one as a whole (devices are not merged key by key).
     */
    public static Devices expandDevices(List<Profile> profiles, Devices local) {
        Devices out = Devices.EMPTY;
        if (profiles != null) {
            for (Profile p : profiles) {
                out = out.overlay(p.devices());
            }
        }
        return local == null ? out : out.overlay(local);
    }
}
