package io.github.incus4j.lxc.binding;

import static io.github.incus4j.lxc.binding.FdCalls.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.spi.FileBackend;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.lxc.binding.FdCalls.Errno;
import io.github.incus4j.lxc.binding.FdCalls.Stat;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * A {@link FileBackend} confined to a host directory (a container's root filesystem) by the kernel: every path is
 * resolved by {@code openat2(2)} with {@code RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS} relative to a descriptor of
 * the root, so {@code ..}, absolute symlinks and links swapped in while we resolve all stay inside it, and every later
 * step works on the descriptor that resolution returned (or on a name relative to a parent descriptor opened the same
 * way): nothing is checked by path and then used by path. A container racing renames and symlinks against us can
 * make a call fail or land elsewhere <em>inside</em> its root, never outside.
 *
 * <p>Data is served from regular files only: a file is first opened {@code O_PATH} (which opens nothing), its type
 * checked on that descriptor, and only a regular file is reopened for reading or writing through the descriptor's
 * {@code /proc/self/fd} link (the same inode), non-blocking, so a FIFO, socket or device is refused at once without
 * being opened. Owner and mode are set only on what the call itself created ({@code O_CREAT | O_EXCL},
 * {@code mkdirat}, {@code symlinkat}); an existing file's owner never changes unless {@code setattrs} asks.
 *
 * <p>Ids: with an {@link IdmapSet}, host ids are shown as the container sees them (unmapped ones as
 * {@value #OVERFLOW_ID}, as the kernel does) and ids set by the client are shifted to the host; new files,
 * directories and symlinks belong to the container's root. Without one, ids pass through unchanged.
 *
 * <p>Running containers ({@link LiveRoot}): the root is then the container init's own root directory
 * ({@code /proc/<pid>/root}, pinned to that process), so paths resolve through the container's mounts (its disk
 * devices' bind mounts, its {@code /proc}, {@code /sys}, {@code /dev}) as Incus's {@code forkfile} sees them inside
 * the container; a stopped container's root is its root filesystem directory. Unlike Incus, whose {@code forkfile}
 * acts as the container's root user, this class acts as host root: so it refuses to read or write data, create,
 * remove, rename or change anything on a kernel filesystem (procfs, sysfs, cgroupfs, devpts, devtmpfs, debugfs,
 * tracefs, securityfs, bpf, ... checked with {@code fstatfs} on the descriptor it is about to use, see
 * {@code KERNEL_FS}), where host root could change the host kernel's settings through the container's mounts;
 * listing and stat-ing them stays allowed. A read-only mount refuses writes ({@code EROFS}).
 *
 * <p>Owners on an idmapped mount (a {@code shift=true} disk): host root is not in the mount's id map, so the kernel
 * refuses to create as it ({@code EOVERFLOW}); the entry is then created with the filesystem ids of the container's
 * root (this thread only, {@code setfsuid}), as the container's root would create it, which also drops the file
 * capabilities of host root for that one call: a directory that only a non-root user of the container may write to
 * refuses the creation (Incus's container root would override it).
 *
 * <p>Needs x86-64 Linux 5.6 or later ({@code openat2}); elsewhere the constructor throws
 * {@link io.github.incus4j.api.NotSupportedException} rather than fall back to resolving paths in Java.
 */
@API(status = INTERNAL)
public final class RootDirectory implements FileBackend {
    /** The id the kernel shows for an id outside the map ({@code overflowuid}). */
    public static final int OVERFLOW_ID = 65534;
    /** Symlinks followed while creating through dangling links, as Linux's {@code ELOOP} limit. */
    static final int MAX_LINKS = 40;
    /** {@code openat2} answers EAGAIN when a racing rename might have let {@code ..} escape: retry that often. */
    private static final int RESOLVE_RETRIES = 32;
    private static final long IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    /** One name below a parent descriptor: no symlink, no {@code ..} can lead out of it. */
    private static final long ONE_NAME = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

    /** {@code TMPFS_MAGIC}: devtmpfs reports it too, told apart by its device number ({@link Devtmpfs}). */
    private static final long TMPFS_MAGIC = 0x01021994L;
    /**
     * {@code f_type} of the kernel filesystems no data is read from or written to, and nothing is changed on
     * ({@code linux/magic.h}): proc, sysfs, cgroup, cgroup2, devpts, debugfs, tracefs, securityfs, efivarfs, bpf,
     * pstore, configfs, mqueue, binfmt_misc, fusectl, selinuxfs, smackfs, nsfs, resctrl, xenfs, usbfs.
     */
    static final Map<Long, String> KERNEL_FS = Map.ofEntries(Map.entry(0x9fa0L, "proc"),
            Map.entry(0x62656572L, "sysfs"), Map.entry(0x27e0ebL, "cgroup"), Map.entry(0x63677270L, "cgroup2"),
            Map.entry(0x1cd1L, "devpts"), Map.entry(0x64626720L, "debugfs"), Map.entry(0x74726163L, "tracefs"),
            Map.entry(0x73636673L, "securityfs"), Map.entry(0xde5e81e4L, "efivarfs"),
            Map.entry(0xcafe4a11L, "bpf"), Map.entry(0x6165676cL, "pstore"), Map.entry(0x62656570L, "configfs"),
            Map.entry(0x19800202L, "mqueue"), Map.entry(0x42494e4dL, "binfmt_misc"),
            Map.entry(0x65735543L, "fusectl"), Map.entry(0xf97cff8cL, "selinuxfs"),
            Map.entry(0x43415d53L, "smackfs"), Map.entry(0x6e736673L, "nsfs"), Map.entry(0x7655821L, "resctrl"),
            Map.entry(0xabba1974L, "xenfs"), Map.entry(0x9fa2L, "usbfs"));

    /** Opens the root directory of a running container. */
    @FunctionalInterface
    public interface LiveRoot {
        /**
         * An {@code O_PATH | O_DIRECTORY} descriptor (the caller closes it) on the root of the running container's
         * init, pinned to that process; -1 when the container is not running (its root filesystem is used then).
         */
        int open();
    }

    private final FdCalls sys;
    private final String root;
    private final IdmapSet idmap;
    private final LiveRoot live;

    /**
     * @param root the directory the instance sees as {@code /}; it must exist
     * @param idmap the container's id map, or {@code null} for none
     * @throws io.github.incus4j.api.NotSupportedException without {@code openat2(2)}
     */
    public RootDirectory(Path root, IdmapSet idmap) {
        this(root, idmap, null);
    }

    /**
     * @param root the directory the instance sees as {@code /} when it is stopped; it must exist
     * @param idmap the container's id map, or {@code null} for none
     * @param live the root of the running container, asked per operation; {@code null}: always {@code root}
     * @throws io.github.incus4j.api.NotSupportedException without {@code openat2(2)}
     */
    public RootDirectory(Path root, IdmapSet idmap, LiveRoot live) {
        Objects.requireNonNull(root, "root");
        this.live = live;
        this.sys = FdCalls.get();
        try {
            this.root = root.toRealPath().toString();
        } catch (IOException e) {
            throw new NotFoundException("Root directory " + quote(root.toString()) + " is missing", e);
        }
        if (!Files.isDirectory(Path.of(this.root))) {
            throw new InvalidArgumentException("Root " + quote(root.toString()) + " is not a directory");
        }
        this.idmap = idmap;
    }

    // ---- descriptors --------------------------------------------------------------------------------------------

    /** An open descriptor, closed once. */
    private final class Fd implements AutoCloseable {
        final int fd;

        Fd(int fd) {
            this.fd = fd;
        }

        @Override
        public void close() {
            sys.close(fd);
        }
    }

    /**
     * The root, opened per operation: the running container's (asked each time: it may have stopped or restarted
     * since), else the rootfs directory, the host's (a container cannot swap it); a descriptor held longer would keep
     * serving a root filesystem replaced by a restore.
     */
    private Fd openRoot(String path) {
        if (live != null) {
            int fd = live.open();
            if (fd >= 0) {
                return new Fd(fd);
            }
        }
        try {
            return new Fd(sys.openat2(AT_FDCWD, root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, 0));
        } catch (Errno e) {
            throw new NotFoundException("The root filesystem is not available for " + quote(path)
                    + " (errno " + e.code + ")", e);
        }
    }

    /** {@code path} resolved inside the root by the kernel, opened with {@code flags}. */
    private int resolve(Fd rootFd, String path, int flags) {
        String p = path.isEmpty() ? "." : path;
        for (int i = 0; ; i++) {
            try {
                return sys.openat2(rootFd.fd, p, flags | O_CLOEXEC, 0, IN_ROOT);
            } catch (Errno e) {
                if (e.code != EAGAIN || i >= RESOLVE_RETRIES) {
                    throw e;
                }
            }
        }
    }

    /** A path that names an entry to create, remove or rename: its parent directory and last name. */
    private record Entry(String parent, String name) {
    }

    private static Entry entry(String path) {
        String p = path;
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        if (p.isEmpty()) {
            throw new InvalidArgumentException("The root directory cannot be changed this way: " + quote(path));
        }
        int slash = p.lastIndexOf('/');
        String name = p.substring(slash + 1);
        if (name.equals(".") || name.equals("..")) {
            throw new InvalidArgumentException("A path ending in " + quote(name) + " names no entry to change: "
                    + quote(path));
        }
        return new Entry(slash < 0 ? "." : slash == 0 ? "/" : p.substring(0, slash), name);
    }

    // ---- reading ------------------------------------------------------------------------------------------------

    @Override
    public FileAttributes stat(String path) {
        return attributes(path, O_PATH, 0);
    }

    @Override
    public FileAttributes lstat(String path) {
        return attributes(path, O_PATH | O_NOFOLLOW, AT_SYMLINK_NOFOLLOW);
    }

    private FileAttributes attributes(String path, int openFlags, int statFlags) {
        checkPath(path);
        try (Fd r = openRoot(path); Fd f = new Fd(resolve(r, path, openFlags))) {
            return toAttributes(sys.statx(f.fd, "", AT_EMPTY_PATH | statFlags));
        } catch (Errno e) {
            throw translate(e, path);
        }
    }

    private FileAttributes toAttributes(Stat s) {
        return new FileAttributes(s.size(), toInstance(s.uid(), true), toInstance(s.gid(), false), s.mode(),
                Instant.ofEpochSecond(s.mtimeSeconds(), s.mtimeNanos()));
    }

    @Override
    public List<SftpClient.Entry> list(String dir) {
        checkPath(dir);
        // O_DIRECTORY is checked before anything is opened: a FIFO here fails with ENOTDIR, it never blocks.
        try (Fd r = openRoot(dir); Fd d = new Fd(resolve(r, dir, O_RDONLY | O_DIRECTORY | O_NONBLOCK))) {
            List<SftpClient.Entry> out = new ArrayList<>();
            for (String name : sys.names(d.fd)) {
                try {
                    out.add(new SftpClient.Entry(name, toAttributes(sys.statx(d.fd, name, AT_SYMLINK_NOFOLLOW))));
                } catch (Errno e) {
                    if (e.code != ENOENT) {
                        throw e;
                    } // removed while listing: as readdir, skip it
                }
            }
            out.sort(Comparator.comparing(SftpClient.Entry::name));
            return out;
        } catch (Errno e) {
            throw translate(e, dir);
        }
    }

    @Override
    public String readlink(String path) {
        checkPath(path);
        try (Fd r = openRoot(path); Fd f = new Fd(resolve(r, path, O_PATH | O_NOFOLLOW))) {
            if (!sys.statx(f.fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW).isSymlink()) {
                throw new InvalidArgumentException("Not a symbolic link: " + quote(path));
            }
            return sys.readlinkat(f.fd, "");
        } catch (Errno e) {
            throw translate(e, path);
        }
    }

    /**
     * The kernel's answer for what exists (the descriptor's path, less the root's), then the missing rest
     * lexically, as OpenSSH's {@code sftp-server} allows a missing last component.
     */
    @Override
    public String realpath(String path) {
        checkPath(path);
        try (Fd r = openRoot(path)) {
            String rootAt = sys.readlinkat(AT_FDCWD, "/proc/self/fd/" + r.fd);
            String done = "/";
            boolean missing = false;
            for (String part : path.split("/")) {
                if (part.isEmpty() || part.equals(".")) {
                    continue;
                }
                if (part.equals("..")) {
                    // done is canonical (no symlinks in it), so its lexical parent is its real one.
                    done = done.equals("/") ? "/" : done.substring(0, Math.max(1, done.lastIndexOf('/')));
                    continue;
                }
                String next = done.equals("/") ? "/" + part : done + "/" + part;
                if (missing) {
                    done = next;
                    continue;
                }
                try (Fd f = new Fd(resolve(r, next, O_PATH))) {
                    done = inside(sys.readlinkat(AT_FDCWD, "/proc/self/fd/" + f.fd), rootAt, path);
                } catch (Errno e) {
                    if (e.code != ENOENT && e.code != ENOTDIR) {
                        throw e;
                    }
                    missing = true;
                    done = next;
                }
            }
            return done;
        } catch (Errno e) {
            throw translate(e, path);
        }
    }

    /** A host path the kernel reported for a descriptor under the root, as the instance sees it. */
    private static String inside(String host, String rootAt, String path) {
        if (host.equals(rootAt)) {
            return "/";
        }
        if (rootAt.equals("/")) {
            return host;
        }
        if (host.startsWith(rootAt + "/")) {
            return host.substring(rootAt.length());
        }
        // Moved out from under the root while we looked (a rename on the host): say so, never show the host path.
        throw new BusyException("The file changed while its path was resolved: " + quote(path));
    }

    // ---- opening ------------------------------------------------------------------------------------------------

    @Override
    public Handle open(String path, Set<OpenFlag> flags, int mode) {
        checkPath(path);
        boolean write = flags.contains(OpenFlag.WRITE) || flags.contains(OpenFlag.APPEND);
        boolean read = flags.contains(OpenFlag.READ) || !write;
        int access = read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY;
        boolean create = flags.contains(OpenFlag.CREATE);
        boolean exclusive = create && flags.contains(OpenFlag.EXCLUSIVE);
        int dataFlags = access | O_NONBLOCK | O_NOCTTY | O_CLOEXEC
                | (flags.contains(OpenFlag.APPEND) ? O_APPEND : 0)
                | (write && flags.contains(OpenFlag.TRUNCATE) ? O_TRUNC : 0);
        String at = path;
        int links = 0;
        try (Fd r = openRoot(path)) {
            for (int attempt = 0; attempt <= MAX_LINKS + RESOLVE_RETRIES; attempt++) {
                Fd found = null;
                try {
                    found = new Fd(resolve(r, at, O_PATH));
                } catch (Errno e) {
                    if (e.code != ENOENT || !create) {
                        throw e;
                    }
                }
                if (found != null) {
                    try (Fd f = found) {
                        if (exclusive) {
                            throw new BusyException("File exists: " + quote(path));
                        }
                        notKernel(f, path);
                        return new FdHandle(reopenRegular(f, dataFlags, path), read, write, path);
                    }
                }
                // Missing: create it, exclusively, so that we know it is ours before giving it an owner. The
                // parent is opened first (inside the root) and checked, then the one name made in it.
                if (at.endsWith("/")) {
                    throw new Errno("open", EISDIR); // as open(2) answers O_CREAT on a missing "dir/"
                }
                Entry made = entry(at);
                int fd;
                try (Fd parent = new Fd(resolve(r, made.parent(), O_PATH | O_DIRECTORY))) {
                    notKernel(parent, path);
                    int createFlags = O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | (dataFlags & ~O_TRUNC);
                    fd = creating(() -> sys.openat2(parent.fd, made.name(), createFlags, mode & 0777, ONE_NAME));
                } catch (Errno e) {
                    if (e.code != EEXIST) {
                        throw e;
                    }
                    // Appeared meanwhile, or a dangling symlink (O_EXCL does not follow it): look again, going
                    // through the link as open(2) would.
                    String target = danglingTarget(r, at);
                    if (target != null) {
                        if (++links > MAX_LINKS) {
                            throw new Errno("open", ELOOP);
                        }
                        at = target.startsWith("/") ? target : entry(at).parent() + "/" + target;
                    }
                    continue;
                }
                try {
                    created(fd, mode, true);
                } catch (RuntimeException e) {
                    sys.close(fd);
                    throw e;
                }
                return new FdHandle(fd, read, write, path);
            }
            throw new BusyException("The file kept changing while it was opened: " + quote(path));
        } catch (Errno e) {
            throw translate(e, path);
        }
    }

    /**
     * Runs a call that creates an entry, as host root; where the kernel refuses that ({@code EOVERFLOW}: an idmapped
     * mount whose map lacks host root) again with the filesystem ids of the container's root, so that the entry is
     * the container root's as the container sees it.
     */
    private <T> T creating(java.util.function.Supplier<T> create) {
        try {
            return create.get();
        } catch (Errno e) {
            if (e.code != EOVERFLOW || idmap == null) {
                throw e;
            }
            long[] host = idmap.shiftFromNs(0, 0);
            return sys.asFsIds((int) host[0], (int) host[1], create);
        }
    }

    /**
     * Refuses what follows on {@code f} when it is on a kernel filesystem ({@link #KERNEL_FS}, or devtmpfs): host
     * root must not read or write those through a container's mounts.
     */
    private void notKernel(Fd f, String path) {
        long type = sys.fsType(f.fd);
        String name = KERNEL_FS.get(type);
        if (name == null && type == TMPFS_MAGIC && Devtmpfs.DEV != null) {
            Stat s = sys.statx(f.fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
            if (s.devMajor() == Devtmpfs.DEV[0] && s.devMinor() == Devtmpfs.DEV[1]) {
                name = "devtmpfs";
            }
        }
        if (name != null) {
            throw new PermissionDeniedException("Refused: " + quote(path) + " is on a kernel filesystem (" + name
                    + "), which the file API neither reads, writes nor changes (it acts as host root)");
        }
    }

    /** devtmpfs has one superblock for the whole kernel: its device number, from this process's mounts. */
    private static final class Devtmpfs {
        static final int[] DEV = find();

        private static int[] find() {
            try {
                for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                    String[] f = line.split(" ");
                    int dash = java.util.Arrays.asList(f).indexOf("-");
                    if (dash > 0 && dash + 1 < f.length && f[dash + 1].equals("devtmpfs")) {
                        String[] mm = f[2].split(":");
                        return new int[] {Integer.parseInt(mm[0]), Integer.parseInt(mm[1])};
                    }
                }
            } catch (IOException | RuntimeException e) {
                return null; // no devtmpfs mounted here: none can be reached through a container either
            }
            return null;
        }
    }

    /** The target of {@code path} if it is a symlink now, else {@code null}. */
    private String danglingTarget(Fd r, String path) {
        try (Fd f = new Fd(resolve(r, path, O_PATH | O_NOFOLLOW))) {
            if (!sys.statx(f.fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW).isSymlink()) {
                return null;
            }
            return sys.readlinkat(f.fd, "");
        } catch (Errno e) {
            if (e.code == ENOENT) {
                return null; // gone again: the next round finds out what is there
            }
            throw e;
        }
    }

    /**
     * Opens the inode {@code f} (an {@code O_PATH} descriptor) names for data, if it is a regular file: anything else
     * is refused before it is opened, so a FIFO cannot block us and a device never sees an open.
     */
    private int reopenRegular(Fd f, int dataFlags, String path) {
        Stat s = sys.statx(f.fd, "", AT_EMPTY_PATH);
        if (s.isDirectory()) {
            throw new InvalidArgumentException("Is a directory: " + quote(path));
        }
        if (!s.isRegular()) {
            throw new InvalidArgumentException("Not a regular file: " + quote(path) + " is " + s.kind()
                    + "; only regular files can be read or written");
        }
        return sys.reopen(f.fd, dataFlags);
    }

    /**
     * Gives an entry this call created the exact mode (the umask narrowed it) and the container's root as owner.
     * {@code open} tells whether {@code fd} is open for data ({@code fchmod} works) or {@code O_PATH}.
     */
    private void created(int fd, int mode, boolean open) {
        if (idmap != null) {
            long[] host = idmap.shiftFromNs(0, 0);
            sys.fchown(fd, (int) host[0], (int) host[1]); // before chmod: chown may clear set-id bits
        }
        if (open) {
            sys.fchmod(fd, mode & 07777);
        } else {
            sys.chmodFd(fd, mode & 07777);
        }
    }

    // ---- entries ------------------------------------------------------------------------------------------------

    /** Runs {@code op} with the parent directory of {@code path}'s entry open. */
    private void inParent(String path, EntryOp op) {
        checkPath(path);
        Entry e = entry(path);
        try (Fd r = openRoot(path); Fd parent = new Fd(resolve(r, e.parent(), O_PATH | O_DIRECTORY))) {
            notKernel(parent, path);
            op.run(parent, e.name());
        } catch (Errno x) {
            throw translate(x, path);
        }
    }

    private interface EntryOp {
        void run(Fd parent, String name);
    }

    @Override
    public void mkdir(String path, int mode) {
        inParent(path, (parent, name) -> {
            int asUid = creating(() -> {
                sys.mkdirat(parent.fd, name, mode & 0777);
                return currentFsUid();
            });
            ownNew(parent, name, O_DIRECTORY, mode, path, asUid);
        });
    }

    @Override
    public void symlink(String target, String link) {
        if (target == null || target.isEmpty()) {
            throw new InvalidArgumentException("Empty symbolic link target for " + quote(String.valueOf(link)));
        }
        checkPath(target);
        inParent(link, (parent, name) -> {
            int asUid = creating(() -> {
                sys.symlinkat(target, parent.fd, name);
                return currentFsUid();
            });
            if (idmap != null) {
                ownNew(parent, name, 0, -1, link, asUid);
            }
        });
    }

    /**
     * Owner and mode ({@code mode < 0}: owner only) for an entry just made under {@code parent}. It is opened by its
     * one name without following it and changed only if it still belongs to us (a container cannot make an entry
     * owned by our host uid): an entry swapped in meanwhile is left as it is. {@code asUid}: the uid it was made as.
     * When that is the container root's (an idmapped mount, see {@link #creating}), the container could swap in an
     * entry of its root's: it is then given the owner and mode the call asked for, which its root could give it too.
     */
    private void ownNew(Fd parent, String name, int typeFlag, int mode, String path, int asUid) {
        try (Fd f = new Fd(sys.openat2(parent.fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | typeFlag, 0, ONE_NAME))) {
            if (sys.statx(f.fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW).uid() != asUid) {
                throw new BusyException("The new entry was replaced while it was being created: " + quote(path));
            }
            if (mode < 0) {
                if (idmap != null) {
                    long[] host = idmap.shiftFromNs(0, 0);
                    sys.fchown(f.fd, (int) host[0], (int) host[1]);
                }
            } else {
                created(f.fd, mode, false);
            }
        }
    }

    /**
     * Inside {@link #creating}: the uid a new entry gets from the creating thread (the container root's host uid when
     * that retried, as an idmapped mount shows it, else ours).
     */
    private int currentFsUid() {
        return sys.fsUid();
    }

    @Override
    public void rmdir(String path) {
        inParent(path, (parent, name) -> sys.unlinkat(parent.fd, name, AT_REMOVEDIR));
    }

    @Override
    public void remove(String path) {
        inParent(path, (parent, name) -> sys.unlinkat(parent.fd, name, 0));
    }

    @Override
    public void rename(String from, String to) {
        checkPath(to);
        Entry dst = entry(to);
        inParent(from, (src, name) -> {
            Fd dstParent;
            try (Fd r = openRoot(to)) {
                dstParent = new Fd(resolve(r, dst.parent(), O_PATH | O_DIRECTORY));
            }
            try (dstParent) {
                notKernel(dstParent, to);
                sys.renameat2(src.fd, name, dstParent.fd, dst.name());
            }
        });
    }

    // ---- attributes ---------------------------------------------------------------------------------------------

    @Override
    public void setattrs(String path, AttrChanges c) {
        checkPath(path);
        try (Fd r = openRoot(path); Fd f = new Fd(resolve(r, path, O_PATH))) {
            notKernel(f, path);
            if (c.size() != null) {
                try (Fd data = new Fd(reopenRegular(f, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, path))) {
                    sys.ftruncate(data.fd, c.size());
                }
            }
            if (c.uid() != null) {
                long[] host = toHost(c.uid(), c.gid());
                sys.fchown(f.fd, (int) host[0], (int) host[1]);
            }
            if (c.mode() != null) {
                sys.chmodFd(f.fd, c.mode() & 07777);
            }
            if (c.mtime() != null) {
                sys.setMtimeFd(f.fd, c.mtime().getEpochSecond(), c.mtime().getNano());
            }
        } catch (Errno e) {
            throw translate(e, path);
        }
    }

    // ---- ids and errors -----------------------------------------------------------------------------------------

    /** One host id in the container's view; unlike {@link IdmapSet#shiftIntoNs} an unmapped id is not an error. */
    private int toInstance(int hostId, boolean uid) {
        if (idmap == null) {
            return hostId;
        }
        long id = hostId & 0xffffffffL;
        for (IdmapEntry e : idmap.entries()) {
            if ((uid ? e.isUid() : e.isGid()) && e.containsHost(id)) {
                return (int) (e.nsId() + (id - e.hostId()));
            }
        }
        return OVERFLOW_ID;
    }

    private long[] toHost(int uid, int gid) {
        return idmap == null ? new long[] {uid, gid} : idmap.shiftFromNs(uid, gid);
    }

    private static void checkPath(String path) {
        Objects.requireNonNull(path, "path");
        if (path.indexOf('\0') >= 0) {
            throw new InvalidArgumentException("A path cannot contain a NUL character: " + quote(path));
        }
    }

    private static String quote(String s) {
        return ErrorTexts.quote(s);
    }

    /** An errno as the API's exception, naming the instance path (never the host one). */
    static IncusException translate(Errno e, String path) {
        String q = quote(path);
        return switch (e.code) {
            case ENOENT -> new NotFoundException("No such file or directory: " + q, e);
            case EEXIST -> new BusyException("File exists: " + q);
            case ENOTEMPTY -> new InvalidArgumentException("Directory not empty: " + q);
            case ENOTDIR -> new InvalidArgumentException("Not a directory: " + q);
            case EISDIR -> new InvalidArgumentException("Is a directory: " + q);
            case ELOOP -> new InvalidArgumentException("Too many levels of symbolic links: " + q);
            case ENAMETOOLONG -> new InvalidArgumentException("File name too long: " + q);
            case EINVAL -> new InvalidArgumentException("Invalid argument: " + q);
            case EXDEV -> new InvalidArgumentException("Invalid cross-device link: " + q);
            case EACCES -> new PermissionDeniedException("Permission denied: " + q, e);
            case EPERM -> new PermissionDeniedException("Operation not permitted: " + q, e);
            case EROFS -> new PermissionDeniedException("Read-only file system: " + q, e);
            case EBUSY -> new BusyException("Device or resource busy: " + q);
            case ETXTBSY -> new BusyException("Text file busy: " + q);
            case EAGAIN -> new BusyException("Resource temporarily unavailable: " + q);
            case ENOSPC, EDQUOT -> new IncusException("No space left on device: " + q, e);
            default -> new IncusException("File operation on " + q + " failed: " + e.getMessage(), e);
        };
    }

    /** An open regular file: positional reads and writes on its descriptor. */
    private final class FdHandle implements Handle {
        private final int fd;
        private final boolean readable;
        private final boolean writable;
        private final String path;
        private boolean closed;

        FdHandle(int fd, boolean readable, boolean writable, String path) {
            this.fd = fd;
            this.readable = readable;
            this.writable = writable;
            this.path = path;
        }

        @Override
        public synchronized int read(long offset, byte[] buf, int off, int len) {
            if (!readable) {
                throw new PermissionDeniedException("File not open for reading: " + quote(path));
            }
            open();
            if (len == 0) {
                return 0;
            }
            byte[] into = off == 0 ? buf : new byte[len];
            int n;
            try {
                n = sys.pread(fd, into, len, offset);
            } catch (Errno e) {
                throw translate(e, path);
            }
            if (n == 0) {
                return -1;
            }
            if (into != buf) {
                System.arraycopy(into, 0, buf, off, n);
            }
            return n;
        }

        @Override
        public synchronized void write(long offset, byte[] buf, int off, int len) {
            if (!writable) {
                throw new PermissionDeniedException("File not open for writing: " + quote(path));
            }
            open();
            // O_APPEND (when asked) makes Linux's pwrite append whatever the offset.
            byte[] from = off == 0 ? buf : java.util.Arrays.copyOfRange(buf, off, off + len);
            int done = 0;
            try {
                while (done < len) {
                    byte[] rest = done == 0 ? from : java.util.Arrays.copyOfRange(from, done, len);
                    done += sys.pwrite(fd, rest, len - done, offset + done);
                }
            } catch (Errno e) {
                throw translate(e, path);
            }
        }

        private void open() {
            if (closed) {
                throw new IncusException("The file handle for " + quote(path) + " is closed");
            }
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                sys.close(fd);
            }
        }
    }
}
