package io.github.incus4j.api.metrics;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.internal.Immutable;
import java.util.Map;
import org.apiguardian.api.API;

/** One value with its labels ({@code metrics.Sample}). */
@API(status = EXPERIMENTAL)
public record Sample(Map<String, String> labels, double value) {
    public Sample {
        labels = Immutable.sortedMap(labels);
    }

    public static Sample of(double value) {
        return new Sample(Map.of(), value);
    }

    public static Sample of(double value, String... labelPairs) {
        if (labelPairs.length % 2 != 0) {
            throw new IllegalArgumentException("labels come in key/value pairs");
        }
        java.util.HashMap<String, String> m = new java.util.HashMap<>();
        for (int i = 0; i < labelPairs.length; i += 2) {
            m.put(labelPairs[i], labelPairs[i + 1]);
        }
        return new Sample(m, value);
    }
}
