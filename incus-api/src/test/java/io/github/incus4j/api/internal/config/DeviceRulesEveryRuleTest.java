package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.model.Device;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Each device rule on its own, with Incus 6.0's text, and the value just inside each rule accepted: the rules that
 * the contract's fuzzing reaches only by chance (mutation testing found them unchecked).
 */
class DeviceRulesEveryRuleTest {
    private static final InstanceType CT = InstanceType.CONTAINER;
    private static final InstanceType VM = InstanceType.VM;

    private static void refused(InstanceType type, Device d, String reason) {
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> DeviceRules.validate(type, Map.of("d", d)));
        assertEquals("Invalid devices: Device validation failed for \"d\": " + reason, e.getMessage());
    }

    private static void accepted(InstanceType type, Device d) {
        assertDoesNotThrow(() -> DeviceRules.validate(type, Map.of("d", d)));
    }

    private static Device disk(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("type", "disk");
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return new Device(m);
    }

    @Test
    void diskRules() {
        refused(CT, disk("path", "/m", "source", "/s", "io.bus", "nvme"),
                "IO bus configuration cannot be applied to containers");
        accepted(VM, disk("path", "/m", "source", "/s", "io.bus", "nvme"));
        refused(CT, disk("path", "/m", "source", "/s", "io.cache", "none"),
                "IO cache configuration cannot be applied to containers");
        accepted(VM, disk("path", "/m", "source", "/s", "io.cache", "none"));
        refused(CT, disk("path", "/m", "source", "/s", "wwn", "x"), "WWN cannot be applied to containers");
        accepted(VM, disk("path", "/m", "source", "/s", "wwn", "x"));
        refused(CT, disk("path", "/m", "source", "/s", "required", "true", "optional", "false"),
                "Cannot use both \"required\" and deprecated \"optional\" properties at the same time");
        accepted(CT, disk("path", "/m", "source", "/s", "required", "true"));
        accepted(CT, disk("path", "/m", "source", "/s", "optional", "true"));
        refused(CT, disk("path", "/m", "source", "/s", "size", "1GiB"), "Only root or tmpfs disks can have a size quota");
        accepted(CT, disk("path", "/m", "source", "tmpfs", "size", "1GiB"));
        accepted(CT, disk("path", "/", "pool", "p", "size", "1GiB"));
        refused(CT, disk("path", "/m", "source", "/s", "size.state", "1GiB"),
                "Only the root disk may have a migration size quota");
        accepted(CT, disk("path", "/", "pool", "p", "size.state", "1GiB"));
        refused(CT, disk("path", "/m", "source", "/s", "recursive", "true", "readonly", "true"),
                "Recursive read-only bind-mounts aren't currently supported by the kernel");
        accepted(CT, disk("path", "/m", "source", "/s", "recursive", "true", "readonly", "false"));
        accepted(CT, disk("path", "/m", "source", "/s", "recursive", "false", "readonly", "true"));
        refused(CT, disk("path", "/m", "source", "/s", "ceph.user_name", "u"),
                "Invalid options ceph.cluster_name/ceph.user_name for source \"/s\"");
        refused(CT, disk("path", "/m", "source", "/s", "ceph.cluster_name", "c"),
                "Invalid options ceph.cluster_name/ceph.user_name for source \"/s\"");
        accepted(CT, disk("path", "/m", "source", "ceph:pool/vol", "ceph.user_name", "u"));
        accepted(CT, disk("path", "/m", "source", "cephfs:fs/x", "ceph.cluster_name", "c"));
        refused(VM, disk("source", "tmpfs"), "Missing mount \"path\" setting");
        refused(VM, disk("source", "tmpfs-overlay"), "Missing mount \"path\" setting");
        refused(CT, disk("source", "/s"), "Missing mount \"path\" setting");
        accepted(VM, disk("source", "/s"));
        refused(CT, disk("path", "/m", "source", "rel"), "Source path must be absolute for local sources");
        accepted(CT, disk("path", "/m", "source", "cloud-init:config"));
        accepted(VM, disk("source", "agent:config"));
        accepted(CT, disk("path", "/m", "source", "vol", "pool", "p"));
        refused(CT, disk("path", "/m", "source", "vol", "pool", "p", "shift", "true"),
                "The \"shift\" property cannot be used with custom storage volumes (set \"security.shifted=true\" "
                        + "on the volume instead)");
        accepted(CT, disk("path", "/m", "source", "/s", "shift", "true"));
        refused(CT, disk("path", "/m", "source", "/abs", "pool", "p"),
                "Storage volumes cannot be specified as absolute paths");
        refused(CT, disk("path", "/m", "source", "/s", "propagation", "odd"),
                "Invalid value for device option \"propagation\": Invalid value \"odd\" (not one of [private shared "
                        + "slave unbindable rshared rslave runbindable rprivate])");
        refused(VM, disk("source", "/s", "boot.priority", "4294967296"),
                "Invalid value for device option \"boot.priority\": Invalid value for uint32 \"4294967296\"");
        accepted(VM, disk("source", "/s", "boot.priority", "4294967295"));
    }

    @Test
    void emptyValuesAreDroppedAsIncusDoes() {
        // "bogus" with an empty value is no option at all; a path and a source that are empty are missing.
        accepted(CT, disk("path", "/m", "source", "/s", "bogus", ""));
        refused(CT, disk("path", "/m", "source", ""), "Disk entry is missing the required \"source\" or \"path\" property");
    }

    @Test
    void twoDisksOnOnePathAreRefused() {
        Map<String, Device> devices = new LinkedHashMap<>();
        devices.put("a", disk("path", "/m", "source", "/s"));
        devices.put("b", disk("path", "/m", "source", "/t"));
        devices.put("c", disk("path", "/n", "source", "/t"));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> DeviceRules.validate(CT, devices));
        assertEquals("Invalid devices: Device validation failed for \"a\": More than one disk device uses the same "
                + "path \"/m\"", e.getMessage());
        devices.remove("b");
        assertDoesNotThrow(() -> DeviceRules.validate(CT, devices));
    }

    @Test
    void unixAndUsbRules() {
        refused(VM, Device.of("type", "unix-block", "path", "/dev/x"), "Unsupported device type");
        accepted(CT, Device.of("type", "unix-block", "source", "/dev/x", "mode", "0660", "uid", "0"));
        refused(CT, Device.of("type", "unix-char", "path", "/dev/x", "mode", "0999"),
                "Invalid value for device option \"mode\": Invalid file mode \"0999\"");
        refused(VM, Device.of("type", "unix-hotplug", "vendorid", "abcd"), "Unsupported device type");
        refused(CT, Device.of("type", "unix-hotplug"), "Unix hotplug devices require a vendorid or a productid");
        accepted(CT, Device.of("type", "unix-hotplug", "vendorid", "abcd"));
        accepted(CT, Device.of("type", "unix-hotplug", "productid", "01Ef"));
        refused(CT, Device.of("type", "unix-hotplug", "vendorid", "abc"),
                "Invalid value for device option \"vendorid\": Invalid value \"abc\": must be a 4 digit hex number");
        accepted(VM, Device.of("type", "usb", "vendorid", "abcd", "busnum", "1"));
        refused(CT, Device.of("type", "usb", "busnum", "x"),
                "Invalid value for device option \"busnum\": Invalid value for uint32 \"x\"");
    }

    @Test
    void gpuInfinibandPciTpmRules() {
        accepted(CT, Device.of("type", "gpu"));
        accepted(VM, Device.of("type", "gpu", "gputype", "mdev", "mdev", "i915-GVTg_V5_4"));
        refused(VM, Device.of("type", "gpu", "gputype", "mdev"),
                "Invalid value for device option \"mdev\": Required value");
        refused(VM, Device.of("type", "gpu", "gputype", "fancy"),
                "Invalid value for device option \"gputype\": Invalid value \"fancy\"");
        refused(CT, Device.of("type", "gpu", "pci", "nonsense"),
                "Invalid value for device option \"pci\": Invalid PCI address \"nonsense\"");
        accepted(CT, Device.of("type", "gpu", "pci", "0000:01:00.0"));

        refused(CT, Device.of("type", "infiniband", "nictype", "bridged"),
                "Failed loading device \"d\": Unsupported device type");
        refused(VM, Device.of("type", "infiniband", "nictype", "physical", "parent", "ib0"), "Unsupported device type");
        refused(CT, Device.of("type", "infiniband", "nictype", "sriov"),
                "Invalid value for device option \"parent\": Required value");
        accepted(CT, Device.of("type", "infiniband", "nictype", "physical", "parent", "ib0"));

        refused(CT, Device.of("type", "pci", "address", "0000:01:00.0"), "Unsupported device type");
        refused(VM, Device.of("type", "pci"),
                "Invalid value for device option \"address\": Invalid PCI address \"\"");
        accepted(VM, Device.of("type", "pci", "address", "0000:01:00.0"));

        refused(CT, Device.of("type", "tpm"), "Invalid value for device option \"path\": Required value");
        refused(CT, Device.of("type", "tpm", "path", "/dev/tpm0"),
                "Invalid value for device option \"pathrm\": Required value");
        accepted(CT, Device.of("type", "tpm", "path", "/dev/tpm0", "pathrm", "/dev/tpmrm0"));
        accepted(VM, Device.of("type", "tpm"));
    }

    @Test
    void nicAndProxyRules() {
        refused(CT, Device.of("type", "nic", "network", "br", "parent", "eth0"),
                "Cannot use \"parent\" property in conjunction with \"network\" property");
        for (String t : new String[] {"physical", "ipvlan", "bridged", "macvlan"}) {
            refused(CT, Device.of("type", "nic", "nictype", t),
                    "Invalid value for device option \"parent\": Required value");
        }
        refused(CT, Device.of("type", "nic", "nictype", "sriov"),
                "Invalid value for device option \"parent\": Required value");
        accepted(CT, Device.of("type", "nic", "nictype", "sriov", "pci", "0000:01:00.0"));
        accepted(CT, Device.of("type", "nic", "nictype", "sriov", "vendorid", "abcd"));
        accepted(CT, Device.of("type", "nic", "nictype", "sriov", "productid", "abcd"));
        refused(CT, Device.of("type", "nic", "nictype", "ovn"),
                "Invalid value for device option \"network\": Required value");
        accepted(CT, Device.of("type", "nic", "nictype", "p2p"));
        accepted(CT, Device.of("type", "nic", "nictype", "routed"));

        refused(CT, Device.of("type", "proxy", "listen", "tcp:0.0.0.0:80"),
                "Invalid value for device option \"connect\": Required value");
        refused(CT, Device.of("type", "proxy", "listen", "sctp:1", "connect", "tcp:1"),
                "Invalid value for device option \"listen\": Invalid address \"sctp:1\": must be tcp:, udp: or "
                        + "unix: followed by an address");
        refused(CT, Device.of("type", "proxy", "listen", "tcp:", "connect", "tcp:1"),
                "Invalid value for device option \"listen\": Invalid address \"tcp:\": must be tcp:, udp: or "
                        + "unix: followed by an address");
        accepted(CT, Device.of("type", "proxy", "listen", "udp:1", "connect", "unix:/s", "bind", "instance"));
    }
}
