package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.rest.RestJson;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apiguardian.api.API;

/**
 * A container's id maps as Incus records them in volatile config, as JSON lists of {@link IdmapEntry}:
 * {@code volatile.idmap.current} (in use), {@code volatile.last_state.idmap} (what the files on disk are shifted
 * with) and {@code volatile.idmap.next} (what the next start uses). An empty map means no shift (privileged).
 */
@API(status = INTERNAL)
public final class VolatileIdmaps {
    public static final String CURRENT = "volatile.idmap.current";
    public static final String DISK = "volatile.last_state.idmap";
    public static final String NEXT = "volatile.idmap.next";

    private VolatileIdmaps() {
    }

    /** Incus's {@code CurrentIdmap()}: {@code volatile.idmap.current}, else the disk map. */
    public static Optional<IdmapSet> current(Map<String, String> config) {
        IdmapSet set = parse(config.get(CURRENT));
        return set != null ? nonEmpty(set) : disk(config);
    }

    /** Incus's {@code DiskIdmap()}: {@code volatile.last_state.idmap}, else none. */
    public static Optional<IdmapSet> disk(Map<String, String> config) {
        IdmapSet set = parse(config.get(DISK));
        return set == null ? Optional.empty() : nonEmpty(set);
    }

    /** Incus's {@code NextIdmap()}: {@code volatile.idmap.next}, else the current map. */
    public static Optional<IdmapSet> next(Map<String, String> config) {
        IdmapSet set = parse(config.get(NEXT));
        return set != null ? nonEmpty(set) : current(config);
    }

    /**
     * Refuses a user's change to {@code volatile.idmap.next}, {@code volatile.idmap.current} or
     * {@code volatile.last_state.idmap} that maps host root (host id 0) into a container that is not privileged:
     * started with it, the container would run as host root while reporting itself unprivileged. The map must also
     * be valid JSON.
     *
     * @throws InvalidArgumentException naming the key and the value
     */
    public static void checkUserChange(Map<String, String> oldConfig, Map<String, String> newConfig,
            boolean privileged) {
        for (String key : List.of(NEXT, CURRENT, DISK)) {
            String value = newConfig.get(key);
            if (value == null || value.equals(oldConfig.get(key))) {
                continue;
            }
            IdmapSet set;
            try {
                set = parse(value);
            } catch (RuntimeException e) {
                throw new InvalidArgumentException("Invalid value for config key " + ErrorTexts.quote(key) + ": "
                        + ErrorTexts.quote(value) + " is not an id map", e);
            }
            if (set == null || privileged) {
                continue;
            }
            for (IdmapEntry e : set.entries()) {
                if (e.hostId() <= 0 && e.hostId() + e.mapRange() > 0) {
                    throw new InvalidArgumentException("Invalid value for config key " + ErrorTexts.quote(key) + ": "
                            + "an unprivileged container cannot map host root (host id 0): " + ErrorTexts.quote(value));
                }
            }
        }
    }

    /** The JSON Incus stores for a map. */
    public static String toJson(IdmapSet set) {
        return RestJson.toJson(set.entries());
    }

    /** The map stored as {@code json}, or {@code null} when there is none. */
    public static IdmapSet parse(String json) {
        if (json == null || json.isEmpty()) {
            return null;
        }
        IdmapEntry[] entries = RestJson.fromJson(json, IdmapEntry[].class);
        return new IdmapSet(entries == null ? List.of() : List.of(entries));
    }

    private static Optional<IdmapSet> nonEmpty(IdmapSet set) {
        return set.entries().isEmpty() ? Optional.empty() : Optional.of(set);
    }
}
