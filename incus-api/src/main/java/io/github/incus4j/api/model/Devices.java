package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.STABLE;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import io.github.incus4j.api.internal.Immutable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * Named devices ({@code deviceConfig.Devices}). In JSON a map of device name to its key/value map, as Incus's
 * {@code devices} and {@code expanded_devices} fields.
 */
@API(status = STABLE)
public record Devices(Map<String, Device> map) {
    /** No devices. */
    public static final Devices EMPTY = new Devices(Map.of());

    @JsonCreator
    public Devices {
        map = Immutable.sortedMap(map);
    }

    /** A device by name, or {@code null}. */
    public Device get(String name) {
        return map.get(name);
    }

    public boolean isEmpty() {
        return map.isEmpty();
    }

    /** A copy with one device added or replaced ({@code null} removes it). */
    public Devices with(String name, Device device) {
        Map<String, Device> m = new HashMap<>(map);
        if (device == null) {
            m.remove(name);
        } else {
            m.put(name, device);
        }
        return new Devices(m);
    }

    /** These devices with {@code other}'s laid on top, device by device (how profiles then local devices expand). */
    public Devices overlay(Devices other) {
        if (other.isEmpty()) {
            return this;
        }
        Map<String, Device> m = new HashMap<>(map);
        m.putAll(other.map);
        return new Devices(m);
    }

    /**
     * Incus's {@code Devices.Sorted()}: entries ordered by name, used in {@link io.github.incus4j.api.Instance#etag()}.
     */
    public List<Map.Entry<String, Device>> sorted() {
        List<Map.Entry<String, Device>> out = new ArrayList<>(map.entrySet());
        out.sort(Map.Entry.comparingByKey(Comparator.naturalOrder()));
        return List.copyOf(out);
    }

    @JsonValue
    Map<String, Device> json() {
        return map;
    }
}
