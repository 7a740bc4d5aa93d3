package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.config.DeviceChanges;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The devices a driver applies, declared by {@link AbstractInstances#deviceSupport(InstanceType)}: what Incus
 * accepts but the driver would not apply is refused with a {@link NotSupportedException} naming the device, the
 * type (or option) and the driver, at create and update, never accepted and dropped.
 *
 * <p>A kind is a device type ({@code disk}, {@code proxy}, {@code unix-char}...) or, for NICs and InfiniBand
 * devices, {@code nic:<nictype>} ({@code nic:bridged}; a NIC on a {@code network} counts as {@code bridged}). Each
 * kind is declared with the options the driver applies; {@code type}, {@code nictype}, {@code user.*} and
 * {@code initial.*} are always allowed. The root disk ({@code path=/} with a {@code pool}) and {@code none} are
 * always supported, and a profile's device of a type Incus itself does not support on the instance type (a
 * {@code unix-char} on a VM) is skipped as Incus skips it.
 */
@API(status = EXPERIMENTAL)
public final class DeviceSupport {
    private final String driver;
    /** Kind to the options applied; {@code null} value: every option Incus accepts. */
    private final Map<String, Set<String>> kinds;
    private final boolean everything;

    private DeviceSupport(String driver, Map<String, Set<String>> kinds, boolean everything) {
        this.driver = Objects.requireNonNull(driver, "driver");
        this.kinds = Map.copyOf(kinds);
        this.everything = everything;
    }

    /** Only the root disk and {@code none}: what a driver applies that declares nothing. */
    public static DeviceSupport rootDiskOnly(String driver) {
        return new DeviceSupport(driver, Map.of(), false);
    }

    /** Every device Incus accepts (a driver that hands devices to a real Incus). */
    public static DeviceSupport everything(String driver) {
        return new DeviceSupport(driver, Map.of(), true);
    }

    /** This support plus {@code kind} with every option Incus accepts for it. */
    public DeviceSupport with(String kind) {
        Map<String, Set<String>> m = new HashMap<>(kinds);
        m.put(Objects.requireNonNull(kind, "kind"), Set.of("*"));
        return new DeviceSupport(driver, m, everything);
    }

    /** This support plus {@code kind} with only {@code options} (besides the always-allowed ones). */
    public DeviceSupport with(String kind, Set<String> options) {
        Map<String, Set<String>> m = new HashMap<>(kinds);
        m.put(Objects.requireNonNull(kind, "kind"), Set.copyOf(options));
        return new DeviceSupport(driver, m, everything);
    }

    /** The driver's name, as the refusals show it. */
    public String driver() {
        return driver;
    }

    /** Whether the kind ({@code disk}, {@code nic:bridged}...) is applied, with at least some options. */
    public boolean supports(String kind) {
        return everything || kind.equals("none") || kinds.containsKey(kind);
    }

    /**
     * Checks every device of an instance's expanded devices.
     *
     * @throws NotSupportedException {@code The "<driver>" driver does not support ...} naming the first device (by
     *     name) it would not apply
     */
    public void check(InstanceType type, Devices expanded) {
        for (Map.Entry<String, Device> e : new TreeMap<>(expanded.map()).entrySet()) {
            String reason = refusal(type, e.getKey(), e.getValue());
            if (reason != null) {
                throw new NotSupportedException(reason);
            }
        }
    }

    /** Why device {@code name} is not applied on an instance of {@code type}, or {@code null} when it is. */
    public String refusal(InstanceType type, String name, Device d) {
        if (everything || d == null || !DeviceChanges.appliesTo(type, d)) {
            return null;
        }
        String t = d.type() == null ? "" : d.type();
        if (t.equals("none") || (t.equals("disk") && "/".equals(d.get("path")) && d.get("pool") != null)) {
            return null;
        }
        String kind = DeviceChanges.kind(d);
        String prefix = "The " + ErrorTexts.quote(driver) + " driver does not support ";
        String dev = " (device " + ErrorTexts.quote(name) + ")";
        Set<String> options = kinds.get(kind);
        if (options == null) {
            return kind.contains(":") ? prefix + kind.substring(0, kind.indexOf(':')) + " type "
                    + ErrorTexts.quote(kind.substring(kind.indexOf(':') + 1)) + dev
                    : prefix + "device type " + ErrorTexts.quote(t) + dev;
        }
        if (options.contains("*")) {
            return null;
        }
        for (String k : new TreeMap<>(d.config()).keySet()) {
            boolean free = k.equals("type") || k.equals("nictype") || k.startsWith("user.") || k.startsWith("initial.");
            if (!free && !options.contains(k) && !d.config().get(k).isEmpty()) {
                return prefix + "option " + ErrorTexts.quote(k) + " of " + ErrorTexts.quote(kind) + " devices" + dev;
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return "DeviceSupport[" + driver + (everything ? ": everything" : ": " + new TreeMap<>(kinds).keySet()) + "]";
    }
}
