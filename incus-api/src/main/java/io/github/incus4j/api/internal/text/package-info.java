/**
 * Internal, shared by incus4j's drivers (exported only to them): Incus's error texts in one place
 * ({@link io.github.incus4j.api.internal.text.ErrorTexts}), so that every driver answers with Incus's words, and the
 * Go-style quoting and duration formatting those texts use.
 */
package io.github.incus4j.api.internal.text;
