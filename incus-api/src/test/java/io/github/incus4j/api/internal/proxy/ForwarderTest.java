package io.github.incus4j.api.internal.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import java.io.IOException;
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The shared proxy forwarding, on loopback only. */
class ForwarderTest {
    private static final InetAddress LO = InetAddress.getLoopbackAddress();

    @Test
    void parsesIncusAddresses() {
        ProxyAddress a = ProxyAddress.parse("listen", "tcp:127.0.0.1:80-82,90");
        assertEquals(List.of(80, 81, 82, 90), a.ports());
        assertEquals(new InetSocketAddress("127.0.0.1", 81), a.socketAddress(1));
        ProxyAddress v6 = ProxyAddress.parse("connect", "udp:[::1]:53");
        assertEquals("::1", v6.host());
        assertEquals(new InetSocketAddress("::1", 53), v6.target(3), "one connect port serves every listen port");
        assertEquals("/run/x.sock", ProxyAddress.parse("listen", "unix:/run/x.sock").path());
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ProxyAddress.parse("listen", "sctp:1.2.3.4:5"));
        assertEquals("Invalid value for device option \"listen\": Unknown protocol type \"sctp\"", e.getMessage());
        assertEquals("Invalid value for device option \"connect\": Missing address", assertThrows(
                InvalidArgumentException.class, () -> ProxyAddress.parse("connect", "tcp:")).getMessage());
        assertThrows(InvalidArgumentException.class, () -> ProxyAddress.parse("listen", "tcp:127.0.0.1:70000"));
        assertThrows(InvalidArgumentException.class, () -> ProxyAddress.parse("listen", "tcp:127.0.0.1:9-3"));
        assertThrows(InvalidArgumentException.class, () -> ProxyAddress.parse("connect", "tcp127.0.0.1"));
        assertThrows(InvalidArgumentException.class, () -> ProxyAddress.parse("connect", "unix:@abstract"));
    }

    @Test
    void streamsAreForwardedBothWaysAndClosedWithTheForwarder() throws Exception {
        try (ServerSocket echo = new ServerSocket(0, 50, LO)) {
            Thread server = new Thread(() -> {
                while (true) {
                    try (Socket s = echo.accept()) {
                        byte[] in = s.getInputStream().readAllBytes(); // until the client half-closes
                        s.getOutputStream().write(("echo:" + new String(in, StandardCharsets.UTF_8))
                                .getBytes(StandardCharsets.UTF_8));
                    } catch (IOException closed) {
                        return;
                    }
                }
            }, "test-echo");
            server.setDaemon(true);
            server.start();
            ServerSocketChannel listener = ServerSocketChannel.open().bind(new InetSocketAddress(LO, 0));
            int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
            Forwarder f = Forwarder.stream("test", listener, () -> SocketChannel.open(echo.getLocalSocketAddress()),
                    4);
            for (int i = 0; i < 10; i++) {
                assertEquals("echo:hello " + i, roundTrip(port, "hello " + i));
            }
            // Bounded: a fifth concurrent connection is closed at once.
            Socket[] held = new Socket[4];
            for (int i = 0; i < 4; i++) {
                held[i] = new Socket(LO, port);
            }
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (f.active() < 4 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(4, f.active());
            try (Socket extra = new Socket(LO, port)) {
                extra.setSoTimeout(5000);
                assertEquals(-1, extra.getInputStream().read(), "refused beyond the bound");
            }
            f.close();
            for (Socket s : held) {
                s.setSoTimeout(5000);
                try (InputStream in = s.getInputStream()) {
                    assertEquals(-1, in.read(), "open connections closed with the forwarder");
                } catch (IOException reset) {
                    // a reset is a close too
                }
                s.close();
            }
            assertThrows(IOException.class, () -> new Socket(LO, port).close(), "the listener is closed");
        }
    }

    private static String roundTrip(int port, String text) throws IOException {
        try (Socket s = new Socket(LO, port)) {
            s.setSoTimeout(5000);
            s.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void datagramsAreForwardedPerClient() throws Exception {
        try (DatagramSocket echo = new DatagramSocket(0, LO)) {
            Thread server = new Thread(() -> {
                byte[] buf = new byte[1500];
                while (true) {
                    try {
                        DatagramPacket p = new DatagramPacket(buf, buf.length);
                        echo.receive(p);
                        byte[] out = ("re:" + new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8))
                                .getBytes(StandardCharsets.UTF_8);
                        echo.send(new DatagramPacket(out, out.length, p.getSocketAddress()));
                    } catch (IOException closed) {
                        return;
                    }
                }
            }, "test-udp-echo");
            server.setDaemon(true);
            server.start();
            DatagramChannel listener = DatagramChannel.open().bind(new InetSocketAddress(LO, 0));
            InetSocketAddress at = (InetSocketAddress) listener.getLocalAddress();
            try (Forwarder f = Forwarder.datagram("udp", listener,
                    () -> DatagramChannel.open().connect(echo.getLocalSocketAddress()), 8)) {
                for (String who : List.of("a", "b")) {
                    try (DatagramSocket client = new DatagramSocket(0, LO)) {
                        client.setSoTimeout(5000);
                        byte[] msg = who.getBytes(StandardCharsets.UTF_8);
                        client.send(new DatagramPacket(msg, msg.length, at));
                        DatagramPacket p = new DatagramPacket(new byte[100], 100);
                        client.receive(p);
                        assertEquals("re:" + who, new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8));
                    }
                }
                assertTrue(f.toString().contains("udp"));
            }
        }
    }
}
