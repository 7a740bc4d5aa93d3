/**
 * Files inside an instance: {@link io.github.incus4j.api.file.SftpClient} ({@code Instance.fileSftp()}), our own
 * interface for the part of an SFTP client that Incus's file API uses, and the
 * {@link io.github.incus4j.api.file.FileAttributes} it reports, ids as the instance sees them.
 */
package io.github.incus4j.api.file;
