/**
 * Internal, shared by incus4j's drivers (exported only to them): what users configure, checked, expanded and
 * live-updated as Incus does it: instance, snapshot, project and profile names
 * ({@link io.github.incus4j.api.internal.config.NameRules}), config keys and their values
 * ({@link io.github.incus4j.api.internal.config.ConfigKeys}, {@link io.github.incus4j.api.internal.config.ConfigNumbers}),
 * devices ({@link io.github.incus4j.api.internal.config.DeviceRules}) and the id maps kept in volatile config
 * ({@link io.github.incus4j.api.internal.config.VolatileIdmaps}).
 */
package io.github.incus4j.api.internal.config;
