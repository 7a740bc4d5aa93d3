/**
 * Internal to incus-api (not exported): the Jackson setup shared by the module's records and views
 * ({@link io.github.incus4j.api.internal.Json}) and defensive copies for records
 * ({@link io.github.incus4j.api.internal.Immutable}).
 */
package io.github.incus4j.api.internal;
