package io.github.incus4j.api.rest;

/** What {@link io.github.incus4j.api.Instance#render()} returns: an instance, or a snapshot when it is one. */
public sealed interface ApiRenderable permits ApiInstance, ApiInstanceSnapshot {
    /** The name as the REST API shows it (for a snapshot, the part after {@code /}). */
    String name();
}
