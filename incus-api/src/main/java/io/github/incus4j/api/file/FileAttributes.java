package io.github.incus4j.api.file;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.time.Instant;
import org.apiguardian.api.API;

/**
 * The attributes of a file inside an instance, ids as the instance sees them. {@code mode} holds the type bits and
 * the permissions, as {@code stat(2)}: use {@link #isDirectory()}, {@link #isSymlink()}, {@link #permissions()}.
 */
@API(status = EXPERIMENTAL)
public record FileAttributes(long size, int uid, int gid, int mode, Instant modified) {
    public static final int S_IFMT = 0170000;
    public static final int S_IFDIR = 0040000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFLNK = 0120000;

    public boolean isDirectory() {
        return (mode & S_IFMT) == S_IFDIR;
    }

    public boolean isRegularFile() {
        return (mode & S_IFMT) == S_IFREG;
    }

    public boolean isSymlink() {
        return (mode & S_IFMT) == S_IFLNK;
    }

    /** The permission bits, e.g. {@code 0644}. */
    public int permissions() {
        return mode & 07777;
    }
}
