package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.rest.ApiInstanceState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;

/**
 * {@code nic} devices of a VM, in device-name order (the guest sees them as {@code eth0}, {@code eth1}, ...):
 *
 * <ul>
 *   <li>{@code nictype=bridged parent=<bridge>}: as Incus, a tap device the driver creates ({@code tap} and 8 random
 *       hex digits, or {@code host_name}), attached to the bridge and up, recorded in
 *       {@code volatile.<dev>.host_name}, removed when the VM stops; QEMU's {@code -netdev tap} and a
 *       {@code virtio-net-pci} with the MAC of {@code hwaddr} or {@code volatile.<dev>.hwaddr} (generated with Incus's
 *       {@code 10:66:6a} prefix). Creating taps needs root and {@code /dev/net/tun}.</li>
 *   <li>{@code nictype=p2p}: <b>QEMU user-mode networking</b> ({@code -netdev user}, libslirp), the network for hosts
 *       without a bridge and for unprivileged use. This is the driver's explicit choice, not Incus's: Incus's p2p
 *       NIC is a host tap with no bridge, which needs root and host-side routing. User-mode networking is the
 *       point-to-point link to the host: the guest gets 10.0.2.15/24 by DHCP and {@code proxy} devices forward into
 *       it. <b>Safer than Incus</b>: the link is {@code restrict=on}, so the guest reaches nothing through it, not
 *       the host (libslirp would map 10.0.2.2 to the host's loopback, where local services trust their clients)
 *       and not the outside; only the host's forwards come in. {@code host_name}, {@code mtu} and the routing keys of
 *       Incus's p2p NIC are refused for it.</li>
 * </ul>
 *
 * The driver's own channel to the guest's SSH server (interactive exec) and the {@code proxy} forwards go over the
 * first p2p NIC; when the VM has none, over a <b>management NIC</b> the driver adds last: user-mode with
 * {@code restrict=on} (the guest can reach nothing through it), MAC {@link #MGMT_MAC}. {@code renderState} and the
 * metrics leave that NIC out: the user's devices are what the state shows. Other nic types, {@code network=} and
 * keys beyond those named are refused with {@link NotSupportedException}.
 */
final class VmNics {
    /** The management NIC's MAC: fixed, so that the guest's view of it can be told apart and left out. */
    static final String MGMT_MAC = "52:54:00:69:34:6a";
    static final String MGMT_NETDEV = "incus4j_mgmt";
    private static final Duration TOOL_WAIT = Duration.ofSeconds(10);
    private static final Set<String> BRIDGED_KEYS = Set.of("type", "nictype", "parent", "hwaddr", "host_name", "mtu");
    private static final Set<String> USER_KEYS = Set.of("type", "nictype", "hwaddr");

    enum Kind { BRIDGED, USER }

    /** One NIC as started. */
    record Nic(String device, Kind kind, String hwaddr, String parent, String hostName, String mtu) {
        String netdev() {
            return "incus_" + device;
        }
    }

    final List<Nic> nics;
    /** Volatile keys the plan set ({@code hwaddr}, {@code host_name}) to be recorded. */
    final Map<String, String> volatileChanges;

    private VmNics(List<Nic> nics, Map<String, String> volatileChanges) {
        this.nics = nics;
        this.volatileChanges = volatileChanges;
    }

    /**
     * The NICs of {@code devices}, with MAC addresses from {@code volatile} where recorded, else generated, and tap
     * names chosen (not created).
     */
    static VmNics plan(Map<String, Device> devices, Function<String, String> volatileGet) {
        List<Nic> out = new ArrayList<>();
        Map<String, String> changes = new LinkedHashMap<>();
        new TreeMap<>(devices).forEach((name, d) -> {
            if (!"nic".equals(d.type())) {
                return;
            }
            if (d.get("network") != null) {
                throw new NotSupportedException("NIC " + ErrorTexts.quote(name) + ": managed networks (network="
                        + d.get("network") + ") are not supported for virtual machines by the qemu driver; use"
                        + " nictype=bridged with parent=<bridge>, or nictype=p2p for QEMU user-mode networking");
            }
            String type = d.config().getOrDefault("nictype", "");
            Kind kind = switch (type) {
                case "bridged" -> Kind.BRIDGED;
                case "p2p" -> Kind.USER;
                default -> throw new NotSupportedException("NIC " + ErrorTexts.quote(name) + ": nictype "
                        + ErrorTexts.quote(type) + " is not supported for virtual machines by the qemu driver"
                        + " (bridged, p2p)");
            };
            Set<String> allowed = kind == Kind.BRIDGED ? BRIDGED_KEYS : USER_KEYS;
            for (String k : new TreeMap<>(d.config()).keySet()) {
                if (!allowed.contains(k) && !k.startsWith("user.")) {
                    throw new NotSupportedException("Device option " + ErrorTexts.quote(k) + " of NIC "
                            + ErrorTexts.quote(name) + " (nictype=" + type + ") is not supported by the qemu driver");
                }
            }
            String mac = d.get("hwaddr");
            if (mac == null || mac.isEmpty()) {
                mac = volatileGet.apply("volatile." + name + ".hwaddr");
            }
            if (mac == null || mac.isEmpty()) {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                mac = String.format("10:66:6a:%02x:%02x:%02x", r.nextInt(256), r.nextInt(256), r.nextInt(256));
                changes.put("volatile." + name + ".hwaddr", mac);
            }
            String host = null;
            String parent = null;
            if (kind == Kind.BRIDGED) {
                parent = d.get("parent");
                if (parent == null || parent.isEmpty() || !Files.isDirectory(Path.of("/sys/class/net", parent))) {
                    throw new io.github.incus4j.api.NotFoundException("Parent device '" + parent
                            + "' doesn't exist");
                }
                if (!Files.isDirectory(Path.of("/sys/class/net", parent, "bridge"))) {
                    throw new io.github.incus4j.api.InvalidArgumentException("NIC " + ErrorTexts.quote(name)
                            + ": parent " + ErrorTexts.quote(parent) + " is not a bridge");
                }
                host = d.get("host_name");
                if (host == null || host.isEmpty()) {
                    byte[] b = new byte[4];
                    ThreadLocalRandom.current().nextBytes(b);
                    host = "tap" + HexFormat.of().formatHex(b);
                }
            }
            out.add(new Nic(name, kind, mac.toLowerCase(Locale.ROOT), parent, host, d.get("mtu")));
        });
        return new VmNics(List.copyOf(out), changes);
    }

    /** The netdev that carries the driver's SSH forward and the proxies: the first p2p NIC, else the management NIC. */
    String forwardNetdev() {
        return nics.stream().filter(n -> n.kind() == Kind.USER).map(Nic::netdev).findFirst().orElse(MGMT_NETDEV);
    }

    /** {@link #forwardNetdev()} of a running VM with {@code devices}, without planning its NICs again. */
    static String forwardNetdev(Map<String, Device> devices) {
        for (Map.Entry<String, Device> e : new TreeMap<>(devices).entrySet()) {
            if ("nic".equals(e.getValue().type()) && "p2p".equals(e.getValue().get("nictype"))
                    && e.getValue().get("network") == null) {
                return "incus_" + e.getKey();
            }
        }
        return MGMT_NETDEV;
    }

    /**
     * The QEMU arguments of the NICs (and the management NIC when needed), with {@code hostfwd} rules, each NIC behind
     * a root port of its own from {@code ports} (so that it can be unplugged).
     */
    List<String> args(List<String> hostfwds, PciePorts ports) {
        List<String> a = new ArrayList<>();
        String fwd = forwardNetdev();
        StringBuilder rules = new StringBuilder();
        for (String r : hostfwds) {
            rules.append(",hostfwd=").append(r);
        }
        for (Nic n : nics) {
            if (n.kind() == Kind.BRIDGED) {
                a.addAll(List.of("-netdev", "tap,id=" + n.netdev() + ",ifname=" + n.hostName()
                        + ",script=no,downscript=no"));
            } else {
                // restrict=on: the guest reaches nothing beyond the link (slirp maps 10.0.2.2 to the host's
                // loopback, where services trust local clients); hostfwd rules still forward into the guest.
                a.addAll(List.of("-netdev", "user,id=" + n.netdev() + ",restrict=on"
                        + (n.netdev().equals(fwd) ? rules : "")));
            }
            String port = ports.add(a);
            a.addAll(List.of("-device", "virtio-net-pci,netdev=" + n.netdev() + ",id=dev-" + n.netdev() + ",mac="
                    + n.hwaddr() + (n.mtu() != null && !n.mtu().isEmpty() ? ",host_mtu=" + n.mtu() : "")
                    + PciePorts.on(port)));
        }
        if (fwd.equals(MGMT_NETDEV)) {
            a.addAll(List.of("-netdev", "user,id=" + MGMT_NETDEV + ",restrict=on" + rules));
            String port = ports.add(a);
            a.addAll(List.of("-device", "virtio-net-pci,netdev=" + MGMT_NETDEV + ",id=dev-" + MGMT_NETDEV + ",mac="
                    + MGMT_MAC + PciePorts.on(port)));
        }
        return a;
    }

    /**
     * Creates the taps of the bridged NICs, attached to their bridges and up; on failure removes those it made.
     *
     * @return the {@code volatile.<dev>.host_name} keys to record
     */
    Map<String, String> createTaps() {
        Map<String, String> made = new LinkedHashMap<>();
        try {
            for (Nic n : nics) {
                if (n.kind() != Kind.BRIDGED) {
                    continue;
                }
                ip("tuntap", "add", "dev", n.hostName(), "mode", "tap");
                made.put("volatile." + n.device() + ".host_name", n.hostName());
                if (n.mtu() != null && !n.mtu().isEmpty()) {
                    ip("link", "set", "dev", n.hostName(), "mtu", n.mtu());
                }
                ip("link", "set", "dev", n.hostName(), "master", n.parent());
                ip("link", "set", "dev", n.hostName(), "up");
            }
        } catch (RuntimeException e) {
            made.values().forEach(VmNics::removeQuietly);
            throw e;
        }
        return made;
    }

    /**
     * Removes the taps recorded for the bridged NICs of {@code devices} in {@code volatile.<dev>.host_name}.
     *
     * @return the volatile keys to clear
     */
    static Map<String, String> removeTaps(Map<String, Device> devices, Function<String, String> volatileGet) {
        Map<String, String> clear = new HashMap<>();
        devices.forEach((name, d) -> {
            if ("nic".equals(d.type()) && "bridged".equals(d.get("nictype"))) {
                String key = "volatile." + name + ".host_name";
                String host = volatileGet.apply(key);
                if (host != null && !host.isEmpty()) {
                    removeQuietly(host);
                    clear.put(key, "");
                }
            }
        });
        return clear;
    }

    private static void removeQuietly(String host) {
        if (Files.isDirectory(Path.of("/sys/class/net", host))) {
            try {
                ip("link", "delete", "dev", host);
            } catch (IncusException e) {
                System.getLogger(VmNics.class.getName()).log(System.Logger.Level.DEBUG, "Cannot remove {0}: {1}",
                        host, e.getMessage());
            }
        }
    }

    private static void ip(String... args) {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        QemuHost.run(cmd, TOOL_WAIT);
    }

    // ---- state ------------------------------------------------------------------------------------------------

    /**
     * The guest's interfaces as its agent reports them, without the management NIC, each NIC device's interface
     * given its tap's name as {@code host_name} (matched by MAC).
     */
    static Map<String, ApiInstanceState.Network> guestView(Map<String, ApiInstanceState.Network> guest,
            Map<String, Device> devices, Function<String, String> volatileGet) {
        Map<String, String> hostByMac = new HashMap<>();
        devices.forEach((name, d) -> {
            if ("nic".equals(d.type())) {
                String mac = d.get("hwaddr") != null ? d.get("hwaddr") : volatileGet.apply("volatile." + name
                        + ".hwaddr");
                String host = volatileGet.apply("volatile." + name + ".host_name");
                if (mac != null) {
                    hostByMac.put(mac.toLowerCase(Locale.ROOT), host == null ? "" : host);
                }
            }
        });
        Map<String, ApiInstanceState.Network> out = new TreeMap<>();
        guest.forEach((name, n) -> {
            String mac = n.hwaddr() == null ? "" : n.hwaddr().toLowerCase(Locale.ROOT);
            if (mac.equals(MGMT_MAC)) {
                return;
            }
            String host = hostByMac.getOrDefault(mac, n.hostName());
            out.put(name, new ApiInstanceState.Network(n.addresses(), n.counters(), n.hwaddr(), host, n.mtu(),
                    n.state(), n.type()));
        });
        return out;
    }

    /**
     * What the host knows of the NICs when the guest's agent does not answer (as Incus without its agent): each NIC
     * device by its name, its MAC, and for a bridged NIC its tap's counters seen from the guest's side (the tap's
     * receive is the guest's transmit).
     */
    static Map<String, ApiInstanceState.Network> hostView(Map<String, Device> devices,
            Function<String, String> volatileGet) {
        Map<String, ApiInstanceState.Network> out = new TreeMap<>();
        devices.forEach((name, d) -> {
            if (!"nic".equals(d.type())) {
                return;
            }
            String mac = d.get("hwaddr") != null ? d.get("hwaddr") : volatileGet.apply("volatile." + name
                    + ".hwaddr");
            String host = volatileGet.apply("volatile." + name + ".host_name");
            ApiInstanceState.NetworkCounters c = new ApiInstanceState.NetworkCounters(0, 0, 0, 0, 0, 0, 0, 0);
            int mtu = 1500;
            if (host != null && !host.isEmpty()) {
                Path s = Path.of("/sys/class/net", host, "statistics");
                c = new ApiInstanceState.NetworkCounters(stat(s, "tx_bytes"), stat(s, "rx_bytes"),
                        stat(s, "tx_packets"), stat(s, "rx_packets"), stat(s, "tx_errors"), stat(s, "rx_errors"),
                        stat(s, "rx_dropped"), stat(s, "tx_dropped"));
                mtu = (int) stat(Path.of("/sys/class/net", host), "mtu");
            }
            out.put(name, new ApiInstanceState.Network(List.of(), c, mac == null ? "" : mac,
                    host == null ? "" : host, mtu, "up", "broadcast"));
        });
        return out;
    }

    private static long stat(Path dir, String name) {
        try {
            return Long.parseLong(Files.readString(dir.resolve(name)).trim());
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }
}
