package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Device, project, profile and raw.lxc validation with Incus 6.0's texts. */
class DeviceRulesTest {
    private static final String PREFIX = "Invalid devices: Device validation failed for ";

    private static void refused(InstanceType type, String name, Device d, String reason) {
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> DeviceRules.validate(type, Map.of(name, d)));
        assertEquals(PREFIX + ErrorTexts.quote(name) + ": " + reason, e.getMessage());
    }

    private static void accepted(InstanceType type, String name, Device d) {
        assertDoesNotThrow(() -> DeviceRules.validate(type, Map.of(name, d)));
    }

    @Test
    void typesMustBeKnown() {
        InstanceType ct = InstanceType.CONTAINER;
        refused(ct, "d", Device.of("type", "garbage"), "Failed loading device \"d\": Unsupported device type");
        refused(ct, "d", Device.of("type", "disk\n"), "Failed loading device \"d\": Unsupported device type");
        refused(ct, "d", Device.of("path", "/x"), "Failed loading device \"d\": Missing device type in config");
        refused(InstanceType.VM, "d", Device.of("type", "unix-char", "path", "/dev/x"), "Unsupported device type");
        refused(ct, "d", Device.of("type", "pci", "address", "00:01.0"), "Unsupported device type");
        refused(ct, "d", Device.of("type", "nic", "nictype", "weird"),
                "Failed loading device \"d\": Unsupported device type");
    }

    @Test
    void disksNeedSourceOrRoot() {
        InstanceType ct = InstanceType.CONTAINER;
        refused(ct, "d", Device.of("type", "disk"),
                "Disk entry is missing the required \"source\" or \"path\" property");
        refused(ct, "d", Device.of("type", "disk", "path", "/mnt"),
                "Disk entry is missing the required \"source\" or \"path\" property");
        refused(ct, "root", Device.of("type", "disk", "path", "/"), "Root disk entry must have a \"pool\" property set");
        refused(ct, "root", Device.of("type", "disk", "path", "/", "pool", "p", "source", "/x"),
                "Root disk entry may not have a \"source\" property set");
        refused(ct, "d", Device.of("type", "disk", "path", "/m", "source", "rel"),
                "Source path must be absolute for local sources");
        refused(ct, "d", Device.of("type", "disk", "path", "/m", "source", "/s", "bogus", "1"),
                "Invalid device option \"bogus\"");
        refused(ct, "d", Device.of("type", "disk", "path", "/m", "source", "/s", "readonly", "maybe"),
                "Invalid value for device option \"readonly\": Invalid value for a boolean \"maybe\"");
        accepted(ct, "root", Device.of("type", "disk", "path", "/", "pool", "default"));
        accepted(ct, "d", Device.of("type", "disk", "path", "/m", "source", "/s", "user.x", "y"));
        accepted(InstanceType.VM, "d", Device.of("type", "disk", "source", "/s.img"));
    }

    @Test
    void otherTypesRequiredKeys() {
        InstanceType ct = InstanceType.CONTAINER;
        refused(ct, "n", Device.of("type", "nic", "nictype", "macvlan"),
                "Invalid value for device option \"parent\": Required value");
        refused(ct, "n", Device.of("type", "nic", "network", "br", "nictype", "bridged"),
                "Cannot use \"nictype\" property in conjunction with \"network\" property");
        refused(ct, "p", Device.of("type", "proxy"), "Invalid value for device option \"listen\": Required value");
        refused(ct, "u", Device.of("type", "unix-char"),
                "Unix device entry is missing the required \"source\" or \"path\" property");
        refused(ct, "x", Device.of("type", "none", "path", "/x"), "Invalid device option \"path\"");
        accepted(ct, "n", Device.of("type", "nic", "network", "incusbr0", "name", "eth0"));
        accepted(ct, "n", Device.of("type", "nic", "nictype", "bridged", "parent", "br0"));
        accepted(ct, "p", Device.of("type", "proxy", "listen", "tcp:0.0.0.0:80", "connect", "tcp:127.0.0.1:80"));
        accepted(ct, "x", Device.of("type", "none"));
        accepted(InstanceType.ANY, "u", Device.of("type", "unix-char", "path", "/dev/x"));
    }

    /** proxy.go's validateConfig rules between options, in its order. */
    @Test
    void proxyRulesBetweenOptions() {
        InstanceType ct = InstanceType.CONTAINER;
        InstanceType vm = InstanceType.VM;
        String tcp = "tcp:127.0.0.1:80";
        refused(vm, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp),
                "Only NAT mode is supported for proxies on VM instances");
        refused(vm, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp, "nat", "false"),
                "Only NAT mode is supported for proxies on VM instances");
        accepted(vm, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp, "nat", "true"));

        String header = "The PROXY header can only be sent to tcp servers in non-nat mode";
        refused(ct, "p", Device.of("type", "proxy", "listen", "udp:127.0.0.1:53", "connect", "udp:127.0.0.1:53",
                "proxy_protocol", "true"), header);
        refused(ct, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp, "proxy_protocol", "true", "nat",
                "true"), header);
        accepted(ct, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp, "proxy_protocol", "true"));
        accepted(ct, "p", Device.of("type", "proxy", "listen", tcp, "connect", "udp:127.0.0.1:53",
                "proxy_protocol", "false"));

        String owners = "Only proxy devices for non-abstract unix sockets can carry uid, gid, or mode properties";
        for (String key : List.of("uid", "gid", "mode")) {
            String value = key.equals("mode") ? "0600" : "1000";
            refused(ct, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp, key, value), owners);
            refused(ct, "p", Device.of("type", "proxy", "listen", "unix:@abstract", "connect", tcp, key, value),
                    owners);
            accepted(ct, "p", Device.of("type", "proxy", "listen", "unix:/run/p.sock", "connect", tcp, key, value));
        }

        String hostBound = "Only host-bound proxies can use NAT";
        refused(ct, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp, "nat", "true", "bind", "instance"),
                hostBound);
        accepted(ct, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp, "nat", "true", "bind", "host"));
        accepted(ct, "p", Device.of("type", "proxy", "listen", tcp, "connect", tcp, "nat", "false", "bind",
                "instance"));
    }

    @Test
    void deviceNames() {
        Device none = Device.of("type", "none");
        refused(InstanceType.CONTAINER, "..", none, "Name must not start with \".\" character");
        refused(InstanceType.CONTAINER, ".", none, "Name must not start with \".\" character");
        refused(InstanceType.CONTAINER, "a\0b", none, "Name cannot contain NUL characters");
        refused(InstanceType.CONTAINER, "a".repeat(64), none, "Name must be 1-63 characters long");
        refused(InstanceType.CONTAINER, "a".repeat(65), none, "The maximum device name length is 64 characters");
        refused(InstanceType.CONTAINER, "a b", none, "Name can only contain alphanumeric, forward slash, hyphen, "
                + "colon, underscore and full stop characters");
        refused(InstanceType.CONTAINER, "a/b", none,
                "Name cannot contain \"/\" (device names are used as file names)");
        accepted(InstanceType.CONTAINER, "eth0.1:x_y-z", none);
    }

    @Test
    void projectAndProfileNames() {
        assertEquals("Invalid project name: Names must start and end with an alphanumeric character",
                assertThrows(InvalidArgumentException.class, () -> NameRules.validateProjectName("..")).getMessage());
        assertEquals("Project names may not contain underscores",
                assertThrows(InvalidArgumentException.class, () -> NameRules.validateProjectName("a_b")).getMessage());
        assertEquals("Invalid project name \"a\\x00b\": Name cannot contain NUL characters",
                assertThrows(InvalidArgumentException.class, () -> NameRules.validateProjectName("a\0b")).getMessage());
        assertEquals("Invalid snapshot name \"a\\x00b\": Name cannot contain NUL characters",
                assertThrows(InvalidArgumentException.class, () -> NameRules.validateSnapshotName("a\0b")).getMessage());
        assertEquals("Invalid profile name: Name contains invalid character \"/\"",
                assertThrows(InvalidArgumentException.class, () -> NameRules.validateProfileName("a/b")).getMessage());
        assertDoesNotThrow(() -> NameRules.validateProjectName("prod"));
        assertDoesNotThrow(() -> NameRules.validateProfileName("web"));
    }

    @Test
    void rawLxcNetworkKeysAsIncus60() {
        assertDoesNotThrow(() -> ConfigKeys.validateKey(InstanceType.CONTAINER, "raw.lxc",
                "lxc.net.0.ipv4.address = 10.0.0.2/24\nlxc.net.0.ipv6.gateway = auto\nlxc.mount.entry = a b c\n"));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ConfigKeys.validateKey(InstanceType.CONTAINER, "raw.lxc", "lxc.net.0.type = veth"));
        assertEquals("Invalid value for config key \"raw.lxc\": Only interface-specific ipv4/ipv6 lxc.net. keys are "
                + "allowed (value \"lxc.net.0.type = veth\")", e.getMessage());
    }
}
