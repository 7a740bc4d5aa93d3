package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.apiguardian.api.API;

/** An image alias ({@code api.ImageAlias}). */
@API(status = EXPERIMENTAL)
public record ImageAlias(@JsonProperty("name") String name, @JsonProperty("description") String description) {
}
