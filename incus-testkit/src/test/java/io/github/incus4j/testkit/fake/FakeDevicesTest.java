package io.github.incus4j.testkit.fake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.testkit.junit.ForwardedPorts;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The fake's devices beyond what the contract checks: proxy lifetime, handlers, what it refuses. */
class FakeDevicesTest extends FakeFixture {

    private static String get(int port) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            s.setSoTimeout(5000);
            s.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void withProxy(FakeInstance i, Device proxy) {
        InstanceArgs.Builder b = i.args().toBuilder();
        i.update(b.devices(i.localDevices().with("web", proxy)).build(), true);
    }

    @Test
    void aVmProxyForwardsWhileRunningOnly() throws IOException {
        FakeInstance v = vm("v1");
        withProxy(v, ForwardedPorts.proxy(v.type(), 80, 1).with("listen", "tcp:127.0.0.1:0"));
        v.listen(80, FakeService.http("vm page"));
        v.start(false);
        int port = v.proxyPort("web");
        assertTrue(get(port).endsWith("vm page"));
        v.stop(false);
        assertThrows(ConnectException.class, () -> get(port));
        v.start(false);
        int again = v.proxyPort("web");
        assertTrue(get(again).endsWith("vm page"), "the service stays registered across a restart");
    }

    @Test
    void aConnectionToAPortWithoutServerIsClosed() throws IOException {
        FakeInstance c = container("c1");
        withProxy(c, ForwardedPorts.proxy(c.type(), 81, 1).with("listen", "tcp:127.0.0.1:0"));
        c.start(false);
        assertEquals("", get(c.proxyPort("web")));
        AutoCloseable reg = c.listen(81, FakeService.http("x"));
        assertTrue(get(c.proxyPort("web")).endsWith("x"));
        try {
            reg.close();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        assertEquals("", get(c.proxyPort("web")));
    }

    @Test
    void udpProxiesFailTheStartNamingTheDevice() {
        FakeInstance c = container("c2");
        withProxy(c, Device.of("type", "proxy", "listen", "udp:127.0.0.1:0", "connect", "udp:127.0.0.1:53"));
        assertEquals("The \"fake\" driver forwards tcp only: listen \"udp:127.0.0.1:0\" (device \"web\")",
                assertThrows(NotSupportedException.class, () -> c.start(false)).getMessage());
        assertTrue(!c.isRunning());
    }
}
