/**
 * Internal, shared by incus4j's drivers (exported only to them): the wire of a migration between incus4j drivers
 * ({@link io.github.incus4j.api.internal.migration.MigrationWire}): header, filesystem tar, state and outcome.
 */
package io.github.incus4j.api.internal.migration;
