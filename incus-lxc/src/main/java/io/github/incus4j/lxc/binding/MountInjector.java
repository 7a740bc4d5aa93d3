package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.lxc.binding.ffi.NamespaceApi;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import jnr.ffi.LastError;
import jnr.ffi.Runtime;
import org.apiguardian.api.API;

/**
 * Mounts into (and unmounts from) a running container without forking, as Incus's {@code forkmount} does with the
 * new mount API: the source is cloned as a detached mount on the host ({@code open_tree}), made read-only and/or
 * idmapped with the container's user namespace ({@code mount_setattr}), then a fresh thread unshares its filesystem
 * context ({@code unshare(CLONE_FS)}, which a thread may do alone), joins the target process's mount namespace
 * ({@code setns}), resolves the target confined to that root ({@code openat2} with {@code RESOLVE_IN_ROOT} and no
 * symbolic links) and attaches the mount there ({@code move_mount}). The thread only makes native calls while inside,
 * returns to the host namespace, and ends.
 */
@API(status = INTERNAL)
public final class MountInjector {
    private static final long SYS_OPEN_TREE = 428;
    private static final long SYS_MOVE_MOUNT = 429;
    private static final long SYS_OPENAT2 = 437;
    private static final long SYS_MOUNT_SETATTR = 442;
    private static final long OPEN_TREE_CLONE = 1;
    private static final long OPEN_TREE_CLOEXEC = 02000000;
    private static final long AT_RECURSIVE = 0x8000;
    private static final long AT_EMPTY_PATH = 0x1000;
    private static final long MOVE_MOUNT_F_EMPTY_PATH = 0x4;
    private static final long MOVE_MOUNT_T_EMPTY_PATH = 0x40;
    private static final long MOUNT_ATTR_RDONLY = 0x1;
    private static final long MOUNT_ATTR_IDMAP = 0x100000;
    private static final int CLONE_FS = 0x200;
    private static final int CLONE_NEWNS = 0x20000;
    private static final int O_PATH = 010000000;
    private static final int O_RDONLY = 0;
    private static final int O_CREAT = 0100;
    private static final int O_CLOEXEC = 02000000;
    private static final int O_NOFOLLOW = 0400000;
    private static final int O_DIRECTORY = 0200000;
    private static final long RESOLVE_NO_MAGICLINKS = 0x02;
    private static final long RESOLVE_NO_SYMLINKS = 0x04;
    private static final long RESOLVE_IN_ROOT = 0x10;
    private static final int MNT_DETACH = 2;
    private static final int UMOUNT_NOFOLLOW = 8;
    private static final int EEXIST = 17;
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final byte[] EMPTY = {0};

    private MountInjector() {
    }

    /**
     * Bind-mounts the host path {@code source} at {@code target} (absolute, inside the container) in the mount
     * namespace of process {@code pid}, creating the target (a directory for a directory source, else an empty file)
     * when missing.
     *
     * @param userns a user namespace file ({@code /proc/<pid>/ns/user}) to idmap the mount with, or null
     * @param creator the host uid and gid to make a missing target as (the container's root, as host root is unmapped
     *     in an unprivileged container and may not create there), or null for this process's
     */
    public static void bind(int pid, Path source, String target, boolean directory, boolean recursive,
            boolean readonly, Path userns, int[] creator) {
        NamespaceApi libc = NetNamespace.libc();
        Runtime rt = Runtime.getRuntime(libc);
        int tree = (int) libc.syscall(SYS_OPEN_TREE, -100, FdCalls.c(source.toString()),
                OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
        if (tree < 0) {
            throw failure("open_tree of " + source, rt);
        }
        try {
            long set = (readonly ? MOUNT_ATTR_RDONLY : 0) | (userns != null ? MOUNT_ATTR_IDMAP : 0);
            if (set != 0) {
                int ns = -1;
                if (userns != null) {
                    ns = libc.open(FdCalls.c(userns.toString()), O_RDONLY | O_CLOEXEC);
                    if (ns < 0) {
                        throw failure("open of " + userns, rt);
                    }
                }
                try {
                    byte[] attr = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN).putLong(set).putLong(0)
                            .putLong(0).putLong(ns < 0 ? 0 : ns).array();
                    if (libc.syscall(SYS_MOUNT_SETATTR, tree, EMPTY, AT_EMPTY_PATH
                            | (recursive ? AT_RECURSIVE : 0), attr, 32) < 0) {
                        throw failure("mount_setattr", rt);
                    }
                } finally {
                    if (ns >= 0) {
                        libc.close(ns);
                    }
                }
            }
            inMountNamespace(pid, "mount " + source + " at " + target, () -> {
                int t = target(libc, rt, target, directory, creator);
                try {
                    if (libc.syscall(SYS_MOVE_MOUNT, tree, EMPTY, t, EMPTY,
                            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
                        throw failure("move_mount to " + target, rt);
                    }
                } finally {
                    libc.close(t);
                }
            });
        } finally {
            libc.close(tree);
        }
    }

    /**
     * Detaches the mount at {@code target} in the mount namespace of {@code pid}; {@code removeFile}: then removes
     * the (file) mount point too.
     */
    public static void unmount(int pid, String target, boolean removeFile) {
        NamespaceApi libc = NetNamespace.libc();
        Runtime rt = Runtime.getRuntime(libc);
        inMountNamespace(pid, "unmount " + target, () -> {
            // The thread's root is the container's now: an absolute path cannot leave it, and NOFOLLOW keeps a link
            // in the last component from redirecting the unmount.
            if (libc.umount2(FdCalls.c(target), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
                throw failure("umount2 of " + target, rt);
            }
            if (removeFile && libc.unlinkat(-100, FdCalls.c(target), 0) != 0) {
                throw failure("unlink of " + target, rt);
            }
        });
    }

    /** Opens (making it when missing) the mount target, every component resolved inside the root, no links. */
    private static int target(NamespaceApi libc, Runtime rt, String target, boolean directory, int[] creator) {
        int slash = target.lastIndexOf('/');
        String parent = slash <= 0 ? "/" : target.substring(0, slash);
        String leaf = target.substring(slash + 1);
        long resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        int root = libc.open(FdCalls.c("/"), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
            throw failure("open of the container root", rt);
        }
        try {
            int dir = openat2(libc, root, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, resolve);
            if (dir < 0) {
                throw new InvalidArgumentException("Cannot mount at " + target + ": its parent directory is missing "
                        + "or goes through a symbolic link (errno " + LastError.getLastError(rt) + ")");
            }
            if (creator != null) {
                // Per thread: this thread's file system ids only (fs capabilities dropped until set back).
                libc.setfsgid(creator[1]);
                libc.setfsuid(creator[0]);
            }
            try {
                if (directory) {
                    if (libc.mkdirat(dir, FdCalls.c(leaf), 0755) != 0 && LastError.getLastError(rt) != EEXIST) {
                        throw failure("mkdir of " + target, rt);
                    }
                } else {
                    int f = openat2(libc, dir, leaf, O_CREAT | O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0600, resolve);
                    if (f < 0) {
                        throw failure("create of " + target, rt);
                    }
                    libc.close(f);
                }
                int t = openat2(libc, dir, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, resolve);
                if (t < 0) {
                    throw failure("open of " + target, rt);
                }
                return t;
            } finally {
                if (creator != null) {
                    libc.setfsuid(0);
                    libc.setfsgid(0);
                }
                libc.close(dir);
            }
        } finally {
            libc.close(root);
        }
    }

    private static int openat2(NamespaceApi libc, int dirfd, String path, int flags, int mode, long resolve) {
        byte[] how = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putLong(flags & 0xffffffffL)
                .putLong(mode).putLong(resolve).array();
        String rel = path.startsWith("/") ? path.substring(1) : path;
        return (int) libc.syscall(SYS_OPENAT2, dirfd, FdCalls.c(rel.isEmpty() ? "." : rel), how, 24);
    }

    private static IncusException failure(String what, Runtime rt) {
        return new IncusException("Failed to " + what + " (errno " + LastError.getLastError(rt) + ")");
    }

    /** Runs {@code body} (native calls only) on a fresh thread inside the mount namespace of {@code pid}. */
    private static void inMountNamespace(int pid, String what, Runnable body) {
        NamespaceApi libc = NetNamespace.libc();
        Runtime rt = Runtime.getRuntime(libc);
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                if (libc.unshare(CLONE_FS) != 0) {
                    throw failure("unshare the filesystem context", rt);
                }
                int home = libc.open(FdCalls.c("/proc/thread-self/ns/mnt"), O_RDONLY | O_CLOEXEC);
                int ns = libc.open(FdCalls.c("/proc/" + pid + "/ns/mnt"), O_RDONLY | O_CLOEXEC);
                if (home < 0 || ns < 0) {
                    throw failure("open the mount namespace of pid " + pid, rt);
                }
                try {
                    if (libc.setns(ns, CLONE_NEWNS) != 0) {
                        throw failure("enter the mount namespace of pid " + pid, rt);
                    }
                    try {
                        body.run();
                    } finally {
                        libc.setns(home, CLONE_NEWNS); // the thread ends next either way
                    }
                } finally {
                    libc.close(ns);
                    libc.close(home);
                }
                done.complete(null);
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
            }
        }, "incus4j-lxc-mountns");
        t.setDaemon(true);
        t.start();
        try {
            done.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while trying to " + what, e);
        } catch (TimeoutException e) {
            throw new OperationTimeoutException("Could not " + what + " within " + TIMEOUT.toSeconds() + " s");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IncusException("Failed to " + what + ": " + e.getCause(), e.getCause());
        }
    }
}
