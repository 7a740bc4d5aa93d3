package io.github.incus4j.api.internal.proxy;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.io.Closeable;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apiguardian.api.API;

/**
 * Forwards what arrives on a listening channel to a channel opened for it on the other side, as Incus's
 * {@code forkproxy}: each accepted stream gets its own target connection (both directions pumped, half-closes passed
 * on), each UDP client its own target socket. Bounded ({@code max} connections or clients: beyond that a stream is
 * closed at once and the least recently seen UDP client dropped), on named daemon threads, and everything (listener,
 * connections) is closed by {@link #close()}.
 */
@API(status = INTERNAL)
public final class Forwarder implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Forwarder.class.getName());
    private static final int BUFFER = 64 * 1024;
    private static final int UDP_IDLE_MILLIS = 30_000;

    /** Opens the other side's channel for one connection or UDP client (a connected socket). */
    @FunctionalInterface
    public interface Opener<C> {
        C open() throws IOException;
    }

    private static final java.time.Duration CLOSE_WAIT = java.time.Duration.ofSeconds(5);

    private final String name;
    private final Closeable listener;
    private final int max;
    private final Set<Closeable> open = ConcurrentHashMap.newKeySet();
    private final AtomicInteger threads = new AtomicInteger();
    private final AtomicInteger connections = new AtomicInteger();
    private volatile boolean closed;
    /**
     * The thread reading the listener. {@link #close()} waits for it: the JDK closes a channel under a blocked accept
     * only once that accept returns, and the port must be free when close() returns.
     */
    private volatile Thread loop;

    private Forwarder(String name, Closeable listener, int max) {
        this.name = name;
        this.listener = listener;
        this.max = max;
    }

    /** Forwards each stream {@code listener} accepts to one {@code target} opens; takes ownership of the listener. */
    public static Forwarder stream(String name, ServerSocketChannel listener, Opener<? extends ByteChannel> target,
            int max) {
        Forwarder f = new Forwarder(name, listener, max);
        f.loop = f.thread("accept", () -> f.acceptLoop(listener, target));
        return f;
    }

    /** Forwards each UDP client of {@code listener} through its own socket {@code target} opens. */
    public static Forwarder datagram(String name, DatagramChannel listener, Opener<DatagramChannel> target, int max) {
        Forwarder f = new Forwarder(name, listener, max);
        f.loop = f.thread("udp", () -> f.datagramLoop(listener, target));
        return f;
    }

    /** How many stream connections are being forwarded now. */
    public int active() {
        return connections.get();
    }

    private Thread thread(String role, Runnable body) {
        Thread t = new Thread(body, "incus4j-proxy-" + name + "-" + role + "-" + threads.incrementAndGet());
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void acceptLoop(ServerSocketChannel listener, Opener<? extends ByteChannel> target) {
        while (!closed) {
            SocketChannel client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "Proxy {0} stopped accepting: {1}", name, e.toString());
                }
                return;
            }
            if (connections.incrementAndGet() > max) {
                connections.decrementAndGet();
                LOG.log(System.Logger.Level.WARNING, "Proxy {0}: more than {1} connections, refusing one", name, max);
                quietly(client);
                continue;
            }
            open.add(client);
            thread("conn", () -> connect(client, target));
        }
    }

    private void connect(SocketChannel client, Opener<? extends ByteChannel> target) {
        ByteChannel other;
        try {
            other = target.open();
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "Proxy {0}: cannot connect: {1}", name, e.toString());
            open.remove(client);
            quietly(client);
            connections.decrementAndGet();
            return;
        }
        open.add(other);
        if (closed) {
            close();
            return;
        }
        AtomicInteger done = new AtomicInteger();
        Runnable finish = () -> {
            if (done.incrementAndGet() == 2) {
                open.remove(client);
                open.remove(other);
                quietly(client);
                quietly(other);
                connections.decrementAndGet();
            }
        };
        thread("up", () -> pump(client, other, finish));
        pump(other, client, finish);
    }

    /** Copies {@code from} to {@code to} until end of stream, then half-closes {@code to} (or closes on error). */
    private static void pump(ByteChannel from, ByteChannel to, Runnable finish) {
        ByteBuffer buf = ByteBuffer.allocate(BUFFER);
        try {
            while (from.read(buf) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    to.write(buf);
                }
                buf.clear();
            }
            if (to instanceof SocketChannel s) {
                s.shutdownOutput();
            }
        } catch (IOException e) {
            quietly(from);
            quietly(to);
        } finally {
            finish.run();
        }
    }

    private void datagramLoop(DatagramChannel listener, Opener<DatagramChannel> target) {
        // Insertion order kept by last use, so that the least recently seen client is dropped first.
        Map<SocketAddress, DatagramChannel> clients = new LinkedHashMap<>(16, 0.75f, true);
        ByteBuffer buf = ByteBuffer.allocate(BUFFER);
        while (!closed) {
            SocketAddress from;
            try {
                buf.clear();
                from = listener.receive(buf);
                buf.flip();
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "Proxy {0} stopped receiving: {1}", name, e.toString());
                }
                break;
            }
            DatagramChannel session;
            synchronized (clients) {
                session = clients.get(from);
                if (session != null && !session.isOpen()) {
                    clients.remove(from);
                    session = null;
                }
            }
            if (session == null) {
                try {
                    session = target.open();
                } catch (IOException | RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "Proxy {0}: cannot connect: {1}", name, e.toString());
                    continue;
                }
                List<DatagramChannel> dropped = new ArrayList<>();
                synchronized (clients) {
                    while (clients.size() >= max) {
                        SocketAddress oldest = clients.keySet().iterator().next();
                        dropped.add(clients.remove(oldest));
                    }
                    clients.put(from, session);
                }
                dropped.forEach(Forwarder::quietly);
                open.add(session);
                DatagramChannel s = session;
                SocketAddress client = from;
                thread("reply", () -> replies(listener, s, client));
            }
            try {
                session.write(buf);
            } catch (IOException e) {
                quietly(session);
            }
        }
        synchronized (clients) {
            clients.values().forEach(Forwarder::quietly);
        }
    }

    /** Sends what the target answers back to {@code client}, until the session is idle for 30 s or closed. */
    private void replies(DatagramChannel listener, DatagramChannel session, SocketAddress client) {
        try {
            DatagramSocket socket = session.socket();
            socket.setSoTimeout(UDP_IDLE_MILLIS);
            byte[] data = new byte[BUFFER];
            while (!closed) {
                DatagramPacket p = new DatagramPacket(data, data.length);
                socket.receive(p);
                listener.send(ByteBuffer.wrap(data, 0, p.getLength()), client);
            }
        } catch (SocketTimeoutException | ClosedChannelException e) {
            // idle or closed: the session ends
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "Proxy {0}: UDP session ended: {1}", name, e.toString());
        } finally {
            open.remove(session);
            quietly(session);
        }
    }

    /** Stops listening and closes every forwarded connection. Idempotent. */
    @Override
    public void close() {
        closed = true;
        quietly(listener);
        for (Closeable c : List.copyOf(open)) {
            open.remove(c);
            quietly(c);
        }
        Thread t = loop;
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(CLOSE_WAIT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void quietly(Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // closing: nothing more to do
        }
    }

    @Override
    public String toString() {
        return "Forwarder[" + name + "]";
    }
}
