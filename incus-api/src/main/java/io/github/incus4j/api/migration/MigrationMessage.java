package io.github.incus4j.api.migration;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.internal.Immutable;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * A control message of a migration (the protobuf {@code MigrationHeader} / {@code MigrationControl} of Incus, reduced
 * to what drivers exchange): a {@code kind} such as {@code header}, {@code control}; typed fields as strings; and for
 * a control message whether the other side succeeded and its error text.
 */
@API(status = EXPERIMENTAL)
public record MigrationMessage(String kind, Map<String, String> fields, boolean success, String message) {
    public MigrationMessage {
        fields = Immutable.sortedMap(fields);
        message = message == null ? "" : message;
    }

    public static MigrationMessage header(Map<String, String> fields) {
        return new MigrationMessage("header", fields, true, "");
    }

    public static MigrationMessage control(boolean success, String message) {
        return new MigrationMessage("control", Map.of(), success, message);
    }

    public String field(String key) {
        return fields.get(key);
    }
}
