package io.github.incus4j.api.rest;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/** What {@link io.github.incus4j.api.Instance#render()} returns: an instance, or a snapshot when it is one. */
@API(status = EXPERIMENTAL)
public sealed interface ApiRenderable permits ApiInstance, ApiInstanceSnapshot {
    /** The name as the REST API shows it (for a snapshot, the part after {@code /}). */
    String name();
}
