/**
 * Internal, shared by incus4j's drivers (exported only to them): SFTP version 3, the server behind every driver's
 * {@code fileSftpConn()} ({@link io.github.incus4j.api.internal.sftp.SftpServer} over a {@code FileBackend}), a
 * client over any connection ({@link io.github.incus4j.api.internal.sftp.WireSftpClient}), their packet codec, and
 * {@link io.github.incus4j.api.internal.sftp.FileBackends}, which adapts an {@code SftpClient} into a backend.
 */
package io.github.incus4j.api.internal.sftp;
