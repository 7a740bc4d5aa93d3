package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.github.incus4j.api.internal.Immutable;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * One template of {@code metadata.yaml} ({@code api.ImageMetadataTemplate}): the file {@code template} inside
 * {@code templates/} is rendered to the map key (an absolute path in the guest) on the triggers in {@code when}
 * ({@code create}, {@code copy}, {@code rename}, {@code start}); {@code create_only} skips files that already exist.
 */
@API(status = EXPERIMENTAL)
public record ImageMetadataTemplate(
        @JsonProperty("when") List<String> when,
        @JsonProperty("create_only") boolean createOnly,
        @JsonProperty("template") String template,
        @JsonProperty("properties") Map<String, String> properties,
        @JsonProperty("uid") @JsonInclude(JsonInclude.Include.NON_EMPTY) String uid,
        @JsonProperty("gid") @JsonInclude(JsonInclude.Include.NON_EMPTY) String gid,
        @JsonProperty("mode") @JsonInclude(JsonInclude.Include.NON_EMPTY) String mode) {
    public ImageMetadataTemplate {
        when = Immutable.list(when);
        template = template == null ? "" : template;
        properties = Immutable.sortedMap(properties);
        uid = uid == null ? "" : uid;
        gid = gid == null ? "" : gid;
        mode = mode == null ? "" : mode;
    }
}
