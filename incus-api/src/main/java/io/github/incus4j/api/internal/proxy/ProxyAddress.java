package io.github.incus4j.api.internal.proxy;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.apiguardian.api.API;

/**
 * One side of a {@code proxy} device, as Incus's {@code ProxyParseAddr} reads it: {@code tcp:<addr>:<ports>},
 * {@code udp:<addr>:<ports>} (ports: a port, a range {@code a-b}, or a comma list of both; IPv6 in brackets), or
 * {@code unix:<path>} (Incus's abstract {@code unix:@name} is refused here).
 *
 * @param protocol {@code tcp}, {@code udp} or {@code unix}
 * @param host the address for tcp/udp, empty for unix
 * @param ports the ports for tcp/udp (one per forwarded port), empty for unix
 * @param path the socket path for unix, empty otherwise
 */
@API(status = INTERNAL)
public record ProxyAddress(String protocol, String host, List<Integer> ports, String path) {
    public ProxyAddress {
        ports = List.copyOf(ports);
    }

    /** Parses {@code value} of the device key {@code key}; bad input is an {@link InvalidArgumentException}. */
    public static ProxyAddress parse(String key, String value) {
        String bad = "Invalid value for device option " + ErrorTexts.quote(key) + ": ";
        if (value == null || value.isEmpty()) {
            throw new InvalidArgumentException(bad + "Required value");
        }
        int colon = value.indexOf(':');
        String protocol = colon < 0 ? value : value.substring(0, colon);
        String rest = colon < 0 ? "" : value.substring(colon + 1);
        if (!List.of("tcp", "udp", "unix").contains(protocol)) {
            throw new InvalidArgumentException(bad + "Unknown protocol type " + ErrorTexts.quote(protocol));
        }
        if (rest.isEmpty()) {
            throw new InvalidArgumentException(bad + "Missing address");
        }
        switch (protocol) {
            case "unix": {
                if (rest.isEmpty() || rest.startsWith("@")) {
                    throw new InvalidArgumentException(bad + "Unsupported unix socket address "
                            + ErrorTexts.quote(value) + " (a path is needed; abstract sockets are not supported)");
                }
                return new ProxyAddress(protocol, "", List.of(), rest);
            }
            case "tcp", "udp": {
                int split = rest.lastIndexOf(':');
                if (split <= 0 || split == rest.length() - 1) {
                    throw new InvalidArgumentException(bad + "Invalid address format " + ErrorTexts.quote(value));
                }
                String host = rest.substring(0, split);
                if (host.startsWith("[") && host.endsWith("]")) {
                    host = host.substring(1, host.length() - 1);
                }
                return new ProxyAddress(protocol, host, ports(bad, rest.substring(split + 1)), "");
            }
            default:
                throw new IllegalStateException(protocol);
        }
    }

    private static List<Integer> ports(String bad, String spec) {
        List<Integer> out = new ArrayList<>();
        for (String part : spec.split(",", -1)) {
            String[] range = part.trim().split("-", -1);
            if (range.length > 2) {
                throw new InvalidArgumentException(bad + "Invalid port range " + ErrorTexts.quote(part));
            }
            int from = port(bad, range[0]);
            int to = range.length == 2 ? port(bad, range[1]) : from;
            if (to < from) {
                throw new InvalidArgumentException(bad + "Invalid port range " + ErrorTexts.quote(part));
            }
            for (int p = from; p <= to; p++) {
                out.add(p);
            }
        }
        if (out.size() > 1024) {
            throw new InvalidArgumentException(bad + "More than 1024 ports in " + ErrorTexts.quote(spec));
        }
        return out;
    }

    private static int port(String bad, String s) {
        try {
            int p = Integer.parseInt(s.trim());
            if (p >= 0 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException e) {
            // falls through to the refusal
        }
        throw new InvalidArgumentException(bad + "Invalid port " + ErrorTexts.quote(s));
    }

    /** The socket address of the {@code i}-th forwarded port (the path for unix). */
    public SocketAddress socketAddress(int i) {
        if (protocol.equals("unix")) {
            return UnixDomainSocketAddress.of(path);
        }
        return new InetSocketAddress(host, ports.get(i));
    }

    /** How many addresses this side has: its ports, or 1 for unix. */
    public int count() {
        return protocol.equals("unix") ? 1 : ports.size();
    }

    /**
     * The connect side's address for the {@code i}-th listen address: Incus allows one connect port for many
     * listen ports, else the counts must match.
     */
    public SocketAddress target(int i) {
        return protocol.equals("unix") || ports.size() == 1 ? socketAddress(0) : socketAddress(i);
    }
}
