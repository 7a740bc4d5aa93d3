package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.spi.DeviceSupport;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * The {@code nic} devices of a container, turned into liblxc network settings at start as Incus's {@code nic_p2p},
 * {@code nic_bridged} and {@code nic_macvlan} do: a veth pair (host side {@code host_name}, or Incus's generated
 * {@code veth<8 hex>}) standing alone ({@code p2p}) or attached to a bridge ({@code bridged}: {@code parent}, or
 * {@code network}, a network the driver manages), or a macvlan on {@code parent}. Interfaces come up with
 * {@code flags=up} as Incus sets it. The volatile keys are Incus's: {@code volatile.<dev>.hwaddr} ({@code 10:66:6a}
 * prefix) and {@code volatile.<dev>.name} when the device has none, {@code volatile.<dev>.host_name} while running
 * (a recorded name another interface now has is replaced, never removed: liblxc's interfaces cannot go stale).
 *
 * <p>liblxc makes and removes the interfaces (the container's end goes with its network namespace), so nothing is left
 * on the host after the container stops, even when the JVM died meanwhile.
 */
final class LxcNics {
    /** Incus 6.0's default {@code network.hwaddr_pattern} prefix. */
    static final String HWADDR_PREFIX = "10:66:6a:";
    private static final Set<String> NIC_TYPES = Set.of("p2p", "bridged", "macvlan");
    private static final Set<String> COMMON_KEYS = Set.of("type", "nictype", "name", "hwaddr", "mtu");
    private static final Map<String, Set<String>> KEYS = Map.of(
            "p2p", Set.of("host_name"),
            "bridged", Set.of("host_name", "parent", "network", "ipv4.address"),
            "macvlan", Set.of("parent"));
    private static final Pattern HWADDR = Pattern.compile("([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}");
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.:@-]{1,15}");
    private static final SecureRandom RANDOM = new SecureRandom();

    private LxcNics() {
    }

    /** What a start applies: the liblxc lines, the volatile keys to set, the static DHCP leases to write. */
    record Plan(List<String> lines, Map<String, String> volatiles, List<StaticLease> leases, List<Nic> nics) {
    }

    /**
     * One NIC as applied: its type, the container-side name, hwaddr and mtu (null: the kernel's), the host side
     * ({@code null} for a macvlan) and the link (bridge or macvlan parent, null for p2p).
     */
    record Nic(String device, String type, String name, String hwaddr, String mtu, String hostName, String link) {
    }

    /** A {@code ipv4.address} on a managed network: dnsmasq's {@code dhcp-host} for the NIC's hwaddr. */
    record StaticLease(ManagedNetwork network, String device, String hwaddr, String address) {
    }

    /** The options applied for NIC type {@code nicType} ({@code p2p}, {@code bridged}, {@code macvlan}). */
    static Set<String> options(String nicType) {
        Set<String> out = new HashSet<>(COMMON_KEYS);
        out.addAll(KEYS.get(nicType));
        out.removeAll(Set.of("type", "nictype"));
        return Set.copyOf(out);
    }

    /** The NIC types applied. */
    static Set<String> nicTypes() {
        return NIC_TYPES;
    }

    /** The effective NIC type: {@code bridged} for a {@code network} device (the only kind of network managed here). */
    static String nicType(Device d) {
        return d.get("network") != null ? "bridged" : d.config().getOrDefault("nictype", "");
    }

    /**
     * Checks the values of {@code hwaddr}, {@code name} and {@code host_name} of the {@code nic} devices this driver
     * applies. NIC types and options it does not apply are left to Incus's validation and then to
     * {@link LxcInstances#applied} (create and update), which {@link #plan} applies again.
     *
     * @throws InvalidArgumentException naming a bad value
     */
    static void check(Devices devices) {
        for (Map.Entry<String, Device> e : new TreeMap<>(devices.map()).entrySet()) {
            Device d = e.getValue();
            if (!"nic".equals(d.type()) || !NIC_TYPES.contains(nicType(d))) {
                continue;
            }
            String hwaddr = d.get("hwaddr");
            if (hwaddr != null && !hwaddr.isEmpty() && !HWADDR.matcher(hwaddr).matches()) {
                throw new InvalidArgumentException("Invalid value for device option \"hwaddr\": Invalid MAC address "
                        + ErrorTexts.quote(hwaddr));
            }
            for (String k : List.of("name", "host_name")) {
                String v = d.get(k);
                if (v != null && !v.isEmpty() && !IFNAME.matcher(v).matches()) {
                    throw new InvalidArgumentException("Invalid value for device option " + ErrorTexts.quote(k)
                            + ": Invalid interface name " + ErrorTexts.quote(v));
                }
            }
        }
    }

    /**
     * Plans the NICs of a start: liblxc's {@code lxc.net.N.*} lines (an {@code empty} network when there is no NIC),
     * the volatile keys (generated hwaddr, name and host name), and the static leases.
     *
     * @param local the instance's local config (volatile keys already generated are reused)
     * @param networks the driver's managed networks by name (null when not declared)
     * @param interfaceExists whether a host interface of that name exists
     * @throws NotFoundException for an undeclared {@code network}
     * @throws InvalidArgumentException for a missing parent, a static address outside the network's subnet...
     */
    static Plan plan(Devices devices, Map<String, String> local, Function<String, ManagedNetwork> networks,
            Predicate<String> interfaceExists) {
        DeviceSupport applied = LxcInstances.applied(LxcDriver.NAME);
        for (Map.Entry<String, Device> e : new TreeMap<>(devices.map()).entrySet()) {
            String refusal = "nic".equals(e.getValue().type())
                    ? applied.refusal(InstanceType.CONTAINER, e.getKey(), e.getValue()) : null;
            if (refusal != null) {
                throw new NotSupportedException(refusal);
            }
        }
        check(devices);
        List<String> lines = new ArrayList<>();
        Map<String, String> volatiles = new LinkedHashMap<>();
        List<StaticLease> leases = new ArrayList<>();
        List<Map.Entry<String, Device>> nics = new ArrayList<>();
        Set<String> taken = new HashSet<>();
        for (Map.Entry<String, Device> e : devices.sorted()) {
            if ("nic".equals(e.getValue().type())) {
                nics.add(e);
                String name = e.getValue().get("name");
                taken.add(name != null && !name.isEmpty() ? name : local.getOrDefault("volatile." + e.getKey()
                        + ".name", ""));
            }
        }
        if (nics.isEmpty()) {
            lines.add("lxc.net.0.type = empty");
            lines.add("lxc.net.0.flags = up");
            return new Plan(lines, volatiles, leases, List.of());
        }
        List<Nic> planned = new ArrayList<>();
        int n = 0;
        Set<String> usedHostNames = new HashSet<>();
        for (Map.Entry<String, Device> e : nics) {
            String dev = e.getKey();
            Device d = e.getValue();
            String type = nicType(d);
            String prefix = "lxc.net." + n++ + ".";
            String hwaddr = nonEmpty(d.get("hwaddr"), local.get("volatile." + dev + ".hwaddr"));
            if (hwaddr == null) {
                hwaddr = randomHwaddr();
                volatiles.put("volatile." + dev + ".hwaddr", hwaddr);
            }
            String name = nonEmpty(d.get("name"), local.get("volatile." + dev + ".name"));
            if (name == null) {
                name = nextName(taken);
                taken.add(name);
                volatiles.put("volatile." + dev + ".name", name);
            }
            String mtu = d.get("mtu");
            ManagedNetwork network = null;
            String parent = d.get("parent");
            if (d.get("network") != null) {
                network = networks.apply(d.get("network"));
                if (network == null) {
                    throw new NotFoundException("Error loading network config for "
                            + ErrorTexts.quote(d.get("network")) + ": Network not found");
                }
                parent = network.name();
                if (mtu == null) {
                    mtu = network.mtu();
                }
            } else if (parent != null) {
                network = networks.apply(parent);
            }
            if (parent != null && !interfaceExists.test(parent)) {
                throw new InvalidArgumentException(type.equals("macvlan")
                        ? "Parent device '" + parent + "' doesn't exist"
                        : "Parent device " + ErrorTexts.quote(parent) + " doesn't exist");
            }
            String address = d.get("ipv4.address");
            if (address != null && !address.isEmpty()) {
                if (network == null) {
                    throw new InvalidArgumentException("Device " + ErrorTexts.quote(dev)
                            + ": \"ipv4.address\" needs a network managed by the driver (\"network\" property)");
                }
                network.checkStaticAddress(address);
                leases.add(new StaticLease(network, dev, hwaddr, address));
            }
            String hostSide = null;
            switch (type) {
                case "macvlan" -> {
                    lines.add(prefix + "type = macvlan");
                    lines.add(prefix + "macvlan.mode = bridge");
                    lines.add(prefix + "link = " + parent);
                }
                default -> {
                    String hostName = d.get("host_name");
                    if (hostName != null && !hostName.isEmpty()) {
                        if (interfaceExists.test(hostName)) {
                            throw new IncusException("Failed to start device " + ErrorTexts.quote(dev)
                                    + ": host interface " + ErrorTexts.quote(hostName) + " already exists");
                        }
                    } else {
                        // A recorded name in use belongs to someone else (the interfaces go with the container's
                        // namespace, so none of ours is ever stale): a copy of a running container carries one.
                        hostName = local.get("volatile." + dev + ".host_name");
                        while (hostName == null || hostName.isEmpty() || interfaceExists.test(hostName)
                                || usedHostNames.contains(hostName)) {
                            hostName = "veth" + HexFormat.of().formatHex(randomBytes(4));
                        }
                    }
                    usedHostNames.add(hostName);
                    hostSide = hostName;
                    volatiles.put("volatile." + dev + ".host_name", hostName);
                    lines.add(prefix + "type = veth");
                    lines.add(prefix + "veth.pair = " + hostName);
                    if (type.equals("bridged")) {
                        lines.add(prefix + "link = " + parent);
                    }
                }
            }
            lines.add(prefix + "name = " + name);
            lines.add(prefix + "hwaddr = " + hwaddr);
            if (mtu != null && !mtu.isEmpty()) {
                lines.add(prefix + "mtu = " + mtu);
            }
            lines.add(prefix + "flags = up");
            planned.add(new Nic(dev, type, name, hwaddr, mtu == null || mtu.isEmpty() ? null : mtu, hostSide,
                    parent));
        }
        // An empty entry with flags=up is liblxc's way to bring the loopback up (a distribution's init would; busybox's
        // does not), so services listening on 127.0.0.1 inside are reachable by proxies as on Incus.
        lines.add("lxc.net." + n + ".type = empty");
        lines.add("lxc.net." + n + ".flags = up");
        return new Plan(lines, volatiles, leases, planned);
    }

    /** The volatile keys a stop clears: each NIC's {@code host_name} (its interface is gone with the container). */
    static Map<String, String> stopVolatiles(Map<String, String> local) {
        Map<String, String> out = new HashMap<>();
        for (String k : local.keySet()) {
            if (k.startsWith("volatile.") && k.endsWith(".host_name")) {
                out.put(k, "");
            }
        }
        return out;
    }

    /**
     * Which host interface each NIC's container-side name has: the container name {@code eth0} to
     * {@code volatile.eth0.host_name}, for the state's {@code host_name}.
     */
    static Map<String, String> hostNames(Devices devices, Map<String, String> local) {
        Map<String, String> out = new HashMap<>();
        devices.map().forEach((dev, d) -> {
            if ("nic".equals(d.type())) {
                String name = nonEmpty(d.get("name"), local.get("volatile." + dev + ".name"));
                String host = local.get("volatile." + dev + ".host_name");
                if (name != null && host != null && !host.isEmpty()) {
                    out.put(name, host);
                }
            }
        });
        return out;
    }

    /** A host interface exists (any namespace-visible link of this host's network namespace). */
    static boolean hostInterfaceExists(String name) {
        return Files.exists(Path.of("/sys/class/net", name));
    }

    /** A MAC address with Incus's default pattern {@code 10:66:6a:xx:xx:xx}. */
    static String randomHwaddr() {
        byte[] b = randomBytes(3);
        return HWADDR_PREFIX + HexFormat.ofDelimiter(":").formatHex(b);
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }

    /** Incus's {@code FillNetworkDevice}: the first {@code ethN} no other NIC of the container uses. */
    private static String nextName(Set<String> taken) {
        for (int i = 0;; i++) {
            if (!taken.contains("eth" + i)) {
                return "eth" + i;
            }
        }
    }

    private static String nonEmpty(String a, String b) {
        if (a != null && !a.isEmpty()) {
            return a;
        }
        return b != null && !b.isEmpty() ? b : null;
    }
}
