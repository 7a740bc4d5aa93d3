/**
 * Moving an instance between two drivers or roots the way Incus migrates: the arguments of
 * {@code Instance.migrateSend} and {@code Instance.migrateReceive} ({@link io.github.incus4j.api.migration.MigrateArgs}
 * and its send and receive forms, with the control channel and the data connections), the control
 * {@link io.github.incus4j.api.migration.MigrationMessage}s, and CRIU's arguments for live container migration.
 */
package io.github.incus4j.api.migration;
