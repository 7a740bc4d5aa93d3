/**
 * Instances on a real Incus server: the {@code incus} instance driver ({@code io.github.incus4j.remote}, provided as
 * an {@link io.github.incus4j.api.spi.InstanceDriver} service), speaking Incus's REST API over its unix socket or over HTTPS with a TLS client certificate.
 * Jetty (the transport) and BouncyCastle (PEM reading) stay internal: none of its types appear in this module's API.
 */
module io.github.incus4j.remote {
    requires transitive io.github.incus4j.api;
    requires static org.apiguardian.api;
    requires com.fasterxml.jackson.databind;
    requires com.fasterxml.jackson.dataformat.yaml;
    requires org.bouncycastle.pkix;
    requires org.bouncycastle.provider;
    requires org.eclipse.jetty.client;
    requires org.eclipse.jetty.io;
    requires org.eclipse.jetty.util;
    requires org.eclipse.jetty.http;
    requires org.eclipse.jetty.websocket.api;
    requires org.eclipse.jetty.websocket.client;

    exports io.github.incus4j.remote;

    provides io.github.incus4j.api.spi.InstanceDriver with io.github.incus4j.remote.IncusDriver;
}
