package io.github.incus4j.api.rest;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.List;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * A rendered resource and its ETag, the two values Go's {@code Render()} returns. The ETag is the list Incus hashes
 * for {@code If-Match} ({@link io.github.incus4j.api.Instance#etag()}).
 */
@API(status = EXPERIMENTAL)
public record Render<T>(T value, List<Object> etag) {
    public Render {
        Objects.requireNonNull(value, "value");
        etag = List.copyOf(etag);
    }
}
