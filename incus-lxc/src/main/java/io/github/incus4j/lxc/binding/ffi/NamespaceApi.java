package io.github.incus4j.lxc.binding.ffi;

import static org.apiguardian.api.API.Status.INTERNAL;

import jnr.ffi.annotations.In;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.annotations.Variadic;
import org.apiguardian.api.API;

/** The libc calls that move one thread into a namespace and back. Not an API: see the package documentation. */
@API(status = INTERNAL)
public interface NamespaceApi {
    /** {@code setns(fd, nstype)}: moves the calling thread only. */
    @SaveError
    int setns(int fd, int nstype);

    @SaveError
    int open(@In byte[] path, int flags);

    @SaveError
    int close(int fd);

    /** {@code mknod(path, mode, dev)}: {@code dev} is {@code makedev(major, minor)}. */
    @SaveError
    int mknod(@In byte[] path, int mode, long dev);

    /** {@code unshare(flags)}: {@code CLONE_FS} gives the calling thread its own root and cwd. */
    @SaveError
    int unshare(int flags);

    /** {@code setfsuid(uid)}: per thread; the previous value is returned. */
    int setfsuid(int uid);

    int setfsgid(int gid);

    @SaveError
    int unlinkat(int dirfd, @In byte[] path, int flags);

    @SaveError
    int mkdirat(int dirfd, @In byte[] path, int mode);

    /** {@code umount2(target, flags)}. */
    @SaveError
    int umount2(@In byte[] target, int flags);

    /** {@code syscall(SYS_open_tree, dfd, path, flags)}. */
    @SaveError
    @Variadic(fixedCount = 1)
    long syscall(long number, long dfd, @In byte[] path, long flags);

    /**
     * {@code syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags)}, and
     * {@code syscall(SYS_mount_setattr, dfd, path, flags, &attr, size)} (the same argument shapes).
     */
    @SaveError
    @Variadic(fixedCount = 1)
    long syscall(long number, long a, @In byte[] b, long c, @In byte[] d, long e);

    /** {@code syscall(SYS_openat2, dirfd, path, &how, size)}. */
    @SaveError
    @Variadic(fixedCount = 1)
    long syscall(long number, long dirfd, @In byte[] path, @In byte[] how, long size);
}
