package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.ApiInstanceState;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NICs of real containers. Hygiene (issue 13, item 7): every link is one this class makes, named {@code i4jn...};
 * every subnet is a random /24 of 10.214.0.0/16 that is checked unrouted before and routed to the test's own link
 * after ({@code ip route get}), so nothing can leave through the default route; every link and dnsmasq is removed by
 * name and pid after each test, and again after the class.
 */
class LxcNetworkTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Every link name a test used, removed in {@link #sweep()} whatever happened. */
    private static final Set<String> LINKS = ConcurrentHashMap.newKeySet();
    private static final Set<Long> PIDS = ConcurrentHashMap.newKeySet();

    @TempDir
    Path dir;
    private LxcInstances lxc;

    @BeforeEach
    void open() {
        LxcHost.require();
        assumeTrue(LxcDriver.onPath("ip"), "ip is not installed (package iproute2)");
        lxc = new LxcDriver().open(LxcHost.searchable(dir.resolve("root")), WAIT);
    }

    @AfterEach
    void close() throws Exception {
        try {
            LxcHost.deleteAll(lxc);
        } finally {
            sweep();
        }
    }

    @AfterAll
    static void sweep() throws Exception {
        for (long pid : List.copyOf(PIDS)) {
            PIDS.remove(pid);
            // Only a dnsmasq of a test network: a pid may have been reused since.
            String cmdline;
            try {
                cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
            } catch (IOException gone) {
                continue;
            }
            if (cmdline.startsWith("dnsmasq ") && cmdline.contains(" --interface=i4jn")) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        for (String link : List.copyOf(LINKS)) {
            if (Files.exists(Path.of("/sys/class/net", link))) {
                sh("ip", "link", "del", link);
            }
            LINKS.remove(link);
        }
    }

    /** A fresh link name {@code i4jn<tag><4 hex>}, recorded for the sweep. */
    private static String link(String tag) {
        String name = "i4jn" + tag + HexFormat.of().formatHex(new byte[] {(byte) RANDOM.nextInt(),
                (byte) RANDOM.nextInt()});
        LINKS.add(name);
        return name;
    }

    /** A /24 of 10.214.0.0/16 ({@code 10.214.N}) that this host has no route for but the default one. */
    private static String subnet() throws Exception {
        for (int tries = 0; tries < 50; tries++) {
            String s = "10.214." + (10 + RANDOM.nextInt(240));
            if (sh("ip", "-4", "route", "show", "to", "match", s + ".1").lines().allMatch(l -> l.startsWith("default"))
                    && sh("ip", "-4", "addr", "show", "to", s + ".0/24").isBlank()) {
                return s;
            }
        }
        throw new IllegalStateException("no free test subnet in 10.214.0.0/16");
    }

    /** Asserts that traffic to {@code address} goes to {@code link}, never to the default route. */
    private static void assertRoutedTo(String address, String link) throws Exception {
        String route = sh("ip", "route", "get", address);
        assertTrue(route.contains(" dev " + link + " "), "test address " + address + " must route to " + link
                + ": " + route);
    }

    private static String sh(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", command));
        return out;
    }

    private static void shOk(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", command));
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + out);
    }

    private static String run(Instance i, String... command) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of(command), null, out, out)) {
            int rc = c.waitFor(WAIT);
            assertEquals(0, rc, String.join(" ", command) + ": " + out.toString(StandardCharsets.UTF_8));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private Instance container(Map<String, Device> nics) {
        InstanceArgs.Builder b = InstanceArgs.builder("i4jn-" + HexFormat.of().formatHex(new byte[] {
                (byte) RANDOM.nextInt(), (byte) RANDOM.nextInt()}));
        nics.forEach(b::device);
        return lxc.create(b.build(), InstanceSource.template("busybox", Map.of()));
    }

    private static ApiInstanceState.Network nic(Instance c, String name) {
        Map<String, ApiInstanceState.Network> net = c.renderState(List.of()).network();
        ApiInstanceState.Network n = net.get(name);
        assertTrue(n != null, "state shows " + name + ": " + net);
        return n;
    }

    private static boolean hasInet(ApiInstanceState.Network n, String address, String prefix) {
        return n.addresses().stream().anyMatch(a -> a.family().equals("inet") && a.address().equals(address)
                && a.netmask().equals(prefix) && a.scope().equals("global"));
    }

    @Test
    void withoutNicTheStateShowsOnlyLoopback() {
        Instance c = container(Map.of());
        c.start(false);
        Map<String, ApiInstanceState.Network> net = c.renderState(List.of()).network();
        assertEquals(Set.of("lo"), net.keySet());
        ApiInstanceState.Network lo = net.get("lo");
        assertEquals("loopback", lo.type());
        assertEquals("00:00:00:00:00:00", lo.hwaddr());
        assertEquals(65536, lo.mtu());
        // What the container itself says (busybox's init leaves lo as liblxc made it).
        boolean up = run(c, "ip", "-o", "link", "show", "lo").matches("(?s).*[<,]UP[,>].*");
        assertEquals(up ? "up" : "down", lo.state());
        run(c, "ip", "link", "set", "lo", "up");
        lo = c.renderState(List.of()).network().get("lo");
        assertEquals("up", lo.state());
        assertTrue(lo.addresses().contains(new ApiInstanceState.NetworkAddress("inet", "127.0.0.1", "8", "local")),
                lo.addresses().toString());
        assertTrue(lo.addresses().contains(new ApiInstanceState.NetworkAddress("inet6", "::1", "128", "local")),
                lo.addresses().toString());
        assertEquals(2, lo.addresses().size(), lo.addresses().toString());
    }

    @Test
    void bridgedNicOnAManagedNetworkGetsItsAddressFromDhcp() throws Exception {
        assumeTrue(LxcDriver.onPath("dnsmasq"), "dnsmasq is not installed (package dnsmasq-base)");
        String net = link("b");
        String s = subnet();
        lxc.createNetwork(net, Map.of("ipv4.address", s + ".1/24"));
        lxc.network(net).dnsmasqPid().ifPresent(PIDS::add);
        assertRoutedTo(s + ".50", net);
        assertRoutedTo(s + ".77", net);
        assertThrows(BusyException.class, () -> lxc.createNetwork(net, Map.of("ipv4.address", s + ".1/24")));
        assertEquals(Map.of("ipv4.address", s + ".1/24"), lxc.networks().get(net));

        Instance c = container(Map.of(
                "eth0", Device.of("type", "nic", "network", net, "ipv4.address", s + ".50"),
                "eth1", Device.of("type", "nic", "network", net)));
        c.start(false);
        String hwaddr = c.localConfig().get("volatile.eth0.hwaddr");
        String host = c.localConfig().get("volatile.eth0.host_name");
        assertTrue(hwaddr != null && hwaddr.startsWith("10:66:6a:"), c.localConfig().toString());
        assertTrue(host != null && host.matches("veth[0-9a-f]{8}"), c.localConfig().toString());
        LINKS.add(host);
        assertEquals(net, Path.of("/sys/class/net", host, "master").toRealPath().getFileName().toString(),
                "host side enslaved to the network's bridge");

        // busybox's DHCP client with a script that sets what it was given.
        run(c, "sh", "-c", "printf '#!/bin/sh\\n[ \"$1\" = bound ] && ip addr add $ip/$mask dev $interface\\n"
                + "exit 0\\n' > /tmp/dhcp.sh && chmod +x /tmp/dhcp.sh");
        run(c, "udhcpc", "-i", "eth0", "-n", "-q", "-t", "10", "-T", "1", "-s", "/tmp/dhcp.sh");
        run(c, "udhcpc", "-i", "eth1", "-n", "-q", "-t", "10", "-T", "1", "-s", "/tmp/dhcp.sh");

        ApiInstanceState.Network eth0 = nic(c, "eth0");
        assertTrue(hasInet(eth0, s + ".50", "24"), "the static allocation: " + eth0.addresses());
        assertEquals(hwaddr, eth0.hwaddr());
        assertEquals(host, eth0.hostName());
        assertEquals("up", eth0.state());
        assertEquals("broadcast", eth0.type());
        assertEquals(1500, eth0.mtu());
        assertTrue(eth0.counters().bytesReceived() > 0 && eth0.counters().packetsSent() > 0,
                "DHCP traffic counted: " + eth0.counters());
        ApiInstanceState.Network eth1 = nic(c, "eth1");
        String dynamic = eth1.addresses().stream().filter(a -> a.family().equals("inet")).findFirst()
                .orElseThrow(() -> new AssertionError("eth1 got no address: " + eth1.addresses())).address();
        assertTrue(dynamic.startsWith(s + ".") && !dynamic.equals(s + ".50"), dynamic);
        assertEquals(dynamic, lxc.network(net).leasedAddress(c.localConfig().get("volatile.eth1.hwaddr"))
                .orElseThrow());
        // Within the test subnet only: the container reaches the bridge.
        assertRoutedTo(dynamic, net);
        run(c, "ping", "-c", "1", "-W", "5", s + ".1");

        c.stop(false);
        assertFalse(c.localConfig().containsKey("volatile.eth0.host_name"), "host_name goes at stop");
        assertEquals(hwaddr, c.localConfig().get("volatile.eth0.hwaddr"), "hwaddr stays");
        assertFalse(Files.exists(Path.of("/sys/class/net", host)), "host side gone with the container");

        long pid = lxc.network(net).dnsmasqPid().orElseThrow();
        lxc.deleteNetwork(net);
        assertFalse(Files.exists(Path.of("/sys/class/net", net)), "bridge removed");
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "dnsmasq stopped");
        assertThrows(NotFoundException.class, () -> lxc.deleteNetwork(net));
        NotFoundException undeclared = assertThrows(NotFoundException.class, () -> c.start(false));
        assertEquals("Error loading network config for \"" + net + "\": Network not found", undeclared.getMessage());
        Path allocation = dir.resolve("root/networks").resolve(net).resolve("dnsmasq.hosts").resolve(c.name()
                + ".eth0");
        assertEquals(hwaddr + "," + s + ".50," + c.name(), Files.readString(allocation).strip());
        c.delete(true);
        assertFalse(Files.exists(allocation), "static allocation forgotten with the container");
    }

    @Test
    void staticAddressOutsideTheSubnetIsRefusedAtStart() throws Exception {
        assumeTrue(LxcDriver.onPath("dnsmasq"), "dnsmasq is not installed (package dnsmasq-base)");
        String net = link("s");
        String s = subnet();
        lxc.createNetwork(net, Map.of("ipv4.address", s + ".1/24", "ipv4.dhcp.ranges", s + ".100-" + s + ".120"));
        lxc.network(net).dnsmasqPid().ifPresent(PIDS::add);
        Instance c = container(Map.of("eth0", Device.of("type", "nic", "network", net, "ipv4.address",
                "10.215.0.5")));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> c.start(false));
        assertEquals("Device IP address \"10.215.0.5\" not within network \"" + net + "\" subnet", e.getMessage());
        assertFalse(c.isRunning());
    }

    @Test
    void natIsAMasqueradeRuleForTheSubnet() throws Exception {
        assumeTrue(LxcDriver.onPath("dnsmasq"), "dnsmasq is not installed (package dnsmasq-base)");
        assumeTrue(LxcDriver.onPath("nft"), "nft is not installed (package nftables)");
        Path forward = Path.of("/proc/sys/net/ipv4/ip_forward");
        String before = Files.readString(forward).strip();
        String net = link("n");
        String s = subnet();
        try {
            lxc.createNetwork(net, Map.of("ipv4.address", s + ".1/24", "ipv4.nat", "true"));
            lxc.network(net).dnsmasqPid().ifPresent(PIDS::add);
            assertRoutedTo(s + ".9", net);
            String table = sh("nft", "list", "table", "ip", "incus4j_" + net);
            assertTrue(table.contains("ip saddr " + s + ".0/24 ip daddr != " + s + ".0/24 masquerade"), table);
            assertTrue(table.contains("hook postrouting"), table);
            assertEquals("1", Files.readString(forward).strip());
            lxc.deleteNetwork(net);
            assertFalse(sh("nft", "list", "tables").contains("incus4j_" + net), "table removed");
        } finally {
            Files.writeString(forward, before);
            sh("nft", "delete", "table", "ip", "incus4j_" + net);
        }
    }

    @Test
    void bridgedNicOnAnExistingBridgeAndP2p() throws Exception {
        String bridge = link("x");
        String peer = link("p");
        String s = subnet();
        String t = subnet();
        shOk("ip", "link", "add", bridge, "type", "bridge");
        shOk("ip", "addr", "add", s + ".1/24", "dev", bridge);
        shOk("ip", "link", "set", bridge, "up");
        assertRoutedTo(s + ".2", bridge);
        Instance c = container(Map.of(
                "lan", Device.of("type", "nic", "nictype", "bridged", "parent", bridge, "name", "lan0",
                        "hwaddr", "00:16:3e:12:34:56", "mtu", "1400"),
                "p2p", Device.of("type", "nic", "nictype", "p2p", "host_name", peer)));
        c.start(false);
        assertEquals(bridge, Path.of("/sys/class/net", c.localConfig().get("volatile.lan.host_name"), "master")
                .toRealPath().getFileName().toString());
        LINKS.add(c.localConfig().get("volatile.lan.host_name"));
        assertEquals(peer, c.localConfig().get("volatile.p2p.host_name"));
        assertTrue(Files.exists(Path.of("/sys/class/net", peer)), "p2p host side");
        String p2pName = c.localConfig().get("volatile.p2p.name");
        assertEquals("eth0", p2pName, "first free ethN");

        run(c, "ip", "addr", "add", s + ".2/24", "dev", "lan0");
        shOk("ip", "addr", "add", t + ".1/30", "dev", peer);
        run(c, "ip", "addr", "add", t + ".2/30", "dev", p2pName);
        assertRoutedTo(t + ".2", peer);
        run(c, "ping", "-c", "1", "-W", "5", s + ".1");
        run(c, "ping", "-c", "1", "-W", "5", t + ".1");

        ApiInstanceState.Network lan = nic(c, "lan0");
        assertEquals("00:16:3e:12:34:56", lan.hwaddr());
        assertEquals(1400, lan.mtu());
        assertTrue(hasInet(lan, s + ".2", "24"), lan.addresses().toString());
        assertTrue(lan.counters().packetsReceived() > 0, lan.counters().toString());
        ApiInstanceState.Network p2p = nic(c, p2pName);
        assertEquals(peer, p2p.hostName());
        assertTrue(hasInet(p2p, t + ".2", "30"), p2p.addresses().toString());
        long inet6 = run(c, "cat", "/proc/net/if_inet6").lines().filter(l -> l.endsWith(" " + p2pName)).count();
        assertEquals(inet6, p2p.addresses().stream().filter(a -> a.family().equals("inet6")).count(),
                "IPv6 as the container lists it: " + p2p.addresses());
        assertEquals(Set.of("lo", "lan0", p2pName), c.renderState(List.of()).network().keySet());
        // What a state read costs with two NICs (a thread entering the namespace included).
        int reads = 50;
        long t0 = System.nanoTime();
        for (int k = 0; k < reads; k++) {
            c.renderState(List.of());
        }
        double ms = (System.nanoTime() - t0) / 1e6 / reads;
        java.nio.file.Path proc = Path.of("/proc", Integer.toString(c.initPid()));
        long t1 = System.nanoTime();
        for (int k = 0; k < reads; k++) {
            NetnsState.read(proc, Map.of());
        }
        double netMs = (System.nanoTime() - t1) / 1e6 / reads;
        System.getLogger(LxcNetworkTest.class.getName()).log(System.Logger.Level.INFO,
                String.format("NetnsState.read: %.2f ms per call", netMs));
        System.getLogger(LxcNetworkTest.class.getName()).log(System.Logger.Level.INFO,
                String.format("renderState with 2 NICs: %.2f ms per call (%d calls)", ms, reads));
        assertTrue(ms < 500, ms + " ms per renderState");
        // The metrics' network families follow the same interfaces and counters.
        MetricSet m = c.metrics(List.of());
        Set<String> devices = new java.util.TreeSet<>();
        m.samples(MetricType.NETWORK_RECEIVE_BYTES_TOTAL).forEach(x -> devices.add(x.labels().get("device")));
        assertEquals(Set.of("lo", "lan0", p2pName), devices);
        long rx = (long) m.find(MetricType.NETWORK_RECEIVE_PACKETS_TOTAL, "device", "lan0").value();
        assertTrue(rx >= lan.counters().packetsReceived() && rx > 0, rx + " vs " + lan.counters());
        c.stop(false);
        assertFalse(Files.exists(Path.of("/sys/class/net", peer)), "p2p host side gone at stop");
    }

    @Test
    void nicsAreHotPluggedAndUnplugged() throws Exception {
        String bridge = link("h");
        String parent = link("m");
        String s = subnet();
        shOk("ip", "link", "add", bridge, "type", "bridge");
        shOk("ip", "addr", "add", s + ".1/24", "dev", bridge);
        shOk("ip", "link", "set", bridge, "up");
        shOk("ip", "link", "add", parent, "type", "veth", "peer", "name", link("q"));
        shOk("ip", "link", "set", parent, "up");
        assertRoutedTo(s + ".3", bridge);
        LxcContainerInstance c = (LxcContainerInstance) container(Map.of());
        c.start(false);
        assertEquals(Set.of("lo"), c.renderState(List.of()).network().keySet());
        Devices without = c.localDevices();
        // The update hot-plugs them (the driver's deviceAdd hook).
        c.update(InstanceArgs.builder(c.name()).config(c.localConfig()).devices(without
                .with("hot", Device.of("type", "nic", "nictype", "bridged", "parent", bridge, "mtu", "1400"))
                .with("mv", Device.of("type", "nic", "nictype", "macvlan", "parent", parent)))
                .profiles(c.profiles()).build(), true);
        String host = c.localConfig().get("volatile.hot.host_name");
        LINKS.add(host);
        assertEquals(bridge, Path.of("/sys/class/net", host, "master").toRealPath().getFileName().toString());
        assertEquals("eth0", c.localConfig().get("volatile.hot.name"));
        assertEquals("eth1", c.localConfig().get("volatile.mv.name"));
        run(c, "ip", "addr", "add", s + ".3/24", "dev", "eth0");
        run(c, "ping", "-c", "1", "-W", "5", s + ".1");
        Map<String, ApiInstanceState.Network> net = c.renderState(List.of()).network();
        assertEquals(Set.of("lo", "eth0", "eth1"), net.keySet());
        assertEquals(c.localConfig().get("volatile.hot.hwaddr"), net.get("eth0").hwaddr());
        assertEquals(1400, net.get("eth0").mtu());
        assertEquals("up", net.get("eth0").state());
        assertEquals(host, net.get("eth0").hostName());
        assertTrue(hasInet(net.get("eth0"), s + ".3", "24"), net.get("eth0").addresses().toString());
        assertEquals(c.localConfig().get("volatile.mv.hwaddr"), net.get("eth1").hwaddr());

        c.update(InstanceArgs.builder(c.name()).config(c.localConfig()).devices(without).profiles(c.profiles())
                .build(), true); // unplugged by the deviceRemove hook
        assertFalse(Files.exists(Path.of("/sys/class/net", host)), "host side removed");
        assertFalse(c.localConfig().containsKey("volatile.hot.host_name"));
        assertEquals(Set.of("lo"), c.renderState(List.of()).network().keySet());
        IncusException missing = assertThrows(NotFoundException.class, () -> c.attachNic("nope"));
        assertEquals("Device \"nope\" not found", missing.getMessage());
    }

    @Test
    void macvlanOnADummyParent() throws Exception {
        String parent = link("d");
        if (!sh("ip", "link", "add", parent, "type", "dummy").isBlank()) {
            // No dummy driver in this kernel: one end of a veth pair the test owns is as good a parent.
            shOk("ip", "link", "add", parent, "type", "veth", "peer", "name", link("e"));
        }
        shOk("ip", "link", "set", parent, "up");
        Instance c = container(Map.of("mv", Device.of("type", "nic", "nictype", "macvlan", "parent", parent)));
        c.start(false);
        String hwaddr = c.localConfig().get("volatile.mv.hwaddr");
        ApiInstanceState.Network mv = nic(c, "eth0");
        assertEquals(hwaddr, mv.hwaddr());
        assertEquals("up", mv.state());
        assertEquals("broadcast", mv.type());
        List<String> onParent = new ArrayList<>();
        for (Path p : Files.newDirectoryStream(Path.of("/sys/class/net", parent))) {
            if (p.getFileName().toString().startsWith("upper_")) {
                onParent.add(p.getFileName().toString());
            }
        }
        assertTrue(onParent.isEmpty(), "the macvlan lives in the container, not on the host: " + onParent);
        InvalidArgumentException missing = assertThrows(InvalidArgumentException.class, () -> container(Map.of(
                "mv", Device.of("type", "nic", "nictype", "macvlan", "parent", "i4jnnope"))).start(false));
        assertEquals("Parent device 'i4jnnope' doesn't exist", missing.getMessage());
    }
}
