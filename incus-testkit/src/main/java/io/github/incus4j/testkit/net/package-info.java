/**
 * Two "hosts" for migration tests on one machine: {@link io.github.incus4j.testkit.net.NetnsPair} (two network
 * namespaces joined by a veth pair) and {@link io.github.incus4j.testkit.net.TcpMigration} (a migration's control,
 * filesystem and state connections over TCP between them, with a cut for fault tests).
 */
package io.github.incus4j.testkit.net;
