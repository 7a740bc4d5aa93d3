/**
 * Internal, shared by incus4j's drivers (exported only to them): the byte-stream plumbing every driver needs once
 * (a {@link io.github.incus4j.api.internal.io.BulkInputStream} that reads single bytes through its bulk read, a
 * {@link io.github.incus4j.api.io.Connection} over two streams with its own close, and a console session over two
 * streams), so that each driver writes only what is its own.
 */
package io.github.incus4j.api.internal.io;
