/**
 * Internal, shared by incus4j's drivers (exported only to them): what users configure, checked, expanded and
 * live-updated as Incus does it: instance, snapshot, project and profile names
 * ({@link io.github.incus4j.api.internal.config.NameRules}), config keys and their checks
 * ({@link io.github.incus4j.api.internal.config.ConfigKeys}), values ({@link io.github.incus4j.api.internal.config.ConfigValues},
 * {@link io.github.incus4j.api.internal.config.ConfigNumbers}, {@link io.github.incus4j.api.internal.config.SnapshotExpiry}),
 * expansion from profiles ({@link io.github.incus4j.api.internal.config.ProfileExpansion}), what may change on a running
 * instance ({@link io.github.incus4j.api.internal.config.LiveUpdates}, {@link io.github.incus4j.api.internal.config.DeviceChanges}),
 * devices ({@link io.github.incus4j.api.internal.config.DeviceRules}), the volatile keys an instance keeps
 * ({@link io.github.incus4j.api.internal.config.VolatileKeys}) and the id maps among them
 * ({@link io.github.incus4j.api.internal.config.VolatileIdmaps}).
 */
package io.github.incus4j.api.internal.config;
