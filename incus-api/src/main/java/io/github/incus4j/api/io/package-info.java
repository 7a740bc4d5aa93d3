/**
 * Raw byte streams and file descriptors handed across the API: a full-duplex
 * {@link io.github.incus4j.api.io.Connection} (the SFTP connection of {@code Instance.fileSftpConn()}, migration
 * connections) and a {@link io.github.incus4j.api.io.NativeFd} passed on without being read.
 */
package io.github.incus4j.api.io;
