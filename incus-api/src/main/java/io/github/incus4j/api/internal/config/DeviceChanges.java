package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import org.apiguardian.api.API;

/**
 * How Incus 6.0 changes an instance's devices, outside any driver: the diff of two expanded device sets
 * ({@code deviceConfig.Devices.Update} with each type's {@code UpdatableFields}), which device types can be
 * added or removed while the instance runs ({@code CanHotPlug}), which types an instance type supports at all (a
 * profile's device of another type is skipped, as {@code ErrUnsupportedDevType}), and the {@code volatile.<dev>.*}
 * keys ({@code FillNetworkDevice}, {@code deviceVolatileReset}).
 *
 * @param removed devices to remove, by name (an entry whose config changed in a way not updatable in place is both
 *     removed and added)
 * @param added devices to add, by name
 * @param updated devices whose only changes are updatable in place: name to new config
 */
@API(status = INTERNAL)
public record DeviceChanges(Map<String, Device> removed, Map<String, Device> added, Map<String, Device> updated) {

    /** Keys each type updates in place ({@code UpdatableFields}); other changes remove and re-add the device. */
    private static final Map<String, Set<String>> UPDATABLE = Map.of(
            "disk", Set.of("limits.max", "limits.read", "limits.write", "size", "size.state"),
            "nic:bridged", Set.of("limits.ingress", "limits.egress", "limits.max", "limits.priority", "ipv4.routes",
                    "ipv6.routes", "ipv4.routes.external", "ipv6.routes.external", "ipv4.address", "ipv6.address",
                    "security.mac_filtering", "security.ipv4_filtering", "security.ipv6_filtering", "security.acls",
                    "security.acls.default.egress.action", "security.acls.default.egress.logged",
                    "security.acls.default.ingress.action", "security.acls.default.ingress.logged"),
            "nic:p2p", Set.of("limits.ingress", "limits.egress", "limits.max", "limits.priority", "ipv4.routes",
                    "ipv6.routes"),
            "nic:routed", Set.of("limits.ingress", "limits.egress", "limits.max", "limits.priority"));

    /** NIC types a running VM takes and gives back ({@code CanHotPlug} true); the rest are containers only. */
    private static final Set<String> VM_HOTPLUG_NICS = Set.of("bridged", "macvlan", "physical", "routed", "sriov",
            "ovn");

    public DeviceChanges {
        removed = Map.copyOf(new TreeMap<>(removed));
        added = Map.copyOf(new TreeMap<>(added));
        updated = Map.copyOf(new TreeMap<>(updated));
    }

    /** No change. */
    public boolean isEmpty() {
        return removed.isEmpty() && added.isEmpty() && updated.isEmpty();
    }

    /** {@code deviceConfig.Devices.Update}: {@code user.*} device names are skipped as Incus does. */
    public static DeviceChanges between(Devices oldDevices, Devices newDevices) {
        Map<String, Device> rm = new HashMap<>();
        Map<String, Device> add = new HashMap<>();
        Map<String, Device> upd = new HashMap<>();
        oldDevices.map().forEach((name, d) -> {
            if (!name.startsWith("user.") && !same(d, newDevices.get(name))) {
                rm.put(name, d);
            }
        });
        newDevices.map().forEach((name, d) -> {
            if (!name.startsWith("user.") && !same(d, oldDevices.get(name))) {
                add.put(name, d);
            }
        });
        for (String name : Set.copyOf(add.keySet())) {
            Device oldDev = rm.get(name);
            Device newDev = add.get(name);
            if (oldDev == null) {
                continue;
            }
            Map<String, String> o = new HashMap<>(oldDev.config());
            Map<String, String> n = new HashMap<>(newDev.config());
            String kind = kind(oldDev);
            if (kind.equals(kind(newDev))) {
                Set<String> updatable = UPDATABLE.getOrDefault(kind, Set.of());
                o.keySet().removeAll(updatable);
                n.keySet().removeAll(updatable);
            }
            if (o.equals(n)) {
                rm.remove(name);
                add.remove(name);
                upd.put(name, newDev);
            }
        }
        return new DeviceChanges(rm, add, upd);
    }

    private static boolean same(Device a, Device b) {
        return b != null && a.config().equals(b.config());
    }

    /**
     * A device's kind: its type, with the NIC type for a {@code nic} ({@code nic:bridged}); a NIC on a
     * {@code network} is bridged, the only kind of managed network the local drivers have.
     */
    public static String kind(Device d) {
        String type = d.type() == null ? "" : d.type();
        if (type.equals("nic") || type.equals("infiniband")) {
            String nicType = d.get("nictype");
            if ((nicType == null || nicType.isEmpty()) && d.get("network") != null) {
                nicType = "bridged";
            }
            return type + ":" + (nicType == null ? "" : nicType);
        }
        return type;
    }

    /**
     * Whether Incus's device of this kind supports the instance type at all; a profile device that does not is
     * skipped ({@code ErrUnsupportedDevType}, "allows for mixed instance type profiles"), a local one was already
     * refused by {@link DeviceRules}.
     */
    public static boolean appliesTo(InstanceType type, Device d) {
        String t = d.type() == null ? "" : d.type();
        if (t.startsWith("unix-") || t.equals("infiniband") || kind(d).equals("nic:ipvlan")) {
            return type != InstanceType.VM;
        }
        if (t.equals("pci")) {
            return type != InstanceType.CONTAINER;
        }
        return true;
    }

    /**
     * Incus's {@code CanHotPlug}: a container takes every device live except {@code ipvlan} NICs and MIG GPUs; a VM
     * only disks, {@code none}, PCI devices and the NIC types of {@link #VM_HOTPLUG_NICS}.
     */
    public static boolean canHotPlug(InstanceType type, Device d) {
        String t = d.type() == null ? "" : d.type();
        String kind = kind(d);
        if (t.equals("disk") || t.equals("none")) {
            return true;
        }
        if (kind.equals("nic:ipvlan") || (t.equals("gpu") && "mig".equals(d.get("gputype")))) {
            return false;
        }
        if (type == InstanceType.CONTAINER) {
            return true;
        }
        if (t.equals("pci")) {
            return true;
        }
        return t.equals("nic") && VM_HOTPLUG_NICS.contains(kind.substring(4));
    }

    /** Incus's text when a device that cannot be hot-plugged is added to a running instance. */
    public static String hotAddError(String name) {
        return "Failed to add device \"" + name + "\": Device cannot be added when instance is running";
    }

    /** Incus's text when a device that cannot be hot-unplugged is removed from a running instance. */
    public static String hotRemoveError(String name) {
        return "Failed to stop device \"" + name + "\": Device cannot be stopped when instance is running";
    }

    /**
     * Incus's {@code disk.validateConfig} with an instance loaded: a required disk with a local host {@code source}
     * (no {@code pool}, not {@code tmpfs}, {@code ceph:}, {@code cephfs:}, {@code cloud-init:} or {@code agent:}) whose
     * path does not exist: {@code Missing source path "<src>" for disk "<dev>"}; else {@code null}.
     */
    public static String missingSource(String name, Device d) {
        if (!"disk".equals(d.type()) || !blank(d.get("pool"))) {
            return null;
        }
        String source = d.get("source");
        if (blank(source) || !source.startsWith("/")) {
            return null;
        }
        String req = d.get("required");
        boolean required = blank(req) ? !ConfigValues.isTrue(d.get("optional")) : ConfigValues.isTrue(req);
        if (!required || java.nio.file.Files.exists(java.nio.file.Path.of(source))) {
            return null;
        }
        return "Missing source path \"" + source + "\" for disk \"" + name + "\"";
    }

    // ---- volatile keys ------------------------------------------------------------------------------------------

    /**
     * {@code FillNetworkDevice} for every NIC and InfiniBand device of {@code expanded} that {@code only} names
     * ({@code null}: all): a {@code volatile.<dev>.hwaddr} in Incus's {@code 10:66:6a} range unless the device sets
     * {@code hwaddr} or is a {@code physical}/{@code ipvlan} NIC, and for a container a {@code volatile.<dev>.name}
     * ({@code eth0}, {@code eth1}, ...: the first not used by another device or volatile name) unless it sets
     * {@code name}. Existing volatile keys are kept. Adds the keys to {@code config}.
     */
    public static void fillVolatile(InstanceType type, Devices expanded, Set<String> only, Map<String, String> config) {
        for (Map.Entry<String, Device> e : expanded.sorted()) {
            String name = e.getKey();
            Device d = e.getValue();
            if (!(only == null || only.contains(name)) || !appliesTo(type, d)
                    || !List.of("nic", "infiniband").contains(d.type())) {
                continue;
            }
            String nicType = kind(d).substring(d.type().length() + 1);
            if (!Set.of("physical", "ipvlan").contains(nicType) && blank(d.get("hwaddr"))) {
                config.computeIfAbsent("volatile." + name + ".hwaddr", k -> randomMac());
            }
            if (type == InstanceType.CONTAINER && blank(d.get("name"))) {
                String key = "volatile." + name + ".name";
                if (!config.containsKey(key)) {
                    config.put(key, nextInterfaceName(expanded, config));
                }
            }
        }
    }

    /** A NIC's config with {@code hwaddr} and {@code name} filled from its volatile keys when it sets none. */
    public static Device withVolatile(String name, Device d, Map<String, String> config) {
        Device out = d;
        for (String k : List.of("hwaddr", "name")) {
            String v = config.get("volatile." + name + "." + k);
            if (v != null && !v.isEmpty() && blank(out.get(k))) {
                out = out.with(k, v);
            }
        }
        return out;
    }

    /**
     * {@code deviceVolatileReset}: the volatile keys to clear when device {@code name} goes from {@code oldDev} to
     * {@code newDev} ({@code null}: removed). A changed type (or NIC type) clears them all; otherwise only those the
     * new config now sets itself.
     */
    public static Set<String> volatileToClear(String name, Device oldDev, Device newDev, Map<String, String> config) {
        String prefix = "volatile." + name + ".";
        Set<String> out = new HashSet<>();
        boolean retyped = newDev == null || !kind(oldDev).equals(kind(newDev));
        for (String k : config.keySet()) {
            if (k.startsWith(prefix) && (retyped || newDev.config().containsKey(k.substring(prefix.length())))) {
                out.add(k);
            }
        }
        return out;
    }

    /** Incus's default MAC pattern {@code 10:66:6a:xx:xx:xx} ({@code DeviceNextInterfaceHWAddr}). */
    public static String randomMac() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return String.format("10:66:6a:%02x:%02x:%02x", r.nextInt(256), r.nextInt(256), r.nextInt(256));
    }

    private static String nextInterfaceName(Devices expanded, Map<String, String> config) {
        Set<String> used = new HashSet<>();
        expanded.map().values().forEach(d -> {
            if (!blank(d.get("name"))) {
                used.add(d.get("name"));
            }
        });
        config.forEach((k, v) -> {
            if (k.startsWith("volatile.") && k.endsWith(".name")) {
                used.add(v);
            }
        });
        for (int i = 0;; i++) {
            if (!used.contains("eth" + i)) {
                return "eth" + i;
            }
        }
    }

    private static boolean blank(String s) {
        return s == null || s.isEmpty();
    }
}
