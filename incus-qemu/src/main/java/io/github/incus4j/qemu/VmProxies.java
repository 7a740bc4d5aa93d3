package io.github.incus4j.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code proxy} devices of a VM as QEMU user-mode networking's host forwarding ({@code hostfwd}): QEMU itself listens
 * on the host and connects to the guest's address on its user-mode NIC, so the forwarder is owned by the VM's QEMU,
 * bounded by it and gone with it. Incus allows only NAT-mode proxies on VMs (a DNAT rule to a static address on a
 * managed bridge), and so does the core's validation ({@code nat=true} is required); {@code hostfwd} is NAT too, but
 * needs no bridge and no static address. A {@code connect} address on the guest's loopback or the wildcard means the guest's
 * user-mode address (QEMU's {@code hostfwd} cannot reach the guest's loopback: a service must listen on the NIC's
 * address or all addresses).
 *
 * <p>Supported: {@code listen=tcp:|udp:<IPv4>:<port or ports>}, {@code connect=} of the same protocol and as many
 * ports, {@code bind=host}. Refused with {@link NotSupportedException}: {@code unix:} addresses, {@code bind=instance},
 * {@code proxy_protocol=true}, IPv6 listen addresses (Debian 12's QEMU 7.2 forwards IPv4 only).
 */
final class VmProxies {
    /** A bound on the host ports one device may forward (each is a rule of QEMU's). */
    static final int MAX_PORTS = 256;
    private static final Duration HMP_TIMEOUT = Duration.ofSeconds(5);
    private static final Set<String> KEYS = Set.of("type", "listen", "connect", "bind", "nat", "proxy_protocol",
            "security.uid", "security.gid", "uid", "gid", "mode", "description");

    private VmProxies() {
    }

    /** One forwarding rule in {@code hostfwd}'s syntax ({@code tcp:127.0.0.1:8080-:80}) and its removal key. */
    record Rule(String protocol, String hostAddress, int hostPort, String guestAddress, int guestPort) {
        String hostfwd() {
            return protocol + ":" + hostAddress + ":" + hostPort + "-" + guestAddress + ":" + guestPort;
        }

        /** {@code hostfwd_remove}'s argument: the host side only. */
        String hostSide() {
            return protocol + ":" + hostAddress + ":" + hostPort;
        }
    }

    /** The rules of every {@code proxy} device in {@code devices}, in device-name order. */
    static List<Rule> rules(Map<String, Device> devices) {
        List<Rule> out = new ArrayList<>();
        new java.util.TreeMap<>(devices).forEach((name, d) -> {
            if ("proxy".equals(d.type())) {
                out.addAll(rules(name, d));
            }
        });
        return out;
    }

    /**
     * The rules of one {@code proxy} device.
     *
     * @throws NotSupportedException for what QEMU's forwarding cannot do (named in the message)
     * @throws InvalidArgumentException for a malformed address (Incus's texts where it has one)
     */
    static List<Rule> rules(String name, Device d) {
        for (String k : d.config().keySet()) {
            if (!KEYS.contains(k) && !k.startsWith("user.")) {
                throw new NotSupportedException("Device option " + ErrorTexts.quote(k) + " of proxy device "
                        + ErrorTexts.quote(name) + " is not supported by the qemu driver");
            }
        }
        String bind = d.config().getOrDefault("bind", "host");
        if (bind.equals("instance")) {
            throw new NotSupportedException("Proxy device " + ErrorTexts.quote(name) + ": bind=instance is not"
                    + " supported for virtual machines by the qemu driver (it forwards from the host only)");
        }
        if (!bind.isEmpty() && !bind.equals("host")) {
            throw new InvalidArgumentException("Invalid binding side given. Must be \"host\" or \"instance\"");
        }
        if (isTrue(d.get("proxy_protocol"))) {
            throw new NotSupportedException("Proxy device " + ErrorTexts.quote(name) + ": proxy_protocol is not"
                    + " supported for virtual machines by the qemu driver");
        }
        Address listen = Address.parse(name, "listen", d.get("listen"));
        Address connect = Address.parse(name, "connect", d.get("connect"));
        if (!listen.protocol.equals(connect.protocol)) {
            throw new NotSupportedException("Proxying " + listen.protocol + " <-> " + connect.protocol
                    + " is not supported when using NAT");
        }
        if (connect.ports.size() != 1 && connect.ports.size() != listen.ports.size()) {
            throw new InvalidArgumentException("Mismatch between listen port(s) and connect port(s) count");
        }
        String guest = guestAddress(connect.host);
        List<Rule> out = new ArrayList<>();
        for (int i = 0; i < listen.ports.size(); i++) {
            int to = connect.ports.size() == 1 ? connect.ports.get(0) : connect.ports.get(i);
            out.add(new Rule(listen.protocol, listen.host, listen.ports.get(i), guest, to));
        }
        return out;
    }

    /** The guest address of a rule: empty (QEMU's first DHCP address, the guest's) for loopback and wildcards. */
    private static String guestAddress(String host) {
        return switch (host) {
            case "", "127.0.0.1", "0.0.0.0", "localhost" -> "";
            default -> host;
        };
    }

    private static boolean isTrue(String v) {
        return v != null && Set.of("true", "1", "yes", "on").contains(v.toLowerCase(java.util.Locale.ROOT));
    }

    /** Adds {@code rules} to the running user-mode netdev {@code netdev} (QMP's {@code human-monitor-command}). */
    static void add(QmpClient qmp, String netdev, List<Rule> rules) {
        List<Rule> done = new ArrayList<>();
        try {
            for (Rule r : rules) {
                hmp(qmp, "hostfwd_add " + netdev + " " + r.hostfwd());
                done.add(r);
            }
        } catch (RuntimeException e) {
            remove(qmp, netdev, done);
            throw e;
        }
    }

    /** Removes {@code rules} from the running netdev; a rule that is already gone is no error. */
    static void remove(QmpClient qmp, String netdev, List<Rule> rules) {
        IncusException first = null;
        for (Rule r : rules) {
            String command = "hostfwd_remove " + netdev + " " + r.hostSide();
            String text = hmpText(qmp, command);
            // QEMU answers "host forwarding rule for <rule> removed" or "... not found".
            if (!text.endsWith(" removed") && !text.endsWith(" not found") && first == null) {
                first = new IncusException("QEMU refused " + ErrorTexts.quote(command) + ": " + text);
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** HMP's {@code hostfwd_add} prints nothing on success and the error otherwise. */
    private static void hmp(QmpClient qmp, String command) {
        String text = hmpText(qmp, command);
        if (!text.isEmpty()) {
            throw new IncusException("QEMU refused " + ErrorTexts.quote(command) + ": " + text);
        }
    }

    private static String hmpText(QmpClient qmp, String command) {
        JsonNode r = qmp.execute("human-monitor-command", Map.of("command-line", command), HMP_TIMEOUT);
        return r == null || r.isNull() ? "" : r.asText("").trim();
    }

    /** A parsed {@code tcp:<host>:<ports>} address. */
    private record Address(String protocol, String host, List<Integer> ports) {
        static Address parse(String device, String key, String value) {
            if (value == null || value.isEmpty()) {
                throw new InvalidArgumentException("Invalid value for device option " + ErrorTexts.quote(key)
                        + ": Required value");
            }
            int colon = value.indexOf(':');
            String protocol = colon < 0 ? "" : value.substring(0, colon);
            if (protocol.equals("unix")) {
                throw new NotSupportedException("Proxy device " + ErrorTexts.quote(device) + ": unix sockets ("
                        + key + "=" + value + ") are not supported for virtual machines by the qemu driver");
            }
            if (!protocol.equals("tcp") && !protocol.equals("udp")) {
                throw new InvalidArgumentException("Invalid value for device option " + ErrorTexts.quote(key)
                        + ": Invalid listen address type " + ErrorTexts.quote(protocol));
            }
            String rest = value.substring(colon + 1);
            if (rest.startsWith("[")) {
                throw new NotSupportedException("Proxy device " + ErrorTexts.quote(device) + ": IPv6 addresses ("
                        + key + "=" + value + ") are not supported for virtual machines by the qemu driver");
            }
            int last = rest.lastIndexOf(':');
            if (last < 0) {
                throw new InvalidArgumentException("Invalid value for device option " + ErrorTexts.quote(key)
                        + ": Invalid address " + ErrorTexts.quote(value) + " (expected " + protocol
                        + ":<address>:<port>)");
            }
            String host = rest.substring(0, last);
            if (!host.isEmpty() && !host.equals("localhost")
                    && !host.matches("(25[0-5]|2[0-4]\\d|1?\\d?\\d)(\\.(25[0-5]|2[0-4]\\d|1?\\d?\\d)){3}")) {
                throw new InvalidArgumentException("Invalid value for device option " + ErrorTexts.quote(key)
                        + ": Invalid IPv4 address " + ErrorTexts.quote(host));
            }
            return new Address(protocol, host.equals("localhost") ? "127.0.0.1" : host,
                    ports(key, rest.substring(last + 1)));
        }

        /** {@code 80}, {@code 80,443}, {@code 8000-8010} or a mix, as Incus's {@code ParsePortRange}. */
        private static List<Integer> ports(String key, String spec) {
            List<Integer> out = new ArrayList<>();
            for (String part : spec.split(",", -1)) {
                String[] range = part.split("-", -1);
                if (range.length > 2) {
                    throw badPort(key, part);
                }
                int from = port(key, range[0]);
                int to = range.length == 2 ? port(key, range[1]) : from;
                if (to < from) {
                    throw badPort(key, part);
                }
                for (int p = from; p <= to; p++) {
                    if (out.size() == MAX_PORTS) {
                        throw new NotSupportedException("Proxy " + key + " " + ErrorTexts.quote(spec)
                                + " has more than " + MAX_PORTS + " ports");
                    }
                    out.add(p);
                }
            }
            return out;
        }

        private static int port(String key, String s) {
            try {
                int p = Integer.parseInt(s);
                if (p < 1 || p > 65535) {
                    throw badPort(key, s);
                }
                return p;
            } catch (NumberFormatException e) {
                throw badPort(key, s);
            }
        }

        private static InvalidArgumentException badPort(String key, String s) {
            return new InvalidArgumentException("Invalid value for device option " + ErrorTexts.quote(key)
                    + ": Invalid port " + ErrorTexts.quote(s));
        }
    }
}
