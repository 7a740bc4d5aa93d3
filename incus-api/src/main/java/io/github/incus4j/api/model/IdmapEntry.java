package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.STABLE;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.apiguardian.api.API;

/**
 * One range of an id map ({@code idmap.Entry}): {@code mapRange} ids starting at {@code nsId} inside the container
 * are {@code hostId}... on the host. JSON names are Incus's, as stored in {@code volatile.idmap.*}
 * ({@code Isuid}, {@code Isgid}, {@code Hostid}, {@code Nsid}, {@code Maprange}).
 */
@API(status = STABLE)
public record IdmapEntry(
        @JsonProperty("Isuid") boolean isUid,
        @JsonProperty("Isgid") boolean isGid,
        @JsonProperty("Hostid") long hostId,
        @JsonProperty("Nsid") long nsId,
        @JsonProperty("Maprange") long mapRange) {

    /** Whether an id inside the namespace falls in this range. */
    public boolean containsNs(long id) {
        return id >= nsId && id < nsId + mapRange;
    }

    /** Whether a host id falls in this range. */
    public boolean containsHost(long id) {
        return id >= hostId && id < hostId + mapRange;
    }
}
