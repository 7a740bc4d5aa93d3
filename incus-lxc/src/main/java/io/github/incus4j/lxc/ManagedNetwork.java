package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.lxc.binding.LxcTool;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A bridge network the driver manages, as Incus's {@code bridge} network driver ({@code incusbr0}): a Linux bridge
 * named after the network with the host address of {@code ipv4.address}, DHCP and DNS from a {@code dnsmasq} the driver
 * spawns (Debian's {@code dnsmasq-base}), and with {@code ipv4.nat=true} a masquerade rule in the nftables table
 * {@code ip incus4j_<name>}. Its files live in {@code <root>/networks/<name>/}: the leases, the static allocations
 * ({@code dnsmasq.hosts/}, one file per NIC with an {@code ipv4.address}), dnsmasq's log and pid.
 *
 * <p>Keys (Incus's names): {@code ipv4.address} (required, {@code <host address>/<prefix>}), {@code ipv4.nat}
 * (default false), {@code ipv4.dhcp} (default true), {@code ipv4.dhcp.ranges} ({@code first-last[,first-last]}, default
 * the subnet's second to second-last address), {@code dns.domain} (default {@code incus}), {@code bridge.mtu}.
 */
final class ManagedNetwork implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ManagedNetwork.class.getName());
    static final Set<String> KEYS = Set.of("ipv4.address", "ipv4.nat", "ipv4.dhcp", "ipv4.dhcp.ranges", "dns.domain",
            "bridge.mtu");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,14}");
    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration DNSMASQ_READY = Duration.ofSeconds(10);
    private static final Duration DNSMASQ_STOP = Duration.ofSeconds(5);

    private final String name;
    private final Map<String, String> config;
    private final Path dir;
    private final int hostAddress;
    private final int prefix;
    private final boolean dhcp;
    private final boolean nat;
    private Process dnsmasq;
    private boolean createdBridge;

    private ManagedNetwork(String name, Map<String, String> config, Path dir) {
        this.name = name;
        this.config = Map.copyOf(new TreeMap<>(config));
        this.dir = dir;
        String cidr = config.get("ipv4.address");
        if (cidr == null || cidr.isEmpty()) {
            throw new InvalidArgumentException("Invalid value for network " + ErrorTexts.quote(name)
                    + " option \"ipv4.address\": Required value (an address with its prefix, e.g. 10.214.1.1/24)");
        }
        int slash = cidr.indexOf('/');
        Integer addr = slash < 0 ? null : parseIpv4(cidr.substring(0, slash));
        int p = -1;
        try {
            p = slash < 0 ? -1 : Integer.parseInt(cidr.substring(slash + 1));
        } catch (NumberFormatException e) {
            p = -1;
        }
        if (addr == null || p < 8 || p > 30) {
            throw new InvalidArgumentException("Invalid value for network " + ErrorTexts.quote(name)
                    + " option \"ipv4.address\": " + ErrorTexts.quote(cidr)
                    + " is not an IPv4 address with a prefix length from 8 to 30");
        }
        this.hostAddress = addr;
        this.prefix = p;
        if (hostAddress == network() || hostAddress == broadcast()) {
            throw new InvalidArgumentException("Invalid value for network " + ErrorTexts.quote(name)
                    + " option \"ipv4.address\": " + ErrorTexts.quote(cidr) + " is not a host address of its subnet");
        }
        this.dhcp = bool("ipv4.dhcp", true);
        this.nat = bool("ipv4.nat", false);
        String mtu = config.get("bridge.mtu");
        if (mtu != null && !mtu.matches("\\d{3,5}")) {
            throw new InvalidArgumentException("Invalid value for network " + ErrorTexts.quote(name)
                    + " option \"bridge.mtu\": " + ErrorTexts.quote(mtu));
        }
        for (String range : dhcpRanges()) {
            String[] ends = range.split("-");
            if (ends.length != 2 || !inSubnet(parseIpv4(ends[0].trim())) || !inSubnet(parseIpv4(ends[1].trim()))) {
                throw new InvalidArgumentException("Invalid value for network " + ErrorTexts.quote(name)
                        + " option \"ipv4.dhcp.ranges\": " + ErrorTexts.quote(range)
                        + " is not a range of addresses of the subnet");
            }
        }
    }

    /**
     * Checks a definition (name and keys) and brings the network up: bridge, address, dnsmasq, NAT rules.
     *
     * @param dir the network's directory (created)
     * @throws InvalidArgumentException for a bad name, an unknown key or a bad value
     * @throws IncusException when a host tool fails (the partial network is removed)
     */
    static ManagedNetwork start(String name, Map<String, String> config, Path dir) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new InvalidArgumentException("Invalid network name " + ErrorTexts.quote(String.valueOf(name))
                    + ": 1 to 15 characters, letters, digits, '_', '.' and '-', not starting with a symbol");
        }
        for (String k : new TreeMap<>(config).keySet()) {
            if (!KEYS.contains(k) && !k.startsWith("user.")) {
                throw new InvalidArgumentException("Invalid option for network " + ErrorTexts.quote(name)
                        + " option " + ErrorTexts.quote(k));
            }
        }
        ManagedNetwork n = new ManagedNetwork(name, config, dir);
        try {
            n.up();
        } catch (RuntimeException e) {
            n.close();
            throw e;
        }
        return n;
    }

    String name() {
        return name;
    }

    Map<String, String> config() {
        return config;
    }

    /** {@code bridge.mtu}, null when unset. */
    String mtu() {
        return config.get("bridge.mtu");
    }

    /** The subnet, {@code 10.214.1.0/24}. */
    String subnet() {
        return formatIpv4(network()) + "/" + prefix;
    }

    /** The bridge's own address (the containers' gateway and DNS server). */
    String gateway() {
        return formatIpv4(hostAddress);
    }

    /** dnsmasq's pid while it runs. */
    Optional<Long> dnsmasqPid() {
        Process p = dnsmasq;
        return p != null && p.isAlive() ? Optional.of(p.pid()) : Optional.empty();
    }

    /** The nftables table of the NAT rules. */
    String natTable() {
        return "incus4j_" + name;
    }

    /** Incus's checks of a NIC's {@code ipv4.address} against its managed network. */
    void checkStaticAddress(String address) {
        if (!dhcp) {
            throw new InvalidArgumentException("Cannot specify \"ipv4.address\" when DHCP is disabled (unless using"
                    + " security.ipv4_filtering) on network " + ErrorTexts.quote(name));
        }
        Integer a = parseIpv4(address);
        if (a == null || !inSubnet(a) || a == network() || a == broadcast()) {
            throw new InvalidArgumentException("Device IP address " + ErrorTexts.quote(address)
                    + " not within network " + ErrorTexts.quote(name) + " subnet");
        }
        if (a == hostAddress) {
            throw new InvalidArgumentException("IP address " + ErrorTexts.quote(address)
                    + " is assigned to parent managed network device " + ErrorTexts.quote(name));
        }
    }

    /** Writes dnsmasq's static allocation for one NIC ({@code dhcp-host}: hwaddr, address, host name). */
    void writeStaticLease(String instance, String device, String hwaddr, String address) {
        try {
            Path hosts = dir.resolve("dnsmasq.hosts");
            Files.createDirectories(hosts);
            // dnsmasq reads new and changed files of its hostsdir by itself (inotify).
            Files.writeString(hosts.resolve(instance + "." + device), hwaddr + "," + address + ","
                    + instance.replace('_', '-') + "\n", StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write the static DHCP allocation of " + instance, e);
        }
    }

    /** Has dnsmasq read its static allocations again (SIGHUP, as Incus): it keeps removed ones until then. */
    void reload() {
        dnsmasqPid().ifPresent(pid -> quietTool("kill", "-s", "HUP", Long.toString(pid)));
    }

    /** The lease dnsmasq gave {@code hwaddr}, from its leases file, if any. */
    Optional<String> leasedAddress(String hwaddr) {
        try {
            Path leases = dir.resolve("dnsmasq.leases");
            if (!Files.exists(leases)) {
                return Optional.empty();
            }
            for (String line : Files.readAllLines(leases)) {
                String[] f = line.split(" ");
                if (f.length >= 3 && f[1].equalsIgnoreCase(hwaddr)) {
                    return Optional.of(f[2]);
                }
            }
            return Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private void up() {
        try {
            Files.createDirectories(dir.resolve("dnsmasq.hosts"));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + dir, e);
        }
        killStaleDnsmasq();
        if (LxcNics.hostInterfaceExists(name)) {
            if (!Files.isDirectory(Path.of("/sys/class/net", name, "bridge"))) {
                throw new InvalidArgumentException("Cannot create network " + ErrorTexts.quote(name)
                        + ": a host interface of that name exists and is not a bridge");
            }
            // A bridge left by a driver that did not close (the JVM died): taken over as Incus does.
        } else {
            tool("ip", "link", "add", name, "type", "bridge");
        }
        createdBridge = true; // taken over or made: the network's own, removed on close
        if (mtu() != null) {
            tool("ip", "link", "set", name, "mtu", mtu());
        }
        tool("ip", "-4", "addr", "flush", "dev", name);
        tool("ip", "-4", "addr", "add", gateway() + "/" + prefix, "dev", name);
        tool("ip", "link", "set", name, "up");
        if (nat) {
            natUp();
        }
        startDnsmasq();
    }

    private void natUp() {
        Path rules = dir.resolve("nat.nft");
        // Incus's pstrt chain: what leaves the subnet for elsewhere is masqueraded.
        String text = "table ip " + natTable() + " {}\n"
                + "delete table ip " + natTable() + "\n"
                + "table ip " + natTable() + " {\n"
                + "  chain pstrt {\n"
                + "    type nat hook postrouting priority 100; policy accept;\n"
                + "    ip saddr " + subnet() + " ip daddr != " + subnet() + " masquerade\n"
                + "  }\n"
                + "}\n";
        try {
            Files.writeString(rules, text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write " + rules, e);
        }
        tool("nft", "-f", rules.toString());
        // As Incus: NAT is pointless unless the host routes between interfaces.
        try {
            Files.writeString(Path.of("/proc/sys/net/ipv4/ip_forward"), "1");
        } catch (IOException e) {
            throw new IncusException("Cannot enable IPv4 forwarding for network " + ErrorTexts.quote(name) + ": "
                    + e.getMessage(), e);
        }
    }

    private List<String> dhcpRanges() {
        String ranges = config.get("ipv4.dhcp.ranges");
        if (ranges == null || ranges.isEmpty()) {
            return List.of(formatIpv4(network() + 2) + "-" + formatIpv4(broadcast() - 1));
        }
        List<String> out = new ArrayList<>();
        for (String r : ranges.split(",")) {
            out.add(r.trim());
        }
        return out;
    }

    private void startDnsmasq() {
        if (!LxcDriver.onPath("dnsmasq")) {
            throw new IncusException("Cannot start network " + ErrorTexts.quote(name)
                    + ": dnsmasq is not installed (Debian package dnsmasq-base)");
        }
        String domain = config.getOrDefault("dns.domain", "incus");
        // Incus's options (driver_bridge.go), for IPv4.
        List<String> cmd = new ArrayList<>(List.of("dnsmasq", "--keep-in-foreground", "--strict-order",
                "--bind-interfaces", "--except-interface=lo", "--pid-file=", "--no-ping", "--interface=" + name,
                "--dhcp-rapid-commit", "--no-negcache", "--listen-address=" + gateway(),
                "--conf-file=/dev/null", "--log-facility=-",
                // root keeps reading the hosts directory under a driver root that may be private to root.
                "--user=root", "--group=root"));
        if (dhcp) {
            cmd.addAll(List.of("--dhcp-no-override", "--dhcp-authoritative",
                    "--dhcp-leasefile=" + dir.resolve("dnsmasq.leases"),
                    "--dhcp-hostsdir=" + dir.resolve("dnsmasq.hosts")));
            if (mtu() != null) {
                cmd.add("--dhcp-option-force=26," + mtu());
            }
            for (String r : dhcpRanges()) {
                String[] ends = r.split("-");
                cmd.addAll(List.of("--dhcp-range", ends[0].trim() + "," + ends[1].trim() + ",1h"));
            }
        }
        cmd.addAll(List.of("-s", domain, "--interface-name", "_gateway." + domain + "," + name, "-S",
                "/" + domain + "/"));
        File log = dir.resolve("dnsmasq.log").toFile();
        try {
            dnsmasq = new ProcessBuilder(cmd).redirectInput(new File("/dev/null")).redirectErrorStream(true)
                    .redirectOutput(log).start();
            Files.writeString(dir.resolve("dnsmasq.pid"), Long.toString(dnsmasq.pid()));
        } catch (IOException e) {
            throw new IncusException("Cannot start dnsmasq for network " + ErrorTexts.quote(name) + ": "
                    + e.getMessage(), e);
        }
        // Ready once it listens for DNS on the bridge address (it binds DHCP first); it exits when it cannot bind.
        String local = String.format(Locale.ROOT, "%08X:0035", Integer.reverseBytes(hostAddress));
        long deadline = System.nanoTime() + DNSMASQ_READY.toNanos();
        while (true) {
            if (!dnsmasq.isAlive()) {
                throw new IncusException("dnsmasq of network " + ErrorTexts.quote(name) + " exited with "
                        + dnsmasq.exitValue() + ": " + readLog());
            }
            if (Trees.lines(Path.of("/proc/net/udp")).stream().anyMatch(l -> l.contains(" " + local + " "))) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new OperationTimeoutException("dnsmasq of network " + ErrorTexts.quote(name)
                        + " did not listen within " + DNSMASQ_READY.toMillis() + " ms: " + readLog());
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted while starting dnsmasq of network " + ErrorTexts.quote(name),
                        e);
            }
        }
    }

    private String readLog() {
        try {
            return Files.readString(dir.resolve("dnsmasq.log")).strip();
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** A dnsmasq a driver that did not close left for this network (its pid file, checked against its cmdline). */
    private void killStaleDnsmasq() {
        Path pidFile = dir.resolve("dnsmasq.pid");
        try {
            if (!Files.exists(pidFile)) {
                return;
            }
            long pid = Long.parseLong(Files.readString(pidFile).strip());
            Files.deleteIfExists(pidFile);
            String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
            if (cmdline.startsWith("dnsmasq ") && cmdline.contains(" --interface=" + name + " ")) {
                ProcessHandle.of(pid).ifPresent(p -> stop(p));
            }
        } catch (IOException | NumberFormatException e) {
            LOG.log(System.Logger.Level.DEBUG, "No stale dnsmasq for " + name + ": " + e.getMessage());
        }
    }

    private static void stop(ProcessHandle p) {
        p.destroy();
        try {
            p.onExit().get(DNSMASQ_STOP.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            p.destroyForcibly();
        }
    }

    /** Stops dnsmasq (by its pid), removes the NAT table and the bridge. Containers on it lose their link. */
    @Override
    public void close() {
        Process p = dnsmasq;
        dnsmasq = null;
        if (p != null) {
            stop(p.toHandle());
            try {
                Files.deleteIfExists(dir.resolve("dnsmasq.pid"));
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "Cannot remove the pid file of " + name, e);
            }
        }
        if (nat) {
            quietTool("nft", "delete", "table", "ip", natTable());
        }
        if (createdBridge) {
            quietTool("ip", "link", "del", name);
        }
    }

    private boolean bool(String key, boolean dflt) {
        String v = config.get(key);
        if (v == null || v.isEmpty()) {
            return dflt;
        }
        if (!Set.of("true", "false", "1", "0", "yes", "no", "on", "off").contains(v.toLowerCase(Locale.ROOT))) {
            throw new InvalidArgumentException("Invalid value for network " + ErrorTexts.quote(name) + " option "
                    + ErrorTexts.quote(key) + ": Invalid value for a boolean " + ErrorTexts.quote(v));
        }
        return ConfigValues.isTrue(v);
    }

    private int mask() {
        return prefix == 0 ? 0 : -1 << (32 - prefix);
    }

    private int network() {
        return hostAddress & mask();
    }

    private int broadcast() {
        return network() | ~mask();
    }

    private boolean inSubnet(Integer a) {
        return a != null && (a & mask()) == network();
    }

    private static void tool(String... command) {
        LxcTool.Output out = LxcTool.exec(List.of(command), TOOL_TIMEOUT, "run " + command[0]);
        if (out.exitCode() != 0) {
            throw new IncusException("Failed to run " + String.join(" ", command) + ": " + out.text());
        }
    }

    private void quietTool(String... command) {
        try {
            LxcTool.Output out = LxcTool.exec(List.of(command), TOOL_TIMEOUT, "run " + command[0]);
            if (out.exitCode() != 0) {
                LOG.log(System.Logger.Level.WARNING, "Network " + name + ": " + String.join(" ", command)
                        + " failed: " + out.text());
            }
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.WARNING, "Network " + name + ": " + String.join(" ", command) + " failed", e);
        }
    }

    /** A dotted IPv4 address as a 32-bit int, null when it is not one. */
    static Integer parseIpv4(String s) {
        if (s == null) {
            return null;
        }
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        int v = 0;
        for (String p : parts) {
            if (!p.matches("\\d{1,3}")) {
                return null;
            }
            int b = Integer.parseInt(p);
            if (b > 255) {
                return null;
            }
            v = (v << 8) | b;
        }
        return v;
    }

    static String formatIpv4(int a) {
        return (a >>> 24) + "." + ((a >>> 16) & 255) + "." + ((a >>> 8) & 255) + "." + (a & 255);
    }
}
