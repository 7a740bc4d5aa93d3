package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.STABLE;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import io.github.incus4j.api.internal.Immutable;
import java.util.HashMap;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * One device's configuration ({@code deviceConfig.Device}, a {@code map[string]string}): {@code type} plus
 * type-specific keys such as {@code path}, {@code pool}, {@code nictype}, {@code parent}.
 */
@API(status = STABLE)
public record Device(Map<String, String> config) {
    @JsonCreator
    public Device {
        config = Immutable.sortedMap(config);
    }

    /** A device from alternating keys and values: {@code Device.of("type", "disk", "path", "/")}. */
    public static Device of(String... keysAndValues) {
        if (keysAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("Device.of needs key/value pairs");
        }
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            m.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return new Device(m);
    }

    /** The device type ({@code disk}, {@code nic}, {@code unix-char}...), empty when unset. */
    public String type() {
        return config.getOrDefault("type", "");
    }

    /** A key's value, or {@code null}. */
    public String get(String key) {
        return config.get(key);
    }

    /** A copy with one key set (an empty value removes it). */
    public Device with(String key, String value) {
        Map<String, String> m = new HashMap<>(config);
        if (value == null || value.isEmpty()) {
            m.remove(key);
        } else {
            m.put(key, value);
        }
        return new Device(m);
    }

    @JsonValue
    Map<String, String> json() {
        return config;
    }
}
