package io.github.incus4j.lxc.binding.ffi;

import static org.apiguardian.api.API.Status.INTERNAL;

import jnr.ffi.annotations.Delegate;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.annotations.Variadic;
import jnr.ffi.types.size_t;
import jnr.ffi.types.u_int64_t;
import org.apiguardian.api.API;

/** Native signatures bound by jnr-ffi. Not an API: see the package documentation. */
@API(status = INTERNAL)
public final class NativeApi {
    private NativeApi() {
    }

    /** The functions liblxc exports. {@code const char *} results are liblxc's own and never freed. */
    public interface LibLxc {
        String lxc_get_version();

        long lxc_container_new(@In String name, @In String configpath);

        int lxc_container_get(long container);

        int lxc_container_put(long container);

        byte lxc_has_api_extension(@In String extension);

        String lxc_get_global_config_item(@In String key);

        byte lxc_config_item_is_supported(@In String key);
    }

    /**
     * libc. Every {@code memset*} method is bound to {@code memset} (see {@code Liblxc}): called as
     * {@code memset(fn, 0, 0)} it returns {@code fn} untouched, and jnr-ffi turns that returned address into an
     * implementation of the declared delegate interface, a typed caller of a function pointer read from a struct.
     */
    public interface LibC {
        long malloc(@size_t long size);

        void free(long pointer);

        BoolFn memsetBool(long fn, int c, @size_t long n);

        IntFn memsetInt(long fn, int c, @size_t long n);

        StringFn memsetString(long fn, int c, @size_t long n);

        BoolStrFn memsetBoolStr(long fn, int c, @size_t long n);

        BoolStrStrFn memsetBoolStrStr(long fn, int c, @size_t long n);

        BoolIntFn memsetBoolInt(long fn, int c, @size_t long n);

        BoolStrIntFn memsetBoolStrInt(long fn, int c, @size_t long n);

        GetItemFn memsetGetItem(long fn, int c, @size_t long n);

        PtrStrFn memsetPtrStr(long fn, int c, @size_t long n);

        IntPtrFn memsetIntPtr(long fn, int c, @size_t long n);

        // A pseudo-terminal for the console (see Pty). Buffers are Java arrays copied in and/or out by jnr-ffi.

        @SaveError
        int posix_openpt(int flags);

        @SaveError
        int grantpt(int fd);

        @SaveError
        int unlockpt(int fd);

        /** Returns 0 or an error number (not errno). */
        int ptsname_r(int fd, @Out byte[] buffer, @size_t long length);

        /** {@code open(path, flags)} without {@code O_CREAT}, so the variadic mode argument is absent. */
        @SaveError
        int open(@In String path, int flags);

        @SaveError
        int close(int fd);

        @SaveError
        long read(int fd, @Out byte[] buffer, @size_t long count);

        @SaveError
        long write(int fd, @In byte[] buffer, @size_t long count);

        /**
         * {@code poll} on one {@code struct pollfd} ({@code int fd; short events; short revents}: 8 bytes), passed as
         * one little-endian {@code long}: fd in bits 0-31, events in 32-47, revents in 48-63.
         */
        @SaveError
        int poll(@In @Out long[] pollfd, long count, int timeoutMillis);

        // A sealed in-memory copy of a tool (see SealedProgram).

        @SaveError
        int memfd_create(@In String name, int flags);

        /** {@code fcntl(fd, cmd, int)}, e.g. {@code F_ADD_SEALS} and {@code F_GET_SEALS}. */
        @SaveError
        @Variadic(fixedCount = 2)
        int fcntl(int fd, int cmd, int arg);

        /** {@code struct termios} is 60 bytes on Linux; callers pass a larger array. */
        @SaveError
        int tcgetattr(int fd, @Out byte[] termios);

        /**
         * {@code ioctl(fd, request, struct winsize *)} for {@code TIOCSWINSZ}: {@code winsize} is
         * {@code ws_row, ws_col, ws_xpixel, ws_ypixel} (four {@code unsigned short}).
         */
        @SaveError
        @Variadic(fixedCount = 2)
        int ioctl(int fd, @u_int64_t long request, @In short[] winsize);
    }

    /**
     * The libc calls of {@code StatusEvents}: a pidfd per container init, inotify for the freezer files, an eventfd
     * to wake the poller, and {@code poll} over all of them. Results are {@code -1} with errno saved on failure.
     */
    public interface LibcEvents {
        /** {@code syscall(SYS_pidfd_open, pid, flags)}: glibc 2.36 has no wrapper everywhere. */
        @SaveError
        @Variadic(fixedCount = 1)
        long syscall(long number, long pid, long flags);

        @SaveError
        int inotify_init1(int flags);

        @SaveError
        int inotify_add_watch(int fd, @In byte[] path, int mask);

        @SaveError
        int inotify_rm_watch(int fd, int wd);

        @SaveError
        int eventfd(int initval, int flags);

        @SaveError
        long read(int fd, @Out byte[] buffer, @size_t long count);

        @SaveError
        long write(int fd, @In byte[] buffer, @size_t long count);

        @SaveError
        int close(int fd);

        /** {@code poll} over {@code struct pollfd}s, each one little-endian {@code long} as in {@link LibLxc}. */
        @SaveError
        int poll(@In @Out long[] pollfds, long count, int timeoutMillis);
    }

    /**
     * The libc calls of {@code RootDirectory}: every path is resolved relative to a descriptor, paths are
     * NUL-terminated UTF-8 byte arrays, results are {@code -1} with errno saved on failure. Flags and struct layouts
     * are x86-64 Linux's.
     */
    public interface LibcFiles {
        /**
         * {@code syscall(SYS_openat2, dirfd, path, &how, sizeof how)}: {@code how} is {@code struct open_how}
         * ({@code u64 flags, mode, resolve}) as 24 little-endian bytes. glibc has no {@code openat2} wrapper.
         */
        @SaveError
        @Variadic(fixedCount = 1)
        long syscall(long number, long dirfd, @In byte[] path, @In byte[] how, long size);

        /** {@code syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags)}, with {@code info} NULL (0). */
        @SaveError
        @Variadic(fixedCount = 1)
        long syscall(long number, long pidfd, long sig, long info, long flags);

        @SaveError
        int close(int fd);

        /** {@code open(path, flags)} without {@code O_CREAT}: reopens {@code /proc/self/fd/N}. */
        @SaveError
        int open(@In byte[] path, int flags);

        /** {@code struct statx} is 256 bytes. */
        @SaveError
        int statx(int dirfd, @In byte[] path, int flags, int mask, @Out byte[] statx);

        @SaveError
        long getdents64(int fd, @Out byte[] buffer, @size_t long count);

        @SaveError
        long readlinkat(int dirfd, @In byte[] path, @Out byte[] buffer, @size_t long size);

        @SaveError
        int mkdirat(int dirfd, @In byte[] path, int mode);

        @SaveError
        int unlinkat(int dirfd, @In byte[] path, int flags);

        @SaveError
        int renameat2(int olddirfd, @In byte[] oldpath, int newdirfd, @In byte[] newpath, int flags);

        @SaveError
        int symlinkat(@In byte[] target, int newdirfd, @In byte[] linkpath);

        @SaveError
        int fchownat(int dirfd, @In byte[] path, int uid, int gid, int flags);

        @SaveError
        int fchmod(int fd, int mode);

        @SaveError
        int fchmodat(int dirfd, @In byte[] path, int mode, int flags);

        /** {@code times} is {@code struct timespec[2]}: atime seconds, nanoseconds, mtime seconds, nanoseconds. */
        @SaveError
        int utimensat(int dirfd, @In byte[] path, @In long[] times, int flags);

        @SaveError
        int ftruncate(int fd, long length);

        @SaveError
        long pread(int fd, @Out byte[] buffer, @size_t long count, long offset);

        @SaveError
        long pwrite(int fd, @In byte[] buffer, @size_t long count, long offset);

        /** {@code struct statfs} is 120 bytes; {@code f_type} is its first {@code long}. */
        @SaveError
        int fstatfs(int fd, @Out byte[] statfs);

        /** Per thread; answers the previous filesystem uid, never an error. */
        int setfsuid(int fsuid);

        /** Per thread; answers the previous filesystem gid, never an error. */
        int setfsgid(int fsgid);

        int geteuid();
    }

    /** {@code bool (*)(struct lxc_container *)}: is_defined, is_running, freeze, unfreeze, stop, destroy. */
    public interface BoolFn {
        @Delegate
        byte call(long container);
    }

    /** {@code pid_t (*)(struct lxc_container *)}: init_pid. */
    public interface IntFn {
        @Delegate
        int call(long container);
    }

    /** {@code const char *(*)(struct lxc_container *)}: state (a static string). */
    public interface StringFn {
        @Delegate
        String call(long container);
    }

    /** {@code bool (*)(struct lxc_container *, const char *)}: save_config. */
    public interface BoolStrFn {
        @Delegate
        byte call(long container, @In String a);
    }

    /** {@code bool (*)(struct lxc_container *, const char *, const char *)}: set_config_item, set_cgroup_item. */
    public interface BoolStrStrFn {
        @Delegate
        byte call(long container, @In String a, @In String b);
    }

    /** {@code bool (*)(struct lxc_container *, int)}: shutdown. */
    public interface BoolIntFn {
        @Delegate
        byte call(long container, int a);
    }

    /** {@code bool (*)(struct lxc_container *, const char *, int)}: wait. */
    public interface BoolStrIntFn {
        @Delegate
        byte call(long container, @In String a, int b);
    }

    /** {@code int (*)(struct lxc_container *, const char *, char *, int)}: get_config_item, get_cgroup_item. */
    public interface GetItemFn {
        @Delegate
        int call(long container, @In String key, long buffer, int length);
    }

    /** {@code char *(*)(struct lxc_container *, const char *)}: get_running_config_item (caller frees). */
    public interface PtrStrFn {
        @Delegate
        long call(long container, @In String key);
    }

    /** {@code int (*)(struct lxc_container *, void *)}: console_log. */
    public interface IntPtrFn {
        @Delegate
        int call(long container, long argument);
    }
}
