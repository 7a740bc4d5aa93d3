package io.github.incus4j.remote;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Instance;
import org.apiguardian.api.API;

/**
 * An instance of the {@code incus} driver: what a server, and a cluster in particular, adds to {@link Instance}.
 * Every instance an {@code incus} session hands out is one ({@code (RemoteInstance) instance}).
 * {@link Instance#location()} names the cluster member the instance is on ({@code ""} on a server that is no
 * cluster).
 */
@API(status = EXPERIMENTAL)
public interface RemoteInstance extends Instance {
    /**
     * Moves the stopped instance to cluster member {@code member} ({@code POST /1.0/instances/<name>?target=<member>}
     * with {@code migration: true}), bounded by the session's timeout. The server's refusals keep its text: a running
     * instance ({@code InstanceStateException}), an unknown member ({@code NotFoundException}), a server that is no
     * cluster.
     *
     * @param member the member's name, as {@code incus cluster list} shows it
     */
    void move(String member);
}
