package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.spi.DeviceSupport;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DeviceChangesTest {
    private static final Device P2P = Device.of("type", "nic", "nictype", "p2p");

    @Test
    void diffSeparatesAddedRemovedAndUpdatedAsIncus() {
        Devices old = Devices.EMPTY.with("d", Device.of("type", "disk", "source", "/a", "path", "/a"))
                .with("gone", P2P).with("n", P2P.with("limits.max", "1Mbit"))
                .with("user.x", Device.of("type", "none"));
        Devices now = Devices.EMPTY.with("d", Device.of("type", "disk", "source", "/b", "path", "/a"))
                .with("n", P2P.with("limits.max", "2Mbit")).with("new", P2P);
        DeviceChanges c = DeviceChanges.between(old, now);
        assertEquals(Set.of("d", "gone"), c.removed().keySet(), "a changed source removes and re-adds");
        assertEquals(Set.of("d", "new"), c.added().keySet());
        assertEquals(Set.of("n"), c.updated().keySet(), "p2p limits are UpdatableFields");
        assertTrue(DeviceChanges.between(now, now).isEmpty());
    }

    @Test
    void aChangedNicTypeIsNotAnUpdate() {
        Devices old = Devices.EMPTY.with("n", P2P.with("limits.max", "1Mbit"));
        Devices now = Devices.EMPTY.with("n", Device.of("type", "nic", "nictype", "macvlan", "parent", "x",
                "limits.max", "2Mbit"));
        DeviceChanges c = DeviceChanges.between(old, now);
        assertEquals(Set.of("n"), c.removed().keySet());
        assertEquals(Set.of("n"), c.added().keySet());
    }

    @Test
    void hotPlugFollowsCanHotPlug() {
        assertTrue(DeviceChanges.canHotPlug(InstanceType.CONTAINER, P2P));
        assertFalse(DeviceChanges.canHotPlug(InstanceType.VM, P2P));
        assertTrue(DeviceChanges.canHotPlug(InstanceType.VM, Device.of("type", "nic", "network", "incusbr0")));
        assertFalse(DeviceChanges.canHotPlug(InstanceType.CONTAINER,
                Device.of("type", "nic", "nictype", "ipvlan", "parent", "x")));
        assertFalse(DeviceChanges.canHotPlug(InstanceType.VM, Device.of("type", "proxy")));
        assertTrue(DeviceChanges.canHotPlug(InstanceType.VM, Device.of("type", "disk")));
    }

    @Test
    void volatileKeysAreFilledKeptAndReset() {
        Devices devs = Devices.EMPTY.with("a", P2P).with("b", P2P.with("name", "eth0"))
                .with("c", Device.of("type", "nic", "nictype", "physical", "parent", "x"));
        Map<String, String> config = new HashMap<>();
        DeviceChanges.fillVolatile(InstanceType.CONTAINER, devs, null, config);
        assertTrue(config.get("volatile.a.hwaddr").matches("10:66:6a(:[0-9a-f]{2}){3}"), config.toString());
        assertEquals("eth1", config.get("volatile.a.name"), "eth0 is taken by b's name");
        assertNull(config.get("volatile.c.hwaddr"), "physical NICs keep the parent's MAC");
        String mac = config.get("volatile.a.hwaddr");
        DeviceChanges.fillVolatile(InstanceType.CONTAINER, devs, null, config);
        assertEquals(mac, config.get("volatile.a.hwaddr"), "existing keys are kept");
        assertEquals(mac, DeviceChanges.withVolatile("a", P2P, config).get("hwaddr"));
        assertEquals(Set.of("volatile.a.hwaddr", "volatile.a.name"),
                DeviceChanges.volatileToClear("a", P2P, null, config));
        assertEquals(Set.of("volatile.a.name"),
                DeviceChanges.volatileToClear("a", P2P, P2P.with("name", "x"), config));
        Map<String, String> vm = new HashMap<>();
        DeviceChanges.fillVolatile(InstanceType.VM, devs, Set.of("a"), vm);
        assertEquals(Set.of("volatile.a.hwaddr"), vm.keySet());
    }

    @Test
    void aMissingLocalSourceIsFoundAsIncusFindsIt() {
        Device d = Device.of("type", "disk", "source", "/nonexistent-incus4j-x", "path", "/x");
        assertEquals("Missing source path \"/nonexistent-incus4j-x\" for disk \"d\"", DeviceChanges.missingSource("d", d));
        assertNull(DeviceChanges.missingSource("d", d.with("required", "false")));
        assertNull(DeviceChanges.missingSource("d", d.with("optional", "true")));
        assertNull(DeviceChanges.missingSource("d", d.with("source", "/")));
        assertNull(DeviceChanges.missingSource("d", Device.of("type", "disk", "source", "vol", "pool", "p", "path", "/x")));
        assertNull(DeviceChanges.missingSource("d", Device.of("type", "disk", "source", "tmpfs", "path", "/x")));
    }

    @Test
    void deviceSupportRefusesWhatTheDriverDoesNotApply() {
        DeviceSupport s = DeviceSupport.rootDiskOnly("x").with("nic:p2p", Set.of("name"));
        s.check(InstanceType.CONTAINER, Devices.EMPTY.with("root", Device.of("type", "disk", "path", "/", "pool",
                "default")).with("m", Device.of("type", "none")).with("n", P2P.with("name", "e").with("user.a", "b")));
        assertEquals("The \"x\" driver does not support device type \"proxy\" (device \"p\")",
                assertThrows(NotSupportedException.class, () -> s.check(InstanceType.CONTAINER,
                        Devices.EMPTY.with("p", Device.of("type", "proxy")))).getMessage());
        assertEquals("The \"x\" driver does not support nic type \"bridged\" (device \"n\")",
                s.refusal(InstanceType.CONTAINER, "n", Device.of("type", "nic", "network", "br")));
        assertEquals("The \"x\" driver does not support option \"mtu\" of \"nic:p2p\" devices (device \"n\")",
                s.refusal(InstanceType.CONTAINER, "n", P2P.with("mtu", "1400")));
        assertNull(s.refusal(InstanceType.VM, "u", Device.of("type", "unix-char", "path", "/dev/x")),
                "a profile's container-only device is skipped on a VM, as Incus does");
        assertNull(DeviceSupport.everything("r").refusal(InstanceType.VM, "g", Device.of("type", "gpu")));
    }
}
