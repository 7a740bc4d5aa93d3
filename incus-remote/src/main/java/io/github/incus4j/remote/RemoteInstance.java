package io.github.incus4j.remote;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.Instances;
import org.apiguardian.api.API;

/**
 * An instance of the {@code incus} driver: what a server, and a cluster in particular, adds to {@link Instance}.
 * Every instance an {@code incus} session hands out is one ({@code (RemoteInstance) instance}).
 * {@link Instance#location()} names the cluster member the instance is on ({@code ""} on a server that is no
 * cluster). {@link #copyTo} and {@link #moveTo} carry an instance to another server (or project) in push or pull
 * {@link TransferMode}.
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

    /**
     * Copies this instance to a new instance {@code name} of the {@code incus} session {@code target}, on another
     * server or another project of the same one, the two servers talking to each other directly in {@code mode} (as
     * {@code incus copy <src> <remote>:<name> --mode pull|push}; the session's cluster target, if any, places it). The
     * copy is stopped and keeps the definition (config, devices, profiles, description) but the volatile keys other
     * than {@code volatile.base_image}. Bounded: the servers' transfer by 30 minutes, each request by the sessions'
     * timeouts. A failure leaves no instance of that name behind on the target unless there was one before, and the
     * source as it was; the server's text is kept inside our exception types, prefixed as the incus CLI does
     * ({@code "Failed instance creation: "} pulling, {@code "Failed instance migration: "} pushing): a name the
     * target has already is a {@code BusyException}, a server that does not listen on the network an
     * {@code InvalidArgumentException} ("The source server isn't listening on the network").
     *
     * @param target an {@code incus} driver session (the target server and project)
     * @param name the new instance's name, or {@code null} for this instance's name
     * @param mode which server dials the other
     * @param snapshots whether the snapshots go too ({@code incus copy --instance-only} when not)
     * @return the new instance, on {@code target}
     */
    Instance copyTo(Instances target, String name, TransferMode mode, boolean snapshots);

    /**
     * Moves this stopped instance to {@code target} as {@code name}, with its snapshots and volatile keys, as {@code
     * incus move <src> <remote>:<name> --mode pull|push} does: a {@link #copyTo copy}, then this instance deleted. A
     * running instance is refused before anything is sent ({@code InstanceStateException}, Incus's "Instance must be
     * stopped to be moved statelessly": live moves are not offered). If the delete fails after the copy, the error
     * says so ("Failed to delete original instance after copying it: ...") and both instances exist.
     *
     * @return the moved instance, on {@code target}
     */
    Instance moveTo(Instances target, String name, TransferMode mode);
}
