package io.github.incus4j.lxc.binding;

import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.lxc.binding.ffi.NativeApi.LibcFiles;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Runtime;

/**
 * The descriptor-relative file calls {@link RootDirectory} is built on, errno-checked: a failure is an {@link Errno}
 * naming the call and the error number, never a path (the caller knows which instance path it was). Loaded once per
 * JVM; refuses to load (with {@link NotSupportedException}) unless this is x86-64 Linux with a working
 * {@code openat2(2)} (Linux 5.6), the flag values and struct layouts below being x86-64's.
 */
final class FdCalls {
    static final int O_RDONLY = 0;
    static final int O_WRONLY = 01;
    static final int O_RDWR = 02;
    static final int O_CREAT = 0100;
    static final int O_EXCL = 0200;
    static final int O_NOCTTY = 0400;
    static final int O_TRUNC = 01000;
    static final int O_APPEND = 02000;
    static final int O_NONBLOCK = 04000;
    static final int O_DIRECTORY = 0200000;
    static final int O_NOFOLLOW = 0400000;
    static final int O_CLOEXEC = 02000000;
    static final int O_PATH = 010000000;

    static final long RESOLVE_NO_MAGICLINKS = 0x02;
    static final long RESOLVE_NO_SYMLINKS = 0x04;
    static final long RESOLVE_BENEATH = 0x08;
    static final long RESOLVE_IN_ROOT = 0x10;

    static final int AT_FDCWD = -100;
    static final int AT_SYMLINK_NOFOLLOW = 0x100;
    static final int AT_REMOVEDIR = 0x200;
    static final int AT_EMPTY_PATH = 0x1000;

    static final int EPERM = 1;
    static final int ENOENT = 2;
    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int EACCES = 13;
    static final int EBUSY = 16;
    static final int EEXIST = 17;
    static final int EXDEV = 18;
    static final int ENOTDIR = 20;
    static final int EISDIR = 21;
    static final int EINVAL = 22;
    static final int ETXTBSY = 26;
    static final int ENOSPC = 28;
    static final int EROFS = 30;
    static final int ENAMETOOLONG = 36;
    static final int ENOSYS = 38;
    static final int ENOTEMPTY = 39;
    static final int ELOOP = 40;
    static final int EOVERFLOW = 75;
    static final int EDQUOT = 122;

    private static final long SYS_OPENAT2 = 437;
    private static final long SYS_PIDFD_SEND_SIGNAL = 424;
    static final int ESRCH = 3;
    private static final int OPEN_HOW_SIZE = 24;
    private static final int STATX_SIZE = 256;
    private static final int STATFS_SIZE = 120;
    private static final int STATX_BASIC_STATS = 0x7ff;
    private static final long UTIME_OMIT = (1L << 30) - 2;
    private static final byte[] EMPTY = {0};

    /** A failed call: {@code code} is errno. */
    static final class Errno extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int code;

        Errno(String call, int code) {
            super(call + " failed, errno " + code, null, false, false);
            this.code = code;
        }
    }

    /** What {@code statx} reports; ids are host ids. */
    record Stat(int mode, int uid, int gid, long size, long mtimeSeconds, int mtimeNanos, long ino, int devMajor,
            int devMinor) {
        static final int S_IFMT = 0170000;
        static final int S_IFDIR = 0040000;
        static final int S_IFREG = 0100000;
        static final int S_IFLNK = 0120000;
        static final int S_IFIFO = 0010000;
        static final int S_IFSOCK = 0140000;
        static final int S_IFCHR = 0020000;
        static final int S_IFBLK = 0060000;

        boolean isDirectory() {
            return (mode & S_IFMT) == S_IFDIR;
        }

        boolean isRegular() {
            return (mode & S_IFMT) == S_IFREG;
        }

        boolean isSymlink() {
            return (mode & S_IFMT) == S_IFLNK;
        }

        /** What the file is, for messages: "a FIFO", "a socket", ... */
        String kind() {
            return switch (mode & S_IFMT) {
                case S_IFDIR -> "a directory";
                case S_IFREG -> "a regular file";
                case S_IFLNK -> "a symbolic link";
                case S_IFIFO -> "a FIFO";
                case S_IFSOCK -> "a socket";
                case S_IFCHR -> "a character device";
                case S_IFBLK -> "a block device";
                default -> "of unknown type";
            };
        }
    }

    private static final class Holder {
        static final FdCalls INSTANCE;
        static final NotSupportedException FAILURE;

        static {
            FdCalls calls = null;
            NotSupportedException failure = null;
            try {
                calls = bind();
            } catch (NotSupportedException e) {
                failure = e;
            }
            INSTANCE = calls;
            FAILURE = failure;
        }
    }

    private final LibcFiles libc;
    private final Runtime runtime;
    private final int euid;

    private FdCalls(LibcFiles libc) {
        this.libc = libc;
        this.runtime = Runtime.getRuntime(libc);
        this.euid = libc.geteuid();
    }

    /** The calls, or {@link NotSupportedException} saying why this host cannot have them. */
    static FdCalls get() {
        if (Holder.FAILURE != null) {
            throw new NotSupportedException(Holder.FAILURE.getMessage(), Holder.FAILURE);
        }
        return Holder.INSTANCE;
    }

    private static FdCalls bind() {
        Platform platform = Platform.getNativePlatform();
        if (platform.getOS() != Platform.OS.LINUX || platform.getCPU() != Platform.CPU.X86_64) {
            throw new NotSupportedException("Confined file access is implemented for x86-64 Linux only; this is "
                    + platform.getOS() + " on " + platform.getCPU());
        }
        LibcFiles libc;
        try {
            libc = LibraryLoader.create(LibcFiles.class).failImmediately().load(platform.getStandardCLibraryName());
        } catch (LinkageError | RuntimeException e) {
            throw new NotSupportedException("Cannot bind libc's file calls (glibc 2.30 or later is needed): " + e, e);
        }
        FdCalls calls = new FdCalls(libc);
        try {
            calls.close(calls.openat2(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0, 0));
        } catch (Errno e) {
            throw new NotSupportedException("openat2(2) is not usable on this kernel (errno " + e.code
                    + (e.code == ENOSYS ? ", Linux 5.6 or later is needed" : "")
                    + "): file access to a container's root filesystem is refused rather than resolved racily", e);
        }
        return calls;
    }

    /** The effective uid of this process: what a new entry's owner is before it is changed. */
    int euid() {
        return euid;
    }

    /** A path as C wants it; a NUL inside would silently cut it short, so it is refused. */
    static byte[] c(String path) {
        if (path.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("NUL in path");
        }
        byte[] b = path.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[b.length + 1];
        System.arraycopy(b, 0, out, 0, b.length);
        return out;
    }

    private Errno errno(String call) {
        return new Errno(call, LastError.getLastError(runtime));
    }

    private int check(int result, String call) {
        if (result < 0) {
            throw errno(call);
        }
        return result;
    }

    private boolean interrupted(long result) {
        return result < 0 && LastError.getLastError(runtime) == EINTR;
    }

    int openat2(int dirfd, String path, int flags, int mode, long resolve) {
        byte[] how = ByteBuffer.allocate(OPEN_HOW_SIZE).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(flags & 0xffffffffL).putLong(mode).putLong(resolve).array();
        byte[] p = c(path);
        long r;
        do {
            r = libc.syscall(SYS_OPENAT2, dirfd, p, how, OPEN_HOW_SIZE);
        } while (interrupted(r));
        return check((int) r, "openat2");
    }

    /** Reopens what an {@code O_PATH} descriptor names, the same inode, through its {@code /proc/self/fd} link. */
    int reopen(int fd, int flags) {
        byte[] p = c("/proc/self/fd/" + fd);
        int r;
        do {
            r = libc.open(p, flags);
        } while (interrupted(r));
        return check(r, "open");
    }

    void close(int fd) {
        libc.close(fd); // Linux releases the descriptor even when close reports an error: never retry
    }

    Stat statx(int dirfd, String path, int flags) {
        byte[] buf = new byte[STATX_SIZE];
        int r;
        byte[] p = path.isEmpty() ? EMPTY : c(path);
        do {
            r = libc.statx(dirfd, p, flags, STATX_BASIC_STATS, buf);
        } while (interrupted(r));
        check(r, "statx");
        ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        return new Stat(b.getShort(28) & 0xffff, b.getInt(20), b.getInt(24), b.getLong(40), b.getLong(112),
                b.getInt(120), b.getLong(32), b.getInt(136), b.getInt(140));
    }

    /** The names in an open directory, {@code .} and {@code ..} left out. */
    List<String> names(int dirfd) {
        List<String> out = new ArrayList<>();
        byte[] buf = new byte[32768];
        while (true) {
            long n;
            do {
                n = libc.getdents64(dirfd, buf, buf.length);
            } while (interrupted(n));
            if (n < 0) {
                throw errno("getdents64");
            }
            if (n == 0) {
                return out;
            }
            ByteBuffer b = ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.LITTLE_ENDIAN);
            // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[]
            for (int at = 0; at < n; ) {
                int reclen = b.getShort(at + 16) & 0xffff;
                int start = at + 19;
                int end = start;
                while (end < at + reclen && buf[end] != 0) {
                    end++;
                }
                String name = new String(buf, start, end - start, StandardCharsets.UTF_8);
                if (!name.equals(".") && !name.equals("..")) {
                    out.add(name);
                }
                at += reclen;
            }
        }
    }

    String readlinkat(int dirfd, String path) {
        byte[] p = path.isEmpty() ? EMPTY : c(path);
        for (int size = 4096; ; size *= 2) {
            byte[] buf = new byte[size];
            long n;
            do {
                n = libc.readlinkat(dirfd, p, buf, size);
            } while (interrupted(n));
            if (n < 0) {
                throw errno("readlinkat");
            }
            if (n < size) {
                return new String(buf, 0, (int) n, StandardCharsets.UTF_8);
            }
        }
    }

    void mkdirat(int dirfd, String name, int mode) {
        check(libc.mkdirat(dirfd, c(name), mode), "mkdirat");
    }

    void unlinkat(int dirfd, String name, int flags) {
        check(libc.unlinkat(dirfd, c(name), flags), "unlinkat");
    }

    void renameat2(int fromDir, String from, int toDir, String to) {
        check(libc.renameat2(fromDir, c(from), toDir, c(to), 0), "renameat2");
    }

    void symlinkat(String target, int dirfd, String name) {
        check(libc.symlinkat(c(target), dirfd, c(name)), "symlinkat");
    }

    /** Changes the owner of what {@code fd} names itself ({@code O_PATH} descriptors included). */
    void fchown(int fd, int uid, int gid) {
        check(libc.fchownat(fd, EMPTY, uid, gid, AT_EMPTY_PATH), "fchownat");
    }

    /** Changes the mode of an open (not {@code O_PATH}) descriptor. */
    void fchmod(int fd, int mode) {
        check(libc.fchmod(fd, mode), "fchmod");
    }

    /** Changes the mode of what any descriptor names, through its {@code /proc/self/fd} link (the same inode). */
    void chmodFd(int fd, int mode) {
        check(libc.fchmodat(AT_FDCWD, c("/proc/self/fd/" + fd), mode, 0), "fchmodat");
    }

    /** Sets the modification time (access time untouched) of what any descriptor names. */
    void setMtimeFd(int fd, long seconds, int nanos) {
        long[] times = {0, UTIME_OMIT, seconds, nanos};
        check(libc.utimensat(AT_FDCWD, c("/proc/self/fd/" + fd), times, 0), "utimensat");
    }

    /** The filesystem type ({@code f_type}, a magic number) of what any descriptor names. */
    long fsType(int fd) {
        byte[] buf = new byte[STATFS_SIZE];
        int r;
        do {
            r = libc.fstatfs(fd, buf);
        } while (interrupted(r));
        check(r, "fstatfs");
        return ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    }

    /**
     * Runs {@code op} on this thread with the filesystem ids {@code uid}/{@code gid} (this thread only: Linux's
     * fsuid is per thread), then restores this process's. Dropping fsuid 0 drops the file capabilities with it.
     * {@code op} must make native calls only: nothing that could move a virtual thread to another carrier.
     */
    <T> T asFsIds(int uid, int gid, java.util.function.Supplier<T> op) {
        int oldGid = libc.setfsgid(gid);
        int oldUid = libc.setfsuid(uid);
        try {
            return op.get();
        } finally {
            libc.setfsuid(oldUid);
            libc.setfsgid(oldGid);
        }
    }

    /**
     * Whether the process a pidfd names still holds its pid (running, or a zombie not yet reaped): a signal 0 sent
     * through the pidfd, which checks and sends nothing.
     */
    boolean alive(int pidfd) {
        long r;
        do {
            r = libc.syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, 0, 0, 0);
        } while (interrupted(r));
        if (r == 0) {
            return true;
        }
        int code = LastError.getLastError(runtime);
        if (code == ESRCH) {
            return false;
        }
        throw new Errno("pidfd_send_signal", code);
    }

    /** This thread's filesystem uid ({@code setfsuid(-1)} changes nothing and answers it). */
    int fsUid() {
        return libc.setfsuid(-1);
    }

    void ftruncate(int fd, long length) {
        int r;
        do {
            r = libc.ftruncate(fd, length);
        } while (interrupted(r));
        check(r, "ftruncate");
    }

    /** Reads up to {@code len} bytes at {@code offset} into {@code buf} from 0; 0 at end of file. */
    int pread(int fd, byte[] buf, int len, long offset) {
        long n;
        do {
            n = libc.pread(fd, buf, len, offset);
        } while (interrupted(n));
        if (n < 0) {
            throw errno("pread");
        }
        return (int) n;
    }

    int pwrite(int fd, byte[] buf, int len, long offset) {
        long n;
        do {
            n = libc.pwrite(fd, buf, len, offset);
        } while (interrupted(n));
        if (n < 0) {
            throw errno("pwrite");
        }
        return (int) n;
    }
}
