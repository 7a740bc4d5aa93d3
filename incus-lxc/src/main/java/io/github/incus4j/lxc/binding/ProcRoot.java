package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.lxc.binding.ffi.NamespaceApi;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jnr.ffi.LastError;
import jnr.ffi.Runtime;
import org.apiguardian.api.API;

/**
 * Paths inside a running container opened from the host, confined by the kernel: resolved from
 * {@code /proc/<pid>/root} with {@code openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)}, so
 * that neither {@code ..} nor a symbolic link the container made can reach a host file. The descriptor (an
 * {@code O_PATH} one) is then used through {@code /proc/self/fd/<n>}, which names that very inode.
 */
@API(status = INTERNAL)
public final class ProcRoot {
    private static final long SYS_OPENAT2 = 437;
    private static final int O_PATH = 010000000;
    private static final int O_DIRECTORY = 0200000;
    private static final int O_NOFOLLOW = 0400000;
    private static final int O_CLOEXEC = 02000000;
    private static final long RESOLVE = 0x10 | 0x04 | 0x02;

    private ProcRoot() {
    }

    /** An {@code O_PATH} descriptor on {@code path} inside the container of init {@code pid} (a directory if asked). */
    public static OwnedFd open(int pid, String path, boolean directory) {
        NamespaceApi libc = NetNamespace.libc();
        Runtime rt = Runtime.getRuntime(libc);
        int root = libc.open(FdCalls.c("/proc/" + pid + "/root"), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
            throw new InvalidArgumentException("Cannot open the root of process " + pid + " (errno "
                    + LastError.getLastError(rt) + ")");
        }
        try {
            String rel = path.replaceFirst("^/+", "");
            byte[] how = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(O_PATH | O_NOFOLLOW | O_CLOEXEC | (directory ? O_DIRECTORY : 0)).putLong(0)
                    .putLong(RESOLVE).array();
            int fd = (int) libc.syscall(SYS_OPENAT2, root, FdCalls.c(rel.isEmpty() ? "." : rel), how, 24);
            if (fd < 0) {
                throw new InvalidArgumentException("Cannot open " + path + " in the container (errno "
                        + LastError.getLastError(rt) + "; symbolic links are not followed)");
            }
            return new OwnedFd(fd);
        } finally {
            libc.close(root);
        }
    }

    /**
     * A process pinned by a pidfd (which this object owns), whose root directory can be opened from the host, as
     * that process sees it (its mount namespace's mounts included, for lookups from it).
     */
    public static final class Pinned implements AutoCloseable {
        private final OwnedFd pidfd;
        private final int pid;

        /** Takes ownership of {@code pidfd}; answers null (and closes it) when its process is already gone. */
        public static Pinned of(int pidfd) {
            OwnedFd owned = new OwnedFd(pidfd);
            int pid = pidOf(pidfd);
            if (pid <= 0) {
                owned.close();
                return null;
            }
            return new Pinned(owned, pid);
        }

        private Pinned(OwnedFd pidfd, int pid) {
            this.pidfd = pidfd;
            this.pid = pid;
        }

        /**
         * An {@code O_PATH | O_DIRECTORY} descriptor on the process's root directory (the caller closes it), or -1
         * once the process is gone. Pinned against pid reuse: {@code /proc/<pid>/root} is opened, then the pidfd is
         * asked whether its process still holds the pid ({@code pidfd_send_signal} with no signal: a zombie still
         * does, and a pid is not reused before its zombie is reaped), so the descriptor is that process's root.
         */
        public int openRoot() {
            NamespaceApi libc = NetNamespace.libc();
            int root = libc.open(FdCalls.c("/proc/" + pid + "/root"), O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (root < 0) {
                return -1; // exited (a zombie's root is gone too)
            }
            if (!FdCalls.get().alive(pidfd.fd())) {
                libc.close(root);
                return -1;
            }
            return root;
        }

        @Override
        public void close() {
            pidfd.close();
        }
    }

    /** The pid a pidfd names, from {@code /proc/self/fdinfo}; -1 once the process is gone (Linux 5.7+ says so). */
    static int pidOf(int pidfd) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/fdinfo/" + pidfd))) {
                if (line.startsWith("Pid:")) {
                    return Integer.parseInt(line.substring(4).trim());
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    /** Removes the entry {@code name} of the directory {@code dir} (never following a link); false when missing. */
    public static boolean unlink(OwnedFd dir, String name) {
        NamespaceApi libc = NetNamespace.libc();
        return libc.unlinkat(dir.fd(), FdCalls.c(name), 0) == 0;
    }
}
