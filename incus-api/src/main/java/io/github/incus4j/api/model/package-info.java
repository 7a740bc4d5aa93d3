/**
 * The records an instance is made of and described by, as Incus defines them: its definition
 * ({@link io.github.incus4j.api.model.InstanceArgs} with {@link io.github.incus4j.api.model.Devices},
 * {@link io.github.incus4j.api.model.Profile}s and its {@link io.github.incus4j.api.model.Project}), id maps, images
 * and their metadata, backups and the run configuration. Immutable; their JSON is Incus's.
 */
package io.github.incus4j.api.model;
