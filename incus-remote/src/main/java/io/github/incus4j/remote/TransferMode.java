package io.github.incus4j.remote;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * How {@link RemoteInstance#copyTo} and {@link RemoteInstance#moveTo} carry an instance between two Incus servers
 * that reach each other over HTTPS ({@code incus copy --mode pull|push}). Both need the server that is dialled to
 * listen on the network ({@code core.https_address}); the other one is given its certificate (from {@code GET /1.0}
 * {@code environment.certificate}) to pin. {@link io.github.incus4j.api.Instance#migrateSend} and
 * {@link io.github.incus4j.api.Instance#migrateReceive} stay relayed by this client ({@code --mode relay}): no route
 * between the servers is needed there.
 */
@API(status = EXPERIMENTAL)
public enum TransferMode {
    /**
     * The target server pulls: the source offers the migration ({@code POST /1.0/instances/<name>}, {@code
     * migration: true}) and the target is created with {@code source: {type: migration, mode: pull}}, the source's
     * operation URL, secrets and certificate. The source server must listen on the network. The incus CLI's default.
     */
    PULL,
    /**
     * The source server pushes: the target is created with {@code source: {type: migration, mode: push}}, and the
     * source is asked to migrate to the target's operation ({@code target}: its URL, secrets and certificate). The
     * target server must listen on the network.
     */
    PUSH
}
