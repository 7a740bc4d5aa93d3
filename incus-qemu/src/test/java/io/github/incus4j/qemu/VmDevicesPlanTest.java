package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.model.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How VM devices become QEMU arguments, and what is refused with which text (no QEMU needed). */
class VmDevicesPlanTest {
    @TempDir
    Path dir;

    private static List<VmProxies.Rule> proxy(String... kv) {
        String[] all = new String[kv.length + 2];
        all[0] = "type";
        all[1] = "proxy";
        System.arraycopy(kv, 0, all, 2, kv.length);
        return VmProxies.rules("p", Device.of(all));
    }

    @Test
    void proxyAddressesBecomeHostForwards() {
        assertEquals(List.of("tcp:127.0.0.1:8080-:80"),
                proxy("listen", "tcp:127.0.0.1:8080", "connect", "tcp:127.0.0.1:80").stream()
                        .map(VmProxies.Rule::hostfwd).toList());
        assertEquals(List.of("udp:0.0.0.0:53-10.0.2.15:5353"),
                proxy("listen", "udp:0.0.0.0:53", "connect", "udp:10.0.2.15:5353").stream()
                        .map(VmProxies.Rule::hostfwd).toList());
        assertEquals(List.of("tcp:127.0.0.1:8000-:80", "tcp:127.0.0.1:8001-:81", "tcp:127.0.0.1:9000-:82"),
                proxy("listen", "tcp:localhost:8000-8001,9000", "connect", "tcp:0.0.0.0:80-82").stream()
                        .map(VmProxies.Rule::hostfwd).toList());
        // One connect port for many listen ports, as Incus allows.
        assertEquals(2, proxy("listen", "tcp:127.0.0.1:80,81", "connect", "tcp:127.0.0.1:80").size());
        assertEquals("tcp:127.0.0.1:8080", proxy("listen", "tcp:127.0.0.1:8080", "connect", "tcp:127.0.0.1:80")
                .get(0).hostSide());
    }

    @Test
    void proxyRefusalsNameTheProblem() {
        assertEquals("Mismatch between listen port(s) and connect port(s) count",
                assertThrows(InvalidArgumentException.class, () -> proxy("listen", "tcp:127.0.0.1:80,81,82",
                        "connect", "tcp:127.0.0.1:80,81")).getMessage());
        assertEquals("Proxying tcp <-> udp is not supported when using NAT", assertThrows(
                NotSupportedException.class, () -> proxy("listen", "tcp:127.0.0.1:80", "connect",
                        "udp:127.0.0.1:80")).getMessage());
        assertTrue(assertThrows(NotSupportedException.class, () -> proxy("listen", "unix:/tmp/s", "connect",
                "tcp:127.0.0.1:80")).getMessage().contains("unix sockets (listen=unix:/tmp/s)"));
        assertTrue(assertThrows(NotSupportedException.class, () -> proxy("listen", "tcp:127.0.0.1:80", "connect",
                "tcp:127.0.0.1:80", "bind", "instance")).getMessage().contains("bind=instance"));
        assertEquals("Invalid binding side given. Must be \"host\" or \"instance\"", assertThrows(
                InvalidArgumentException.class, () -> proxy("listen", "tcp:127.0.0.1:80", "connect",
                        "tcp:127.0.0.1:80", "bind", "sideways")).getMessage());
        assertTrue(assertThrows(NotSupportedException.class, () -> proxy("listen", "tcp:[::1]:80", "connect",
                "tcp:127.0.0.1:80")).getMessage().contains("IPv6"));
        assertEquals("Invalid value for device option \"listen\": Invalid port \"0\"", assertThrows(
                InvalidArgumentException.class, () -> proxy("listen", "tcp:127.0.0.1:0", "connect",
                        "tcp:127.0.0.1:80")).getMessage());
        assertEquals("Invalid value for device option \"listen\": Invalid IPv4 address \"300.1.1.1\"", assertThrows(
                InvalidArgumentException.class, () -> proxy("listen", "tcp:300.1.1.1:80", "connect",
                        "tcp:127.0.0.1:80")).getMessage());
        assertTrue(assertThrows(NotSupportedException.class, () -> proxy("listen", "tcp:127.0.0.1:1-1000",
                "connect", "tcp:127.0.0.1:80")).getMessage().contains("more than " + VmProxies.MAX_PORTS));
        assertTrue(assertThrows(NotSupportedException.class, () -> proxy("listen", "tcp:127.0.0.1:80", "connect",
                "tcp:127.0.0.1:80", "proxy_protocol", "true")).getMessage().contains("proxy_protocol"));
    }

    @Test
    void userModeNicCarriesTheForwardsAndNoManagementNicIsAdded() {
        VmNics nics = VmNics.plan(Map.of("net", Device.of("type", "nic", "nictype", "p2p")), k -> null);
        String mac = nics.volatileChanges.get("volatile.net.hwaddr");
        assertTrue(mac.matches("10:66:6a:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}"), mac);
        assertEquals("incus_net", nics.forwardNetdev());
        List<String> args = nics.args(List.of("tcp:127.0.0.1:2222-:22"), new PciePorts());
        assertEquals(List.of("-netdev", "user,id=incus_net,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22",
                "-device", "pcie-root-port,id=incus_pcie1,bus=pcie.0,chassis=1,io-reserve=0", "-device",
                "virtio-net-pci,netdev=incus_net,id=dev-incus_net,mac=" + mac + ",bus=incus_pcie1,addr=00.0"), args);

        // A recorded MAC is kept, nothing new to record.
        VmNics again = VmNics.plan(Map.of("net", Device.of("type", "nic", "nictype", "p2p")),
                k -> k.equals("volatile.net.hwaddr") ? mac : null);
        assertTrue(again.volatileChanges.isEmpty());
        assertEquals(mac, again.nics.get(0).hwaddr());
    }

    @Test
    void withoutUserModeNicTheRestrictedManagementNicComesLast() {
        VmNics none = VmNics.plan(Map.of(), k -> null);
        assertEquals(VmNics.MGMT_NETDEV, none.forwardNetdev());
        assertEquals(List.of("-netdev", "user,id=incus4j_mgmt,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22",
                "-device", "pcie-root-port,id=incus_pcie1,bus=pcie.0,chassis=1,io-reserve=0",
                "-device", "virtio-net-pci,netdev=incus4j_mgmt,id=dev-incus4j_mgmt,mac=" + VmNics.MGMT_MAC
                        + ",bus=incus_pcie1,addr=00.0"),
                none.args(List.of("tcp:127.0.0.1:2222-:22"), new PciePorts()));
        assertEquals(VmNics.MGMT_NETDEV, VmNics.forwardNetdev(Map.of("eth0", Device.of("type", "nic", "nictype",
                "bridged", "parent", "br0"))));
    }

    @Test
    void nicRefusals() {
        assertEquals("Parent device 'i4jq-none' doesn't exist", assertThrows(NotFoundException.class,
                () -> VmNics.plan(Map.of("eth0", Device.of("type", "nic", "nictype", "bridged", "parent",
                        "i4jq-none")), k -> null)).getMessage());
        assertTrue(assertThrows(NotSupportedException.class, () -> VmNics.plan(Map.of("eth0", Device.of("type",
                "nic", "nictype", "macvlan", "parent", "lo")), k -> null)).getMessage()
                .contains("nictype \"macvlan\" is not supported for virtual machines"));
        assertTrue(assertThrows(NotSupportedException.class, () -> VmNics.plan(Map.of("eth0", Device.of("type",
                "nic", "network", "incusbr0")), k -> null)).getMessage().contains("managed networks"));
        assertEquals("Device option \"host_name\" of NIC \"eth0\" (nictype=p2p) is not supported by the qemu"
                + " driver", assertThrows(NotSupportedException.class, () -> VmNics.plan(Map.of("eth0",
                        Device.of("type", "nic", "nictype", "p2p", "host_name", "x")), k -> null)).getMessage());
        if (Files.isDirectory(Path.of("/sys/class/net/lo"))) {
            assertEquals("NIC \"eth0\": parent \"lo\" is not a bridge", assertThrows(InvalidArgumentException.class,
                    () -> VmNics.plan(Map.of("eth0", Device.of("type", "nic", "nictype", "bridged", "parent", "lo")),
                            k -> null)).getMessage());
        }
    }

    @Test
    void disksBecomeSharesAndVirtioDisks() throws IOException {
        Path share = Files.createDirectories(dir.resolve("share"));
        Path raw = Files.write(dir.resolve("raw.img"), new byte[4096]);
        Path qcow = Files.write(dir.resolve("q.img"), new byte[] {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3});
        VmDisks d = VmDisks.plan(Map.of(
                "root", Device.of("type", "disk", "path", "/", "pool", "default"),
                "s", Device.of("type", "disk", "source", share.toString(), "path", "/mnt/s", "readonly", "true"),
                "a", Device.of("type", "disk", "source", raw.toString()),
                "b", Device.of("type", "disk", "source", qcow.toString(), "readonly", "true"),
                "gone", Device.of("type", "disk", "source", dir.resolve("nothing").toString(), "required", "false")));
        assertEquals(1, d.shares.size());
        assertEquals("incus_s", d.shares.get(0).tag());
        assertTrue(d.shares.get(0).readonly());
        assertEquals(List.of("raw", "qcow2"), d.blocks.stream().map(VmDisks.Block::format).toList());
        PciePorts ports = new PciePorts();
        List<String> args = d.args(dir, ports);
        // Each block disk behind a root port of its own, so that it can be unplugged.
        assertTrue(args.contains("virtio-blk-pci,drive=incus_a,id=dev-incus_a,serial=incus_a,bus=incus_pcie1,"
                + "addr=00.0"), args.toString());
        assertTrue(args.contains("virtio-blk-pci,drive=incus_b,id=dev-incus_b,serial=incus_b,bus=incus_pcie2,"
                + "addr=00.0"), args.toString());
        List<String> spares = new java.util.ArrayList<>();
        ports.spares(spares);
        assertEquals(2 * PciePorts.SPARE, spares.size());
        assertEquals("pcie-root-port,id=incus_pcie3,bus=pcie.0,chassis=3,io-reserve=0", spares.get(1));
        assertTrue(args.stream().anyMatch(a -> a.startsWith("driver=qcow2,node-name=incus_b,read-only=on")),
                args.toString());
        boolean virtiofs = d.virtiofs();
        assertTrue(args.stream().anyMatch(a -> a.contains(virtiofs ? "vhost-user-fs-pci" : "virtio-9p-pci")
                && a.contains("tag=incus_s")), args.toString());
    }

    @Test
    void diskRefusals() throws IOException {
        Path share = Files.createDirectories(dir.resolve("share"));
        String missing = dir.resolve("missing").toString();
        assertEquals("Missing source path \"" + missing + "\" for disk \"d\"", assertThrows(NotFoundException.class,
                () -> VmDisks.plan(Map.of("d", Device.of("type", "disk", "source", missing)))).getMessage());
        assertTrue(assertThrows(InvalidArgumentException.class, () -> VmDisks.plan(Map.of("d", Device.of("type",
                "disk", "source", share.toString())))).getMessage().contains("path must be an absolute path"));
        assertTrue(assertThrows(InvalidArgumentException.class, () -> VmDisks.plan(Map.of("d", Device.of("type",
                "disk", "source", "rel/dir", "path", "/x")))).getMessage().contains("must be absolute"));
        assertTrue(assertThrows(InvalidArgumentException.class, () -> VmDisks.plan(Map.of("d", Device.of("type",
                "disk", "source", share + "/../share", "path", "/x")))).getMessage().contains("normalized"));
        assertTrue(assertThrows(NotSupportedException.class, () -> VmDisks.plan(Map.of("d", Device.of("type",
                "disk", "pool", "default", "source", "vol", "path", "/x")))).getMessage()
                .contains("\"pool\" of disk \"d\" is not supported"));
        assertFalse(VmDisks.plan(Map.of()).virtiofs());
    }
}
