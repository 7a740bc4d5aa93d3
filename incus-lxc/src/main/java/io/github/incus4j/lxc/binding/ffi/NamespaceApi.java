package io.github.incus4j.lxc.binding.ffi;

import static org.apiguardian.api.API.Status.INTERNAL;

import jnr.ffi.annotations.In;
import jnr.ffi.annotations.SaveError;
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
}
