/**
 * The {@code incus} instance driver: {@link io.github.incus4j.remote.IncusDriver} opens the instances of a real Incus
 * server over its REST API (unix socket, or HTTPS with a TLS client certificate: {@link
 * io.github.incus4j.remote.IncusRemote}, also read from the incus CLI's remotes), with the server's own semantics: no local records or locks, exec over
 * websockets, files over the {@code /sftp} upgrade, and a status cache fed by the server's event stream. Registered as
 * the {@code incus} {@link io.github.incus4j.api.spi.InstanceDriver} provider; public are only {@code IncusDriver}, {@code IncusRemote},
 * {@code IncusConnectionException}, {@code RemoteInstance} (what a server adds to an instance: its move between
 * cluster members, its copy or move to another server) and {@code TransferMode} (pull or push).
 */
package io.github.incus4j.remote;
