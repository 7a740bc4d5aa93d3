package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.github.incus4j.api.internal.Immutable;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The {@code metadata.yaml} of an Incus image ({@code api.ImageMetadata}); YAML and JSON names are the same. Dates are
 * unix seconds; an {@code expiry_date} of 0 means none.
 */
@API(status = EXPERIMENTAL)
public record ImageMetadata(
        @JsonProperty("architecture") String architecture,
        @JsonProperty("creation_date") long creationDate,
        @JsonProperty("expiry_date") long expiryDate,
        @JsonProperty("properties") Map<String, String> properties,
        @JsonProperty("templates") Map<String, ImageMetadataTemplate> templates) {
    public ImageMetadata {
        architecture = architecture == null ? "" : architecture;
        properties = Immutable.sortedMap(properties);
        templates = Immutable.sortedMap(templates);
    }
}
