package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;
import org.apiguardian.api.API;

/**
 * Device validation as Incus 6.0 does it before anything is stored ({@code validDevices} in
 * {@code internal/server/instance/drivers/load.go}, {@code device.Validate} and each device type's
 * {@code validateConfig} in {@code internal/server/device/}): the device name, a known type ({@code none nic disk
 * unix-char unix-block unix-hotplug usb gpu infiniband proxy pci tpm}) supported by the instance type, the type's
 * options (unknown ones refused as {@code deviceConfig.Device.Validate} does; {@code user.*} and {@code initial.*}
 * always allowed), their values, and the rules between them (a disk needs a source unless it is the root disk
 * {@code path=/} with a pool, a nic needs a parent for the types that use one...).
 *
 * <p>What needs Incus's database (networks, storage pools and volumes) is not checked: a {@code network} or
 * {@code pool} is taken as named. NIC options are checked against the union of the NIC types' options.
 *
 * <p>Messages are Incus's: {@code Invalid devices: Device validation failed for "<name>": <reason>}.
 */
@API(status = INTERNAL)
public final class DeviceRules {
    /** One option check: {@code null} when accepted, else Incus's reason. */
    @FunctionalInterface
    private interface Check {
        String test(String value);
    }

    private static final Pattern PCI = Pattern.compile("([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]");

    private static final Check ANY = v -> null;
    private static final Check BOOL = optional(v -> ConfigValues.isBool(v) ? null
            : "Invalid value for a boolean " + ErrorTexts.quote(v));
    private static final Check SIZE = optional(v -> {
        try {
            ConfigValues.parseByteSize(v);
            return null;
        } catch (InvalidArgumentException e) {
            return e.getMessage();
        }
    });
    private static final Check UINT32 = optional(v -> isUint(v, 0xFFFF_FFFFL) ? null
            : "Invalid value for uint32 " + ErrorTexts.quote(v));
    private static final Check OCTAL_MODE = optional(v -> v.matches("0?[0-7]{1,4}") ? null
            : "Invalid file mode " + ErrorTexts.quote(v));
    private static final Check DEVICE_ID = optional(v -> v.matches("[0-9a-fA-F]{4}") ? null
            : "Invalid value " + ErrorTexts.quote(v) + ": must be a 4 digit hex number");
    private static final Check PCI_ADDRESS = v -> PCI.matcher(v).matches() ? null
            : "Invalid PCI address " + ErrorTexts.quote(v);
    private static final Check ABS_PATH = optional(v -> v.startsWith("/") ? null : "Must be absolute file path");
    private static final Check PROXY_ADDRESS = v -> {
        if (v.isEmpty()) {
            return "Required value";
        }
        int colon = v.indexOf(':');
        String kind = colon < 0 ? "" : v.substring(0, colon);
        return Set.of("tcp", "udp", "unix").contains(kind) && colon < v.length() - 1 ? null
                : "Invalid address " + ErrorTexts.quote(v) + ": must be tcp:, udp: or unix: followed by an address";
    };

    private static final Set<String> NIC_TYPES =
            Set.of("physical", "ipvlan", "p2p", "bridged", "routed", "macvlan", "sriov", "ovn");
    /** NIC types whose {@code parent} is required when no {@code network} is given. */
    private static final Set<String> NIC_TYPES_WITH_PARENT = Set.of("physical", "ipvlan", "bridged", "macvlan");
    private static final Set<String> GPU_TYPES = Set.of("physical", "mdev", "mig", "sriov");

    private static final Map<String, Check> DISK = Map.ofEntries(
            Map.entry("required", BOOL), Map.entry("optional", BOOL), Map.entry("readonly", BOOL),
            Map.entry("recursive", BOOL), Map.entry("shift", BOOL), Map.entry("source", ANY),
            Map.entry("limits.read", ANY), Map.entry("limits.write", ANY), Map.entry("limits.max", ANY),
            Map.entry("size", SIZE), Map.entry("size.state", SIZE), Map.entry("pool", ANY),
            Map.entry("propagation", oneOf("private", "shared", "slave", "unbindable", "rshared", "rslave",
                    "runbindable", "rprivate")),
            Map.entry("raw.mount.options", ANY), Map.entry("ceph.cluster_name", ANY), Map.entry("ceph.user_name", ANY),
            Map.entry("boot.priority", UINT32), Map.entry("path", ANY),
            Map.entry("io.cache", oneOf("none", "metadata", "writeback", "unsafe")),
            Map.entry("io.bus", oneOf("nvme", "virtio-blk", "virtio-scsi", "auto", "9p", "virtiofs", "usb")),
            Map.entry("attached", BOOL), Map.entry("wwn", ANY));

    private static final Map<String, Check> UNIX = Map.of(
            "source", ANY, "path", ANY, "required", BOOL, "uid", UINT32, "gid", UINT32, "mode", OCTAL_MODE,
            "major", UINT32, "minor", UINT32);

    private static final Map<String, Check> UNIX_HOTPLUG = Map.of(
            "vendorid", DEVICE_ID, "productid", DEVICE_ID, "uid", UINT32, "gid", UINT32, "mode", OCTAL_MODE,
            "required", BOOL);

    private static final Map<String, Check> USB = Map.of(
            "vendorid", DEVICE_ID, "productid", DEVICE_ID, "uid", UINT32, "gid", UINT32, "mode", OCTAL_MODE,
            "required", BOOL, "busnum", UINT32, "devnum", UINT32, "serial", ANY);

    private static final Map<String, Check> GPU = Map.ofEntries(
            Map.entry("vendorid", DEVICE_ID), Map.entry("productid", DEVICE_ID), Map.entry("id", ANY),
            Map.entry("pci", optional(PCI_ADDRESS)), Map.entry("uid", UINT32), Map.entry("gid", UINT32),
            Map.entry("mode", OCTAL_MODE), Map.entry("mdev", ANY), Map.entry("mig.uuid", ANY),
            Map.entry("mig.gi", UINT32), Map.entry("mig.ci", UINT32));

    private static final Map<String, Check> INFINIBAND = Map.of(
            "name", ANY, "mtu", UINT32, "hwaddr", ANY, "parent", ANY);

    private static final Map<String, Check> PROXY = Map.of(
            "bind", oneOf("host", "instance"), "listen", PROXY_ADDRESS, "connect", PROXY_ADDRESS, "uid", UINT32,
            "gid", UINT32, "mode", OCTAL_MODE, "nat", BOOL, "proxy_protocol", BOOL, "security.uid", UINT32,
            "security.gid", UINT32);

    private static final Map<String, Check> PCI_DEVICE = Map.of("address", PCI_ADDRESS, "firmware", BOOL);

    private static final Map<String, Check> TPM = Map.of("path", ANY, "pathrm", ANY);

    private static final Map<String, Check> NIC = nicOptions();

    private DeviceRules() {
    }

    /**
     * Validates the devices of an instance of {@code type} (for a profile's devices pass {@link InstanceType#ANY}:
     * every type is then supported), in name order so that the first error is deterministic.
     *
     * @throws InvalidArgumentException {@code Invalid devices: Device validation failed for "<name>": <reason>}
     */
    public static void validate(InstanceType type, Map<String, Device> devices) {
        if (devices == null) {
            return;
        }
        // A TreeMap refuses a null key with a raw NullPointerException: refuse it as Incus refuses an empty name.
        for (String name : devices.keySet()) {
            if (name == null) {
                throw new InvalidArgumentException("Invalid devices: Device validation failed for \"\": "
                        + NameRules.deviceNameError(""));
            }
        }
        Map<String, Device> sorted = new TreeMap<>(devices);
        for (Map.Entry<String, Device> e : sorted.entrySet()) {
            String name = e.getKey();
            String reason = NameRules.deviceNameError(name);
            if (reason == null) {
                reason = deviceError(type, name, e.getValue() == null ? Map.of() : e.getValue().config(), sorted);
            }
            if (reason != null) {
                throw new InvalidArgumentException("Invalid devices: Device validation failed for "
                        + ErrorTexts.quote(name == null ? "" : name) + ": " + reason);
            }
        }
    }

    /** The reason one device is refused, or {@code null}. */
    private static String deviceError(InstanceType type, String name, Map<String, String> conf,
            Map<String, Device> all) {
        Map<String, String> c = new HashMap<>();
        // Incus drops empty values when it reads a device (deviceConfig.NewDevices).
        conf.forEach((k, v) -> {
            if (v != null && !v.isEmpty()) {
                c.put(k, v);
            }
        });
        for (Map.Entry<String, String> e : c.entrySet()) {
            if (ErrorTexts.hasUnpairedSurrogate(e.getKey()) || ErrorTexts.hasUnpairedSurrogate(e.getValue())) {
                return "Invalid device option " + ErrorTexts.quote(e.getKey()) + ": unpaired UTF-16 surrogate";
            }
        }
        String devType = c.getOrDefault("type", "");
        String loading = "Failed loading device " + ErrorTexts.quote(name) + ": ";
        if (devType.isEmpty()) {
            return loading + "Missing device type in config";
        }
        String unsupported = loading + "Unsupported device type";
        String nicType = c.getOrDefault("nictype", "");
        switch (devType) {
            case "none":
                return options(c, Map.of());
            case "disk":
                return diskError(type, c, all);
            case "unix-char", "unix-block": {
                if (!supported(type, InstanceType.CONTAINER)) {
                    return "Unsupported device type";
                }
                String err = options(c, UNIX);
                if (err == null && c.get("source") == null && c.get("path") == null) {
                    err = "Unix device entry is missing the required \"source\" or \"path\" property";
                }
                return err;
            }
            case "unix-hotplug": {
                if (!supported(type, InstanceType.CONTAINER)) {
                    return "Unsupported device type";
                }
                String err = options(c, UNIX_HOTPLUG);
                if (err == null && c.get("vendorid") == null && c.get("productid") == null) {
                    err = "Unix hotplug devices require a vendorid or a productid";
                }
                return err;
            }
            case "usb":
                return options(c, USB);
            case "gpu": {
                String gpuType = c.getOrDefault("gputype", "physical");
                if (!GPU_TYPES.contains(gpuType)) {
                    return "Invalid value for device option \"gputype\": Invalid value " + ErrorTexts.quote(gpuType);
                }
                String err = options(c, GPU);
                if (err == null && gpuType.equals("mdev") && c.get("mdev") == null) {
                    err = "Invalid value for device option \"mdev\": Required value";
                }
                return err;
            }
            case "infiniband": {
                if (!Set.of("physical", "sriov").contains(nicType)) {
                    return unsupported;
                }
                if (!supported(type, InstanceType.CONTAINER)) {
                    return "Unsupported device type";
                }
                String err = options(c, INFINIBAND);
                return err == null ? required(c, "parent") : err;
            }
            case "nic":
                return nicError(c, nicType, unsupported);
            case "proxy": {
                String err = options(c, PROXY);
                if (err == null) {
                    err = requiredWith(c, "listen", PROXY_ADDRESS);
                }
                if (err == null) {
                    err = requiredWith(c, "connect", PROXY_ADDRESS);
                }
                // proxy.go validateConfig, in its order.
                if (err == null && type == InstanceType.VM && !ConfigValues.isTrue(c.get("nat"))) {
                    err = "Only NAT mode is supported for proxies on VM instances";
                }
                if (err == null && ConfigValues.isTrue(c.get("proxy_protocol"))
                        && (!c.get("connect").startsWith("tcp") || ConfigValues.isTrue(c.get("nat")))) {
                    err = "The PROXY header can only be sent to tcp servers in non-nat mode";
                }
                if (err == null && (!c.get("listen").startsWith("unix:") || c.get("listen").startsWith("unix:@"))
                        && (c.containsKey("uid") || c.containsKey("gid") || c.containsKey("mode"))) {
                    err = "Only proxy devices for non-abstract unix sockets can carry uid, gid, or mode properties";
                }
                if (err == null && ConfigValues.isTrue(c.get("nat")) && "instance".equals(c.get("bind"))) {
                    err = "Only host-bound proxies can use NAT";
                }
                return err;
            }
            case "pci": {
                if (!supported(type, InstanceType.VM)) {
                    return "Unsupported device type";
                }
                String err = options(c, PCI_DEVICE);
                return err == null ? requiredWith(c, "address", PCI_ADDRESS) : err;
            }
            case "tpm": {
                String err = options(c, TPM);
                if (err == null && type == InstanceType.CONTAINER) {
                    err = required(c, "path");
                    err = err == null ? required(c, "pathrm") : err;
                }
                return err;
            }
            default:
                return unsupported;
        }
    }

    private static String diskError(InstanceType type, Map<String, String> c, Map<String, Device> all) {
        String err = options(c, DISK);
        if (err != null) {
            return err;
        }
        String path = c.getOrDefault("path", "");
        String source = c.getOrDefault("source", "");
        String pool = c.getOrDefault("pool", "");
        boolean tmpfs = source.equals("tmpfs") || source.equals("tmpfs-overlay");
        boolean ceph = source.startsWith("ceph:") || source.startsWith("cephfs:");
        if (type == InstanceType.CONTAINER && c.containsKey("io.bus")) {
            return "IO bus configuration cannot be applied to containers";
        }
        if (type == InstanceType.CONTAINER && c.containsKey("io.cache")) {
            return "IO cache configuration cannot be applied to containers";
        }
        if (type == InstanceType.CONTAINER && c.containsKey("wwn")) {
            return "WWN cannot be applied to containers";
        }
        if (c.containsKey("required") && c.containsKey("optional")) {
            return "Cannot use both \"required\" and deprecated \"optional\" properties at the same time";
        }
        if (source.isEmpty() && !path.equals("/")) {
            return "Disk entry is missing the required \"source\" or \"path\" property";
        }
        if (path.equals("/") && !source.isEmpty()) {
            return "Root disk entry may not have a \"source\" property set";
        }
        if (path.equals("/") && pool.isEmpty()) {
            return "Root disk entry must have a \"pool\" property set";
        }
        if (c.containsKey("size") && !path.equals("/") && !tmpfs) {
            return "Only root or tmpfs disks can have a size quota";
        }
        if (c.containsKey("size.state") && !path.equals("/")) {
            return "Only the root disk may have a migration size quota";
        }
        if (ConfigValues.isTrue(c.get("recursive")) && ConfigValues.isTrue(c.get("readonly"))) {
            return "Recursive read-only bind-mounts aren't currently supported by the kernel";
        }
        if (!ceph && (c.containsKey("ceph.cluster_name") || c.containsKey("ceph.user_name"))) {
            return "Invalid options ceph.cluster_name/ceph.user_name for source " + ErrorTexts.quote(source);
        }
        if (tmpfs && path.isEmpty()) {
            return "Missing mount \"path\" setting";
        }
        // A container can only mount a disk somewhere; a VM can take a path-less disk as a block device.
        if (type == InstanceType.CONTAINER && path.isEmpty()) {
            return "Missing mount \"path\" setting";
        }
        if (!path.isEmpty()) {
            long sameDisk = all.values().stream()
                    .filter(d -> d != null && "disk".equals(d.type()) && path.equals(d.get("path"))).count();
            if (sameDisk > 1) {
                return "More than one disk device uses the same path " + ErrorTexts.quote(path);
            }
        }
        boolean local = pool.isEmpty() && !source.isEmpty() && !tmpfs && !ceph && !source.equals("cloud-init:config")
                && !source.equals("agent:config");
        if (local && !source.startsWith("/")) {
            return "Source path must be absolute for local sources";
        }
        if (!pool.isEmpty() && c.containsKey("shift")) {
            return "The \"shift\" property cannot be used with custom storage volumes (set \"security.shifted=true\" "
                    + "on the volume instead)";
        }
        if (!pool.isEmpty() && source.startsWith("/")) {
            return "Storage volumes cannot be specified as absolute paths";
        }
        return null;
    }

    private static String nicError(Map<String, String> c, String nicType, String unsupported) {
        boolean network = c.containsKey("network");
        if (!network && !NIC_TYPES.contains(nicType)) {
            return unsupported;
        }
        if (network) {
            for (String banned : List.of("nictype", "parent")) {
                if (c.containsKey(banned)) {
                    return "Cannot use " + ErrorTexts.quote(banned) + " property in conjunction with \"network\" property";
                }
            }
        }
        String err = options(c, NIC);
        if (err != null) {
            return err;
        }
        if (!network && NIC_TYPES_WITH_PARENT.contains(nicType)) {
            return required(c, "parent");
        }
        if (!network && nicType.equals("sriov") && !c.containsKey("pci") && !c.containsKey("vendorid")
                && !c.containsKey("productid")) {
            return required(c, "parent");
        }
        if (!network && nicType.equals("ovn")) {
            return required(c, "network");
        }
        return null;
    }

    private static Map<String, Check> nicOptions() {
        Map<String, Check> m = new HashMap<>();
        for (String k : List.of("parent", "network", "name", "hwaddr", "host_name", "vlan", "vlan.tagged",
                "ipv4.address", "ipv6.address", "ipv4.routes", "ipv6.routes", "ipv4.routes.external",
                "ipv6.routes.external", "ipv4.gateway", "ipv6.gateway", "ipv4.host_address", "ipv6.host_address",
                "ipv4.host_table", "ipv6.host_table", "ipv4.neighbor_probe", "ipv6.neighbor_probe",
                "security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering", "security.port_isolation",
                "security.acls", "security.acls.default.ingress.action", "security.acls.default.egress.action",
                "security.acls.default.ingress.logged", "security.acls.default.egress.logged", "limits.ingress",
                "limits.egress", "limits.max", "limits.priority", "maas.subnet.ipv4", "maas.subnet.ipv6",
                "boot.priority", "mode", "gvrp", "acceleration", "nested", "vrf", "io.bus", "vendorid", "productid",
                "pci", "attached", "connected", "queue.tx.length", "mtu", "security.trusted")) {
            m.put(k, ANY);
        }
        m.put("mtu", UINT32);
        m.put("boot.priority", UINT32);
        m.put("vendorid", DEVICE_ID);
        m.put("productid", DEVICE_ID);
        m.put("pci", optional(PCI_ADDRESS));
        m.put("acceleration", oneOf("none", "sriov", "vdpa"));
        for (String k : List.of("attached", "connected", "gvrp", "security.mac_filtering", "security.ipv4_filtering",
                "security.ipv6_filtering", "security.port_isolation", "security.trusted", "ipv4.neighbor_probe",
                "ipv6.neighbor_probe")) {
            m.put(k, BOOL);
        }
        return Map.copyOf(m);
    }

    /** {@code deviceConfig.Device.Validate}: each known option's check, then any option left over is unknown. */
    private static String options(Map<String, String> c, Map<String, Check> rules) {
        List<String> keys = new ArrayList<>(new TreeMap<>(c).keySet());
        for (String k : keys) {
            Check check = rules.get(k);
            if (check == null) {
                boolean free = k.equals("type") || k.startsWith("user.") || k.startsWith("initial.")
                        || (k.equals("nictype") && (Set.of("nic", "infiniband").contains(c.get("type"))))
                        || (k.equals("gputype") && "gpu".equals(c.get("type")));
                if (!free) {
                    return "Invalid device option " + ErrorTexts.quote(k);
                }
                continue;
            }
            String err = check.test(c.get(k));
            if (err != null) {
                return "Invalid value for device option " + ErrorTexts.quote(k) + ": " + err;
            }
        }
        return null;
    }

    private static String required(Map<String, String> c, String key) {
        return c.containsKey(key) ? null : "Invalid value for device option " + ErrorTexts.quote(key) + ": Required value";
    }

    private static String requiredWith(Map<String, String> c, String key, Check check) {
        String err = check.test(c.getOrDefault(key, ""));
        return err == null ? null : "Invalid value for device option " + ErrorTexts.quote(key) + ": " + err;
    }

    /** {@code instanceSupported}: profiles ({@link InstanceType#ANY}) support every device type. */
    private static boolean supported(InstanceType type, InstanceType only) {
        return type == InstanceType.ANY || type == only;
    }

    private static Check optional(Check check) {
        return v -> v == null || v.isEmpty() ? null : check.test(v);
    }

    private static Check oneOf(String... valid) {
        List<String> list = List.of(valid);
        UnaryOperator<String> shown = v -> "Invalid value " + ErrorTexts.quote(v) + " (not one of ["
                + String.join(" ", list) + "])";
        return optional(v -> list.contains(v) ? null : shown.apply(v));
    }

    private static boolean isUint(String v, long max) {
        if (v.isEmpty() || v.length() > 10 || !v.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
            return false;
        }
        return Long.parseLong(v) <= max;
    }
}
