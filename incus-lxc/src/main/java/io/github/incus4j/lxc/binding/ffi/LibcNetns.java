package io.github.incus4j.lxc.binding.ffi;

import static org.apiguardian.api.API.Status.INTERNAL;

import jnr.ffi.annotations.In;
import jnr.ffi.annotations.SaveError;
import org.apiguardian.api.API;

/** The libc calls of {@code Netns}: entering a network namespace from one thread. Not an API. */
@API(status = INTERNAL)
public interface LibcNetns {
    /** {@code open(path, flags)}; path NUL-terminated. */
    @SaveError
    int open(@In byte[] path, int flags);

    /** {@code setns(fd, nstype)}: moves the calling thread only (network namespaces are per thread). */
    @SaveError
    int setns(int fd, int nstype);

    @SaveError
    int close(int fd);
}
