package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.STABLE;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.Immutable;
import java.util.List;
import org.apiguardian.api.API;

/** An id map ({@code idmap.Set}): the uid and gid ranges a container's ids are shifted by. */
@API(status = STABLE)
public record IdmapSet(List<IdmapEntry> entries) {
    public IdmapSet {
        entries = Immutable.list(entries);
    }

    /** The usual single range for both uids and gids: {@code 0..size-1} inside is {@code base..} on the host. */
    public static IdmapSet ofRange(long hostBase, long size) {
        return new IdmapSet(List.of(new IdmapEntry(true, false, hostBase, 0, size),
                new IdmapEntry(false, true, hostBase, 0, size)));
    }

    /** Incus's {@code ShiftIntoNS}: the container's view of a host uid/gid. */
    public long[] shiftIntoNs(long uid, long gid) {
        return new long[] {map(uid, true, false), map(gid, false, false)};
    }

    /** Incus's {@code ShiftFromNS}: the host's view of a container uid/gid. */
    public long[] shiftFromNs(long uid, long gid) {
        return new long[] {map(uid, true, true), map(gid, false, true)};
    }

    private long map(long id, boolean uid, boolean fromNs) {
        for (IdmapEntry e : entries) {
            if (uid ? !e.isUid() : !e.isGid()) {
                continue;
            }
            if (fromNs && e.containsNs(id)) {
                return e.hostId() + (id - e.nsId());
            }
            if (!fromNs && e.containsHost(id)) {
                return e.nsId() + (id - e.hostId());
            }
        }
        throw new InvalidArgumentException("Couldn't map id " + id + (uid ? " (uid)" : " (gid)"));
    }
}
