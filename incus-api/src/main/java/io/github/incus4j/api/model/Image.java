package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.github.incus4j.api.internal.Immutable;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * An image ({@code api.Image}) as {@link io.github.incus4j.api.Instance#rebuild} takes it: its {@code properties}
 * become the instance's {@code image.*} keys and its fingerprint {@code volatile.base_image}. {@code source} (not an
 * Incus field) points at the image tarball on the local disk when the driver must unpack it.
 */
@API(status = EXPERIMENTAL)
public record Image(
        @JsonProperty("fingerprint") String fingerprint,
        @JsonProperty("filename") String filename,
        @JsonProperty("architecture") String architecture,
        @JsonProperty("type") String type,
        @JsonProperty("size") long size,
        @JsonProperty("public") boolean isPublic,
        @JsonProperty("auto_update") boolean autoUpdate,
        @JsonProperty("cached") boolean cached,
        @JsonProperty("properties") Map<String, String> properties,
        @JsonProperty("aliases") List<ImageAlias> aliases,
        @JsonProperty("profiles") List<String> profiles,
        @JsonProperty("project") String project,
        @JsonProperty("created_at") Instant createdAt,
        @JsonProperty("expires_at") Instant expiresAt,
        @JsonProperty("last_used_at") Instant lastUsedAt,
        @JsonProperty("uploaded_at") Instant uploadedAt,
        @com.fasterxml.jackson.annotation.JsonIgnore java.nio.file.Path source) {
    public Image {
        fingerprint = fingerprint == null ? "" : fingerprint;
        filename = filename == null ? "" : filename;
        architecture = architecture == null ? "" : architecture;
        type = type == null ? "container" : type;
        properties = Immutable.sortedMap(properties);
        aliases = Immutable.list(aliases);
        profiles = Immutable.list(profiles);
        project = project == null ? Project.DEFAULT_NAME : project;
    }

    /** An image known by its tarball on disk, with its fingerprint and metadata properties. */
    public static Image fromTarball(java.nio.file.Path tarball, String fingerprint, String type,
            ImageMetadata metadata) {
        return new Image(fingerprint, tarball.getFileName().toString(), metadata.architecture(), type, 0, false, false,
                false, metadata.properties(), List.of(), List.of(), Project.DEFAULT_NAME,
                Instant.ofEpochSecond(metadata.creationDate()),
                metadata.expiryDate() == 0 ? null : Instant.ofEpochSecond(metadata.expiryDate()), null, null, tarball);
    }
}
