package io.github.incus4j.api.model;

import com.fasterxml.jackson.annotation.JsonProperty;

/** An image alias ({@code api.ImageAlias}). */
public record ImageAlias(@JsonProperty("name") String name, @JsonProperty("description") String description) {
}
