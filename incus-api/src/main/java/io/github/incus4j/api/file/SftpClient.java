package io.github.incus4j.api.file;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import org.apiguardian.api.API;

/**
 * File access inside an instance, the part of {@code *sftp.Client} that Incus's file API uses (our own interface, so
 * no SFTP library type leaks into the API). Paths are absolute paths inside the instance; access never reaches
 * outside it ({@code ..} and symlinks resolve inside the instance's root). Missing files raise
 * {@link io.github.incus4j.api.NotFoundException}; closing ends the session.
 */
@API(status = EXPERIMENTAL)
public interface SftpClient extends AutoCloseable {
    /** A directory entry. */
    record Entry(String name, FileAttributes attributes) {
    }

    /** {@code stat}: follows symlinks. */
    FileAttributes stat(String path);

    /** {@code lstat}: does not follow a final symlink. */
    FileAttributes lstat(String path);

    /** Whether something exists at {@code path} (not following a final symlink): an {@link #lstat} that finds it. */
    default boolean exists(String path) {
        try {
            lstat(path);
            return true;
        } catch (NotFoundException e) {
            return false;
        }
    }

    /** Opens a file for reading. */
    InputStream open(String path);

    /** Creates or truncates a file with permissions {@code mode} (used when it is created) and opens it for writing. */
    OutputStream create(String path, int mode);

    /** Reads a whole file. */
    default byte[] readAllBytes(String path) {
        try (InputStream in = open(path)) {
            return in.readAllBytes();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Writes a whole file (created with mode {@code 0644} if missing). */
    default void write(String path, byte[] content) {
        try (OutputStream out = create(path, 0644)) {
            out.write(content);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Lists a directory, without {@code .} and {@code ..}, sorted by name. */
    List<Entry> list(String dir);

    /** Creates a directory. */
    void mkdir(String path, int mode);

    /** Creates a directory and its missing parents, as {@code mkdir -p}. */
    default void mkdirs(String path, int mode) {
        StringBuilder sb = new StringBuilder();
        for (String part : path.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            sb.append('/').append(part);
            String p = sb.toString();
            try {
                if (!stat(p).isDirectory()) {
                    throw new InvalidArgumentException("Not a directory: \"" + p + "\"");
                }
            } catch (NotFoundException missing) {
                try {
                    mkdir(p, mode);
                } catch (IncusException raced) {
                    // Created meanwhile (some servers only say "Failure"): fine if it is a directory now.
                    if (!stat(p).isDirectory()) {
                        throw raced;
                    }
                }
            }
        }
    }

    /** Removes a file or symlink. */
    void remove(String path);

    /** Removes an empty directory. */
    void rmdir(String path);

    /** Renames within the instance. */
    void rename(String from, String to);

    /** Creates a symlink {@code link} pointing at {@code target}. */
    void symlink(String target, String link);

    /** Reads a symlink's target. */
    String readlink(String path);

    /** Changes permission bits. */
    void chmod(String path, int mode);

    /** Changes owner, with ids as the instance sees them. */
    void chown(String path, int uid, int gid);

    @Override
    void close();
}
