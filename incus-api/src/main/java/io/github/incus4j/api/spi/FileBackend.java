package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.sftp.FileBackends;
import io.github.incus4j.api.internal.sftp.SftpServer;
import java.io.Closeable;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * The file operations {@link SftpServer} serves, in instance terms: paths are absolute paths inside the instance
 * (relative ones are taken from {@code /}), uids and gids are as the instance sees them, and access never leaves
 * the instance. Failures are {@link io.github.incus4j.api.IncusException}s: {@link io.github.incus4j.api.NotFoundException}
 * for a missing file, {@link io.github.incus4j.api.BusyException} for an existing one ({@code File exists}),
 * {@link io.github.incus4j.api.NotSupportedException} for what the backend cannot do, {@link PermissionDeniedException}
 * for a refusal,
 * {@link io.github.incus4j.api.InvalidArgumentException} for a request that cannot apply (a directory opened as a
 * file, a FIFO, socket or device opened for data, {@code .} or {@code ..} as the entry to change).
 * Implementations: {@link FileBackends#of(SftpClient)} (any {@link SftpClient}, e.g. an in-memory tree) and, in the
 * lxc driver, one over a container's root filesystem that the kernel confines ({@code openat2} with
 * {@code RESOLVE_IN_ROOT}): a backend over a host directory must never resolve paths itself and then open them,
 * as the instance can swap directories for symlinks in between.
 */
@API(status = EXPERIMENTAL)
public interface FileBackend {
    /** How a file is opened (the SFTP {@code pflags}). */
    enum OpenFlag {
        READ, WRITE, APPEND, CREATE, TRUNCATE, EXCLUSIVE
    }

    /**
     * Attribute changes ({@code SETSTAT}); {@code null} fields stay as they are. {@code uid} and {@code gid} go
     * together, as on the wire; {@code size} truncates or extends.
     */
    record AttrChanges(Integer mode, Integer uid, Integer gid, Instant mtime, Long size) {
        public AttrChanges {
            if ((uid == null) != (gid == null)) {
                throw new IllegalArgumentException("uid and gid are set together, got uid " + uid + " gid " + gid);
            }
        }
    }

    /** An open file: positional reads and writes, as SFTP's {@code READ}/{@code WRITE} requests. */
    interface Handle extends Closeable {
        /** Reads up to {@code len} bytes at {@code offset}; {@code -1} at end of file. */
        int read(long offset, byte[] buf, int off, int len);

        /** Writes {@code len} bytes at {@code offset} (at the end if the file was opened to append). */
        void write(long offset, byte[] buf, int off, int len);

        /** Releases the file, publishing what was written. */
        @Override
        void close();
    }

    /** Attributes, following symlinks. */
    FileAttributes stat(String path);

    /** Attributes, not following a final symlink. */
    FileAttributes lstat(String path);

    /** A directory's entries (attributes not following symlinks), without {@code .} and {@code ..}, by name. */
    List<SftpClient.Entry> list(String dir);

    /** Opens a file; {@code mode} is used when it is created. */
    Handle open(String path, Set<OpenFlag> flags, int mode);

    /** Creates a directory. */
    void mkdir(String path, int mode);

    /** Removes an empty directory. */
    void rmdir(String path);

    /** Removes a file or symlink (not a directory). */
    void remove(String path);

    /** Renames, replacing a file at {@code to}. */
    void rename(String from, String to);

    /** Creates {@code link} pointing at {@code target} (stored verbatim, resolved inside the instance). */
    void symlink(String target, String link);

    /** A symlink's target, verbatim. */
    String readlink(String path);

    /** Changes attributes, following symlinks. */
    void setattrs(String path, AttrChanges changes);

    /** The canonical absolute form of {@code path} inside the instance ({@code .}, {@code ..}, symlinks resolved). */
    String realpath(String path);
}
