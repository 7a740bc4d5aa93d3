/**
 * Incus's REST views of an instance ({@code api.Instance}, {@code api.InstanceFull}, {@code api.InstanceSnapshot},
 * {@code api.InstanceState}) as records, rendered by {@code Instance.render()} and friends, and
 * {@link io.github.incus4j.api.rest.RestJson} to read and write them exactly as Incus's Go encoders do.
 */
package io.github.incus4j.api.rest;
