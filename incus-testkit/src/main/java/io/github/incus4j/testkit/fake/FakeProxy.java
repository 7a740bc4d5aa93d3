package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.util.concurrent.Semaphore;
import java.util.function.IntFunction;

/**
 * A fake instance's {@code proxy} device, as Incus's {@code forkproxy} with {@code bind=host}: a real TCP listener on
 * the host's {@code listen} address whose connections go to the {@link FakeService} the test registered for the
 * {@code connect} port inside the instance (none registered: the connection is closed, as a refused connect inside
 * the instance closes the accepted one). Threads are named daemons; at most {@value #MAX_CONNECTIONS} connections at
 * once (more are closed at once); closing the device closes the listener and every open connection.
 */
final class FakeProxy implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FakeProxy.class.getName());
    static final int MAX_CONNECTIONS = 32;
    /** A peer idle for this long loses its connection. */
    private static final int READ_TIMEOUT_MILLIS = 60_000;
    /** How long closing waits for the accepting thread to let go of the listener. */
    private static final long CLOSE_WAIT_MILLIS = 5_000;

    private final ServerSocket server;
    private final int connectPort;
    private final IntFunction<FakeService> services;
    private final Semaphore slots = new Semaphore(MAX_CONNECTIONS);
    private final java.util.Set<Socket> open = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final String threadName;
    private volatile boolean closed;
    private volatile Thread acceptor;

    private FakeProxy(ServerSocket server, int connectPort, IntFunction<FakeService> services, String threadName) {
        this.server = server;
        this.connectPort = connectPort;
        this.services = services;
        this.threadName = threadName;
    }

    /**
     * Opens the listener of device {@code name}.
     *
     * @throws NotSupportedException for what the fake does not forward ({@code udp:}, {@code unix:}, port ranges,
     *     {@code bind=instance})
     * @throws IncusException Incus's {@code Failed to start device} text when the address cannot be bound
     */
    static FakeProxy open(String instance, String name, Device d, IntFunction<FakeService> services) {
        if ("instance".equals(d.get("bind"))) {
            throw new NotSupportedException("The \"fake\" driver does not support proxy devices with bind=instance"
                    + " (device " + ErrorTexts.quote(name) + ")");
        }
        InetSocketAddress listen = tcp(name, "listen", d.get("listen"));
        InetSocketAddress connect = tcp(name, "connect", d.get("connect"));
        ServerSocket s = null;
        try {
            s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(listen, 50);
        } catch (IOException e) {
            closeQuietly(s);
            throw new IncusException("Failed to start device " + ErrorTexts.quote(name) + ": Failed to listen on "
                    + d.get("listen") + ": " + e.getMessage(), e);
        }
        FakeProxy p = new FakeProxy(s, connect.getPort(), services, "incus4j-fake-proxy-" + instance + "-" + name);
        Thread t = new Thread(p::acceptLoop, p.threadName);
        t.setDaemon(true);
        p.acceptor = t;
        t.start();
        return p;
    }

    /** The port the host listener is bound to (the one asked for, or the one the system chose for port 0). */
    int listenPort() {
        return server.getLocalPort();
    }

    private static InetSocketAddress tcp(String name, String key, String value) {
        String v = value == null ? "" : value;
        if (!v.startsWith("tcp:")) {
            throw new NotSupportedException("The \"fake\" driver forwards tcp only: " + key + " "
                    + ErrorTexts.quote(v) + " (device " + ErrorTexts.quote(name) + ")");
        }
        String rest = v.substring(4);
        int colon = rest.lastIndexOf(':');
        String host = colon < 0 ? "" : rest.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(rest.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new NotSupportedException("The \"fake\" driver forwards one port per proxy: " + key + " "
                    + ErrorTexts.quote(v) + " (device " + ErrorTexts.quote(name) + ")");
        }
        if (colon < 0 || port < 0 || port > 65535) {
            throw new InvalidArgumentException("Invalid " + key + " address " + ErrorTexts.quote(v) + " (device "
                    + ErrorTexts.quote(name) + ")");
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host.isEmpty() ? "0.0.0.0" : host), port);
        } catch (IOException e) {
            throw new InvalidArgumentException("Invalid " + key + " address " + ErrorTexts.quote(v) + " (device "
                    + ErrorTexts.quote(name) + "): " + e.getMessage());
        }
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            Socket c;
            try {
                c = server.accept();
            } catch (IOException e) {
                if (!server.isClosed()) {
                    LOG.log(System.Logger.Level.DEBUG, "proxy accept failed on " + threadName, e);
                }
                return;
            }
            // A blocked accept(2) keeps the listener alive until the JDK's signal reaches it, so a connection can
            // still arrive after close(): it must not be served.
            FakeService svc = closed ? null : services.apply(connectPort);
            if (svc == null || !slots.tryAcquire()) {
                closeQuietly(c);
                continue;
            }
            open.add(c);
            Thread t = new Thread(() -> serve(c, svc), threadName + "-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(Socket c, FakeService svc) {
        try (c) {
            c.setSoTimeout(READ_TIMEOUT_MILLIS);
            svc.serve(c.getInputStream(), c.getOutputStream());
        } catch (SocketException closed) {
            // The peer or the device went away.
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "proxied connection failed on " + threadName, e);
        } finally {
            open.remove(c);
            slots.release();
        }
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(server);
        open.forEach(FakeProxy::closeQuietly);
        // The JDK closes a listener blocked in accept(2) only once that thread left it: wait (bounded), so that
        // nothing listens any more when the device is gone.
        Thread t = acceptor;
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(CLOSE_WAIT_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException ignored) {
                // Closing: nothing left to do.
            }
        }
    }
}
