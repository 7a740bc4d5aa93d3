package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.proxy.Forwarder;
import io.github.incus4j.api.internal.proxy.ProxyAddress;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.lxc.binding.NetNamespace;
import io.github.incus4j.lxc.binding.OwnedFd;
import io.github.incus4j.lxc.binding.ProcRoot;
import java.io.IOException;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.DatagramChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@code proxy} devices of one running container, as Incus's {@code forkproxy} serves them but on threads of this
 * JVM: with {@code bind=host} (the default) a listener on the host and, per connection, a socket created inside the
 * container's network namespace ({@link NetNamespace}) connecting to {@code connect}; with {@code bind=instance} the
 * listener inside and the connections made on the host. Unix sockets inside the container are reached through
 * {@code /proc/<init>/root}. Each device's {@link Forwarder}s are closed when the device is removed, the container
 * stops, or the driver closes.
 */
final class LxcProxies {
    /** The options applied ({@code nat} and {@code proxy_protocol} only as false; no {@code security.uid/gid}). */
    private static final Set<String> KEYS = Set.of("type", "listen", "connect", "bind", "uid", "gid", "mode",
            "nat", "proxy_protocol");
    /** At most this many connections (or UDP clients) per forwarded address, as a bound on threads. */
    private static final int MAX_CONNECTIONS = 64;
    private static final int CONNECT_TIMEOUT_MILLIS = 10_000;

    private final String instance;
    private final Map<String, List<Forwarder>> running = new ConcurrentHashMap<>();

    LxcProxies(String instance) {
        this.instance = instance;
    }

    /** Starts every proxy device of {@code devices} for the container whose init is {@code pid}. */
    void startAll(Map<String, Device> devices, int pid) {
        try {
            devices.forEach((name, d) -> {
                if (d.type().equals("proxy")) {
                    start(name, d, pid);
                }
            });
        } catch (RuntimeException e) {
            closeAll();
            throw e;
        }
    }

    /** Starts one proxy device (also for adding one to a running container). */
    void start(String name, Device d, int pid) {
        check(name, d);
        ProxyAddress listen = ProxyAddress.parse("listen", d.get("listen"));
        ProxyAddress connect = ProxyAddress.parse("connect", d.get("connect"));
        boolean inInstance = "instance".equals(d.get("bind"));
        if (listen.protocol().equals("udp") != connect.protocol().equals("udp")) {
            throw new NotSupportedException(failed(name, "Proxying " + listen.protocol() + " <-> "
                    + connect.protocol() + " is not supported by the lxc driver"));
        }
        if (connect.count() > 1 && connect.count() != listen.count()) {
            throw new InvalidArgumentException(failed(name,
                    "Mismatch between listen port(s) and connect port(s) count"));
        }
        if (!listen.protocol().equals("unix") && (d.get("uid") != null || d.get("gid") != null
                || d.get("mode") != null)) {
            throw new InvalidArgumentException(failed(name,
                    "Only proxy devices for non-abstract unix sockets can carry uid, gid, or mode properties"));
        }
        String bind = d.config().getOrDefault("bind", "host");
        if (!bind.equals("host") && !bind.equals("instance")) {
            throw new InvalidArgumentException(failed(name,
                    "Invalid binding side given. Must be \"host\" or \"instance\""));
        }
        List<Forwarder> forwarders = new ArrayList<>();
        try {
            for (int i = 0; i < listen.count(); i++) {
                SocketAddress from = listen.socketAddress(i);
                SocketAddress to = connect.target(i);
                String fname = instance + "-" + name + "-" + i;
                if (listen.protocol().equals("udp")) {
                    DatagramChannel l = inside(inInstance, pid, () -> DatagramChannel.open(family(from)).bind(from));
                    forwarders.add(Forwarder.datagram(fname, l, () -> inside(!inInstance, pid,
                            () -> DatagramChannel.open(family(to))).connect(to), MAX_CONNECTIONS));
                } else {
                    ServerSocketChannel l = inInstance && from instanceof UnixDomainSocketAddress u
                            ? listenInContainer(name, d, pid, u.getPath().toString())
                            : inside(inInstance, pid, () -> {
                                ServerSocketChannel s = ServerSocketChannel.open(family(from));
                                if (from instanceof UnixDomainSocketAddress u) {
                                    Files.deleteIfExists(u.getPath()); // a stale socket of a previous run
                                } else {
                                    s.socket().setReuseAddress(true);
                                }
                                return s.bind(from);
                            });
                    if (!inInstance) {
                        unixPermissions(name, d, from);
                    }
                    forwarders.add(Forwarder.stream(fname, l, () -> {
                        SocketChannel c = inside(!inInstance, pid, () -> SocketChannel.open(family(to)));
                        try {
                            if (to instanceof UnixDomainSocketAddress u) {
                                if (inInstance) {
                                    c.connect(to);
                                } else {
                                    // The socket file opened confined to the container, connected by its descriptor.
                                    try (OwnedFd f = ProcRoot.open(pid, u.getPath().toString(), false)) {
                                        c.connect(UnixDomainSocketAddress.of("/proc/self/fd/" + f.fd()));
                                    }
                                }
                            } else {
                                c.socket().connect(to, CONNECT_TIMEOUT_MILLIS);
                            }
                            return c;
                        } catch (IOException | RuntimeException e) {
                            c.close();
                            throw e;
                        }
                    }, MAX_CONNECTIONS));
                }
            }
        } catch (IOException e) {
            forwarders.forEach(Forwarder::close);
            throw new IncusException(failed(name, "Error occurred when starting proxy device: " + e.getMessage()), e);
        } catch (RuntimeException e) {
            forwarders.forEach(Forwarder::close);
            throw e;
        }
        List<Forwarder> old = running.put(name, forwarders);
        if (old != null) {
            old.forEach(Forwarder::close);
        }
    }

    /** Stops one proxy device; nothing when it does not run. */
    void stop(String name) {
        List<Forwarder> f = running.remove(name);
        if (f != null) {
            f.forEach(Forwarder::close);
        }
    }

    /** Stops every proxy device. Idempotent. */
    void closeAll() {
        for (String name : List.copyOf(running.keySet())) {
            stop(name);
        }
    }

    /** The options applied to proxy devices. */
    static Set<String> options() {
        Set<String> out = new java.util.HashSet<>(KEYS);
        out.remove("type");
        return Set.copyOf(out);
    }

    /** The names of the running proxy devices. */
    Set<String> names() {
        return Set.copyOf(running.keySet());
    }

    private static void check(String name, Device d) {
        for (String k : d.config().keySet()) {
            if (!KEYS.contains(k) && !k.startsWith("user.") && !k.startsWith("initial.")) {
                throw new NotSupportedException(failed(name, "the proxy option " + ErrorTexts.quote(k)
                        + " is not supported by the lxc driver"));
            }
        }
        for (String k : List.of("nat", "proxy_protocol")) {
            if (ConfigValues.isTrue(d.get(k))) {
                throw new NotSupportedException(failed(name, ErrorTexts.quote(k + "=true")
                        + " is not supported by the lxc driver"));
            }
        }
    }

    private static String failed(String name, String why) {
        return "Failed to start device " + ErrorTexts.quote(name) + ": " + why;
    }

    /**
     * A unix listener inside the container: bound in its directory opened confined to the container (a link there
     * cannot move the socket to the host), a stale socket of a previous run removed, mode and owner set through a
     * descriptor on the new socket file.
     */
    private static ServerSocketChannel listenInContainer(String name, Device d, int pid, String path)
            throws IOException {
        if (!path.startsWith("/") || path.endsWith("/")) {
            throw new InvalidArgumentException(failed(name, "Unix socket path " + ErrorTexts.quote(path)
                    + " must be an absolute file path"));
        }
        int slash = path.lastIndexOf('/');
        String leaf = path.substring(slash + 1);
        try (OwnedFd dir = ProcRoot.open(pid, slash == 0 ? "/" : path.substring(0, slash), true)) {
            ProcRoot.unlink(dir, leaf);
            ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                s.bind(UnixDomainSocketAddress.of("/proc/self/fd/" + dir.fd() + "/" + leaf));
                try (OwnedFd sock = ProcRoot.open(pid, path, false)) {
                    unixPermissions(name, d, UnixDomainSocketAddress.of("/proc/self/fd/" + sock.fd()));
                }
                return s;
            } catch (IOException | RuntimeException e) {
                s.close();
                throw e;
            }
        }
    }

    private static ProtocolFamily family(SocketAddress a) {
        if (a instanceof UnixDomainSocketAddress) {
            return StandardProtocolFamily.UNIX;
        }
        java.net.InetSocketAddress in = (java.net.InetSocketAddress) a;
        if (in.isUnresolved()) {
            throw new InvalidArgumentException("Cannot resolve " + ErrorTexts.quote(in.getHostString()));
        }
        return in.getAddress() instanceof java.net.Inet6Address ? StandardProtocolFamily.INET6
                : StandardProtocolFamily.INET;
    }

    /** A unix listener's {@code mode}/{@code uid}/{@code gid}, as Incus sets them on the socket file. */
    private static void unixPermissions(String name, Device d, SocketAddress a) throws IOException {
        if (!(a instanceof UnixDomainSocketAddress u)) {
            return;
        }
        Path p = u.getPath();
        if (d.get("mode") != null) {
            try {
                Files.setAttribute(p, "unix:mode", Integer.parseInt(d.get("mode"), 8));
            } catch (NumberFormatException e) {
                throw new InvalidArgumentException(failed(name, "Invalid value for device option \"mode\": "
                        + ErrorTexts.quote(d.get("mode"))));
            }
        }
        if (d.get("uid") != null) {
            Files.setAttribute(p, "unix:uid", Integer.parseInt(d.get("uid")));
        }
        if (d.get("gid") != null) {
            Files.setAttribute(p, "unix:gid", Integer.parseInt(d.get("gid")));
        }
    }

    /** Runs {@code open} in the container's network namespace when {@code inContainer}, else here. */
    private static <T> T inside(boolean inContainer, int pid, NetNamespace.Task<T> open) throws IOException {
        return inContainer ? NetNamespace.run(pid, open) : open.run();
    }
}
