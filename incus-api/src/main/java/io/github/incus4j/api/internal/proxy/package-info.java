/**
 * Internal, shared by incus4j's drivers (exported only to them): the byte forwarding behind the {@code proxy} device,
 * as Incus's {@code forkproxy} does it: {@link io.github.incus4j.api.internal.proxy.ProxyAddress} parses a
 * {@code listen}/{@code connect} value, {@link io.github.incus4j.api.internal.proxy.Forwarder} accepts on one side
 * and pumps each connection (or UDP client) to a channel the driver opens on the other side.
 */
package io.github.incus4j.api.internal.proxy;
