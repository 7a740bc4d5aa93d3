package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.internal.Immutable;
import java.util.Map;
import java.util.Optional;
import org.apiguardian.api.API;

/**
 * What a driver is and can do ({@code instance.Info}): its name ({@code lxc}, {@code qemu}, {@code fake}), the
 * version of what it drives (liblxc, QEMU), the instance type it provides, an operational impediment if any, and a
 * feature map (QEMU's {@code cpu_hotplug}, {@code io_uring}...). A driver with an error or no version is not usable.
 */
@API(status = EXPERIMENTAL)
public record Info(String name, String version, String error, InstanceType type, Map<String, Object> features) {
    public Info {
        name = name == null ? "" : name;
        version = version == null ? "" : version;
        features = Immutable.sortedMap(features);
    }

    /** The impediment, if the driver cannot operate on this host. */
    public Optional<String> impediment() {
        return Optional.ofNullable(error);
    }

    /** Incus's rule: usable when there is no error and a version is known. */
    public boolean isOperational() {
        return error == null && !version.isEmpty();
    }

    public boolean hasFeature(String feature) {
        return features.containsKey(feature);
    }
}
