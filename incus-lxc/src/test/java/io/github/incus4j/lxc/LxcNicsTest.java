package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The NIC plan and checks, without a host: liblxc lines, volatile keys, Incus's texts. */
class LxcNicsTest {
    private static final Set<String> HOST = Set.of("br0", "dummy0");

    private static LxcNics.Plan plan(Devices d, Map<String, String> local) {
        return LxcNics.plan(d, local, n -> null, HOST::contains);
    }

    @Test
    void noNicIsAnEmptyNetwork() {
        LxcNics.Plan p = plan(new Devices(Map.of("root", Device.of("type", "disk", "path", "/", "pool", "default"))),
                Map.of());
        assertEquals(List.of("lxc.net.0.type = empty", "lxc.net.0.flags = up"), p.lines(), "lo comes up");
        assertTrue(p.volatiles().isEmpty());
    }

    @Test
    void bridgedGetsGeneratedHwaddrNameAndHostName() {
        LxcNics.Plan p = plan(new Devices(Map.of("net", Device.of("type", "nic", "nictype", "bridged", "parent", "br0",
                "mtu", "1400"))), Map.of());
        String hwaddr = p.volatiles().get("volatile.net.hwaddr");
        String host = p.volatiles().get("volatile.net.host_name");
        assertTrue(hwaddr.matches("10:66:6a(:[0-9a-f]{2}){3}"), hwaddr);
        assertTrue(host.matches("veth[0-9a-f]{8}"), host);
        assertEquals("eth0", p.volatiles().get("volatile.net.name"));
        assertEquals(List.of("lxc.net.0.type = veth", "lxc.net.0.veth.pair = " + host, "lxc.net.0.link = br0",
                "lxc.net.0.name = eth0", "lxc.net.0.hwaddr = " + hwaddr, "lxc.net.0.mtu = 1400",
                "lxc.net.0.flags = up", "lxc.net.1.type = empty", "lxc.net.1.flags = up"), p.lines());
    }

    @Test
    void recordedVolatilesAreReusedAndNamesSkipTakenOnes() {
        Devices d = new Devices(Map.of(
                "a", Device.of("type", "nic", "nictype", "p2p"),
                "b", Device.of("type", "nic", "nictype", "macvlan", "parent", "dummy0", "name", "eth0",
                        "hwaddr", "00:16:3e:00:00:01")));
        LxcNics.Plan p = plan(d, Map.of("volatile.a.hwaddr", "00:16:3e:aa:bb:cc"));
        assertEquals("eth1", p.volatiles().get("volatile.a.name"));
        assertEquals(null, p.volatiles().get("volatile.a.hwaddr"), "kept");
        assertTrue(p.lines().contains("lxc.net.0.hwaddr = 00:16:3e:aa:bb:cc"), p.lines().toString());
        assertTrue(p.lines().contains("lxc.net.1.type = macvlan"), p.lines().toString());
        assertTrue(p.lines().contains("lxc.net.1.link = dummy0"), p.lines().toString());
        assertTrue(!p.volatiles().containsKey("volatile.b.host_name"), "liblxc names a macvlan itself");
        assertEquals(Map.of("volatile.a.host_name", ""), LxcNics.stopVolatiles(Map.of("volatile.a.host_name",
                "veth1", "volatile.a.hwaddr", "x")));
    }

    @Test
    void aHostNameInUseIsNeverTakenOver() {
        Devices d = new Devices(Map.of("eth0", Device.of("type", "nic", "nictype", "bridged", "parent", "br0")));
        // As a copy of a running container carries it: the recorded name is someone else's now.
        LxcNics.Plan p = plan(d, Map.of("volatile.eth0.host_name", "dummy0"));
        String host = p.volatiles().get("volatile.eth0.host_name");
        assertTrue(host.matches("veth[0-9a-f]{8}"), host);
        assertEquals("veth12345678", plan(d, Map.of("volatile.eth0.host_name", "veth12345678"))
                .volatiles().get("volatile.eth0.host_name"), "a free recorded name is kept");
        IncusException taken = assertThrows(IncusException.class, () -> plan(new Devices(Map.of("eth0",
                Device.of("type", "nic", "nictype", "p2p", "host_name", "br0"))), Map.of()));
        assertEquals("Failed to start device \"eth0\": host interface \"br0\" already exists", taken.getMessage());
    }

    @Test
    void refusesWhatItCannotApply() {
        NotSupportedException type = assertThrows(NotSupportedException.class, () -> plan(new Devices(
                Map.of("eth0", Device.of("type", "nic", "nictype", "physical", "parent", "eth9"))), Map.of()));
        assertEquals("The \"lxc\" driver does not support nic type \"physical\" (device \"eth0\")",
                type.getMessage());
        NotSupportedException key = assertThrows(NotSupportedException.class, () -> plan(new Devices(
                Map.of("eth0", Device.of("type", "nic", "nictype", "bridged", "parent", "br0", "vlan", "5"))),
                Map.of()));
        assertEquals("The \"lxc\" driver does not support option \"vlan\" of \"nic:bridged\" devices"
                + " (device \"eth0\")", key.getMessage());
        assertThrows(InvalidArgumentException.class, () -> LxcNics.check(new Devices(Map.of("eth0",
                Device.of("type", "nic", "nictype", "p2p", "hwaddr", "zz:16:3e:00:00:01")))));
        InvalidArgumentException parent = assertThrows(InvalidArgumentException.class, () -> plan(new Devices(
                Map.of("eth0", Device.of("type", "nic", "nictype", "bridged", "parent", "nope"))), Map.of()));
        assertEquals("Parent device \"nope\" doesn't exist", parent.getMessage());
        NotFoundException net = assertThrows(NotFoundException.class, () -> plan(new Devices(
                Map.of("eth0", Device.of("type", "nic", "network", "i4jnx"))), Map.of()));
        assertEquals("Error loading network config for \"i4jnx\": Network not found", net.getMessage());
        assertThrows(InvalidArgumentException.class, () -> plan(new Devices(Map.of("eth0", Device.of("type", "nic",
                "nictype", "bridged", "parent", "br0", "ipv4.address", "10.214.0.5"))), Map.of()));
    }

    @Test
    void networkDefinitionsAreCheckedBeforeAnythingIsMade() {
        Path nowhere = Path.of("/nonexistent/i4jn");
        InvalidArgumentException key = assertThrows(InvalidArgumentException.class,
                () -> ManagedNetwork.start("i4jnk", Map.of("ipv4.address", "10.214.3.1/24", "ipv6.nat", "true"),
                        nowhere));
        assertEquals("Invalid option for network \"i4jnk\" option \"ipv6.nat\"", key.getMessage());
        assertThrows(InvalidArgumentException.class, () -> ManagedNetwork.start("i4jnk", Map.of(), nowhere));
        assertThrows(InvalidArgumentException.class,
                () -> ManagedNetwork.start("i4jnk", Map.of("ipv4.address", "10.214.3.0/24"), nowhere));
        assertThrows(InvalidArgumentException.class,
                () -> ManagedNetwork.start("i4jnk", Map.of("ipv4.address", "10.214.3.1"), nowhere));
        assertThrows(InvalidArgumentException.class,
                () -> ManagedNetwork.start("much-too-long-name", Map.of("ipv4.address", "10.214.3.1/24"), nowhere));
        assertThrows(InvalidArgumentException.class, () -> ManagedNetwork.start("i4jnk",
                Map.of("ipv4.address", "10.214.3.1/24", "ipv4.nat", "maybe"), nowhere));
    }

    @Test
    void ipv6IsPrintedAsGoDoes() {
        assertEquals("::1", NetnsState.formatIpv6("00000000000000000000000000000001"));
        assertEquals("fe80::fc:ff:fe00:1", NetnsState.formatIpv6("fe8000000000000000fc00fffe000001"));
        assertEquals("fd00::2", NetnsState.formatIpv6("fd000000000000000000000000000002"));
        assertEquals("2001:db8:0:1:1:1:1:1", NetnsState.formatIpv6("20010db8000000010001000100010001"));
        assertEquals("::", NetnsState.formatIpv6("00000000000000000000000000000000"));
    }

    @Test
    void readsThisProcessNamespace() {
        var net = NetnsState.read(Path.of("/proc/self"), Map.of());
        var lo = net.get("lo");
        assertTrue(lo != null, net.keySet().toString());
        assertTrue(lo.addresses().stream().anyMatch(a -> a.family().equals("inet") && a.address().equals("127.0.0.1")
                && a.netmask().equals("8") && a.scope().equals("local")), lo.addresses().toString());
        assertEquals("loopback", lo.type());
        assertEquals("up", lo.state());
        assertEquals(65536, lo.mtu());
    }
}
