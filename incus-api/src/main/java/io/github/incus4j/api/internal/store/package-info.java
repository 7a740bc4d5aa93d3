/**
 * Internal, shared by incus4j's drivers (exported only to them): what drivers keep on disk: Incus's
 * {@code backup.yaml} ({@link io.github.incus4j.api.internal.store.BackupYaml}), files written so that a crash never
 * leaves them torn ({@link io.github.incus4j.api.internal.store.RecordStore}) and moves of instance directories
 * ({@link io.github.incus4j.api.internal.store.StorageFiles}).
 */
package io.github.incus4j.api.internal.store;
