/**
 * Internal, shared by incus4j's drivers (exported only to them): the byte-stream plumbing every driver needs once,
 * so that each driver writes only what is its own: {@link io.github.incus4j.api.internal.io.BulkInputStream} and
 * {@link io.github.incus4j.api.internal.io.BulkOutputStream} move single bytes through their bulk read or write,
 * {@link io.github.incus4j.api.internal.io.NonClosingOutputStream} keeps the caller's stream open under an archive,
 * {@link io.github.incus4j.api.internal.io.Connections} makes a {@link io.github.incus4j.api.io.Connection} over two
 * streams with the transport's own close, and {@link io.github.incus4j.api.internal.io.StreamConsoleSession} is a
 * console session over two streams.
 */
package io.github.incus4j.api.internal.io;
