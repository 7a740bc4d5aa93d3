package io.github.incus4j.lxc;

import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.lxc.binding.NetNamespace;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InterfaceAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.Enumeration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The interfaces of a process's network namespace as Incus reports them in an instance's state, read from the host
 * without entering the namespace (no fork, no {@code setns}): {@code /proc/<pid>/net/dev} (names, counters),
 * {@code /proc/<pid>/net/if_inet6} (IPv6 addresses), {@code /proc/<pid>/net/fib_trie} and {@code route} (IPv4
 * addresses, matched to the interface of their connected route, when the namespace cannot be entered; otherwise asked
 * of the kernel from a thread inside it, see {@link NetNamespace}), and the container's own sysfs,
 * {@code /proc/<pid>/root/sys/class/net/<if>/} (hwaddr, mtu, flags), which shows the namespace it was mounted in.
 */
final class NetnsState {
    private static final System.Logger LOG = System.getLogger(NetnsState.class.getName());
    private static final int IFF_UP = 0x1;
    private static final int IFF_LOOPBACK = 0x8;
    private static final int IFF_POINTOPOINT = 0x10;

    private NetnsState() {
    }

    /**
     * The counters of every interface of {@code pid}'s network namespace: 16 numbers per device (receive bytes,
     * packets, errs, drop, fifo, frame, compressed, multicast, then the same 8 transmitted).
     */
    static Map<String, long[]> netDev(Path procPid) {
        Map<String, long[]> out = new TreeMap<>();
        for (String line : Trees.lines(procPid.resolve("net/dev"))) {
            int colon = line.indexOf(':');
            String[] f = colon < 0 ? new String[0] : line.substring(colon + 1).trim().split("\\s+");
            if (f.length < 16) {
                continue; // the two header lines
            }
            long[] n = new long[16];
            for (int k = 0; k < 16; k++) {
                n[k] = Long.parseLong(f[k]);
            }
            out.put(line.substring(0, colon).trim(), n);
        }
        return out;
    }

    /**
     * The state's network part for the namespace of the process whose {@code /proc} directory is {@code procPid}.
     *
     * @param hostNames the host side of each interface (container name to host name), for {@code host_name}
     */
    static Map<String, ApiInstanceState.Network> read(Path procPid, Map<String, String> hostNames) {
        Map<String, List<ApiInstanceState.NetworkAddress>> addresses = new LinkedHashMap<>();
        try {
            int pid = Integer.parseInt(procPid.getFileName().toString());
            addresses.putAll(NetNamespace.run(pid, NetnsState::ipv4Here));
        } catch (IOException | RuntimeException e) {
            // /proc/self, or setns refused: the routes tell which interface holds an address but for shared subnets.
            LOG.log(System.Logger.Level.DEBUG, "IPv4 addresses of " + procPid + " from its routes: " + e);
            addresses.clear();
            ipv4(procPid, addresses);
        }
        ipv6(procPid, addresses);
        Map<String, ApiInstanceState.Network> out = new TreeMap<>();
        for (Map.Entry<String, long[]> e : netDev(procPid).entrySet()) {
            String dev = e.getKey();
            long[] f = e.getValue();
            Path sys = procPid.resolve("root/sys/class/net").resolve(dev);
            String hwaddr = read(sys.resolve("address"));
            int mtu = (int) parseLong(read(sys.resolve("mtu")), 0);
            long flags = parseLong(read(sys.resolve("flags")).replaceFirst("^0x", ""), 16, -1);
            String state = flags < 0 ? "" : (flags & IFF_UP) != 0 ? "up" : "down";
            String type = flags < 0 ? "" : (flags & IFF_LOOPBACK) != 0 ? "loopback"
                    : (flags & IFF_POINTOPOINT) != 0 ? "point-to-point" : "broadcast";
            out.put(dev, new ApiInstanceState.Network(addresses.getOrDefault(dev, List.of()),
                    new ApiInstanceState.NetworkCounters(f[0], f[8], f[1], f[9], f[2], f[10], f[11], f[3]),
                    hwaddr, hostNames.getOrDefault(dev, ""), mtu, state, type));
        }
        return out;
    }

    /**
     * IPv4 addresses of the calling thread's network namespace: the kernel's {@code SIOCGIFCONF}, which the JDK's
     * {@link NetworkInterface} asks on a socket of the calling thread (its IPv6 part reads {@code /proc/net}, the
     * process's namespace, so only IPv4 is taken from it). Alias labels ({@code eth0:1}) count for their interface.
     */
    private static Map<String, List<ApiInstanceState.NetworkAddress>> ipv4Here() throws SocketException {
        Map<String, List<ApiInstanceState.NetworkAddress>> out = new LinkedHashMap<>();
        Enumeration<NetworkInterface> all = NetworkInterface.getNetworkInterfaces();
        List<NetworkInterface> ifs = new ArrayList<>();
        while (all != null && all.hasMoreElements()) {
            NetworkInterface i = all.nextElement();
            ifs.add(i);
            i.subInterfaces().forEach(ifs::add);
        }
        for (NetworkInterface i : ifs) {
            String name = i.getName();
            int colon = name.indexOf(':');
            String dev = colon < 0 ? name : name.substring(0, colon);
            for (InterfaceAddress ia : i.getInterfaceAddresses()) {
                if (ia.getAddress() instanceof Inet4Address a) {
                    byte[] b = a.getAddress();
                    int v = ((b[0] & 255) << 24) | ((b[1] & 255) << 16) | ((b[2] & 255) << 8) | (b[3] & 255);
                    String scope = (v >>> 24) == 127 ? "local" : (v >>> 16) == ((169 << 8) | 254) ? "link" : "global";
                    List<ApiInstanceState.NetworkAddress> l = out.computeIfAbsent(dev, k -> new ArrayList<>());
                    ApiInstanceState.NetworkAddress na = new ApiInstanceState.NetworkAddress("inet",
                            a.getHostAddress(), Short.toString(ia.getNetworkPrefixLength()), scope);
                    if (!l.contains(na)) {
                        l.add(na);
                    }
                }
            }
        }
        return out;
    }

    /**
     * IPv4 without entering the namespace: the local addresses ({@code /32 host LOCAL} leaves of {@code fib_trie}), each given to the interface of
     * the longest connected route ({@code route}, no gateway) that holds it, with that route's prefix; loopback
     * addresses go to {@code lo} with {@code /8}.
     */
    private static void ipv4(Path procPid, Map<String, List<ApiInstanceState.NetworkAddress>> out) {
        List<Integer> locals = new ArrayList<>();
        Integer current = null;
        for (String raw : Trees.lines(procPid.resolve("net/fib_trie"))) {
            String line = raw.trim();
            if (line.startsWith("|-- ")) {
                current = ManagedNetwork.parseIpv4(line.substring(4).trim());
            } else if (line.startsWith("/32 host LOCAL") && current != null && !locals.contains(current)) {
                locals.add(current);
            }
        }
        List<long[]> routes = new ArrayList<>(); // dest, mask, index into names
        List<String> names = new ArrayList<>();
        for (String line : Trees.lines(procPid.resolve("net/route"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 8 || f[0].equals("Iface")) {
                continue;
            }
            try {
                int dest = Integer.reverseBytes(Integer.parseUnsignedInt(f[1], 16));
                int gw = Integer.reverseBytes(Integer.parseUnsignedInt(f[2], 16));
                int mask = Integer.reverseBytes(Integer.parseUnsignedInt(f[7], 16));
                if (gw == 0 && mask != 0) {
                    names.add(f[0]);
                    routes.add(new long[] {dest, mask, names.size() - 1});
                }
            } catch (NumberFormatException e) {
                // Not a route line.
            }
        }
        for (int a : locals) {
            String dev = null;
            int bits = -1;
            if ((a >>> 24) == 127) {
                dev = "lo";
                bits = 8;
            }
            for (long[] r : routes) {
                int mask = (int) r[1];
                if ((a & mask) == (int) r[0] && Integer.bitCount(mask) > bits) {
                    bits = Integer.bitCount(mask);
                    dev = names.get((int) r[2]);
                }
            }
            if (dev != null) {
                String scope = (a >>> 24) == 127 ? "local" : (a >>> 16) == ((169 << 8) | 254) ? "link" : "global";
                out.computeIfAbsent(dev, k -> new ArrayList<>()).add(new ApiInstanceState.NetworkAddress("inet",
                        ManagedNetwork.formatIpv4(a), Integer.toString(bits), scope));
            }
        }
    }

    /** IPv6 from {@code if_inet6}: address, ifindex, prefix, scope, flags, name (hex fields). */
    private static void ipv6(Path procPid, Map<String, List<ApiInstanceState.NetworkAddress>> out) {
        for (String line : Trees.lines(procPid.resolve("net/if_inet6"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 6 || f[0].length() != 32) {
                continue;
            }
            int scope = Integer.parseInt(f[3], 16);
            String s = scope == 0x10 ? "local" : scope == 0x20 ? "link" : "global";
            out.computeIfAbsent(f[5], k -> new ArrayList<>()).add(new ApiInstanceState.NetworkAddress("inet6",
                    formatIpv6(f[0]), Integer.toString(Integer.parseInt(f[2], 16)), s));
        }
    }

    /** RFC 5952 text (as Go prints it): lower case, no leading zeros, the longest run of zero groups as {@code ::}. */
    static String formatIpv6(String hex32) {
        int[] g = new int[8];
        for (int i = 0; i < 8; i++) {
            g[i] = Integer.parseInt(hex32.substring(i * 4, i * 4 + 4), 16);
        }
        int bestStart = -1;
        int bestLen = 1;
        for (int i = 0; i < 8;) {
            if (g[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && g[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(g[i]));
        }
        return sb.toString();
    }

    private static String read(Path p) {
        try {
            return Files.readString(p).strip();
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    private static long parseLong(String s, long dflt) {
        return parseLong(s, 10, dflt);
    }

    private static long parseLong(String s, int radix, long dflt) {
        try {
            return Long.parseLong(s, radix);
        } catch (NumberFormatException e) {
            return dflt;
        }
    }
}
