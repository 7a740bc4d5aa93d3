package io.github.incus4j.api.spi;

import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.rest.RestJson;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A container's id maps as Incus records them in volatile config, as JSON lists of {@link IdmapEntry}:
 * {@code volatile.idmap.current} (in use), {@code volatile.last_state.idmap} (what the files on disk are shifted
 * with) and {@code volatile.idmap.next} (what the next start uses). An empty map means no shift (privileged).
 */
public final class Idmaps {
    public static final String CURRENT = "volatile.idmap.current";
    public static final String DISK = "volatile.last_state.idmap";
    public static final String NEXT = "volatile.idmap.next";

    private Idmaps() {
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
