package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.UnaryOperator;

/**
 * The fake's file system: an immutable persistent tree. A change copies only the directories on the path to what
 * changed (path copying) and yields a new root, so a root is a consistent snapshot for free: instances share the
 * untouched parts of the base trees, a snapshot keeps a root, a restore swaps roots. Ids are as the instance sees
 * them. Nodes never change after construction (their byte arrays included).
 */
final class MemFs {
    /** Linux's limit on symlinks followed in one lookup ({@code ELOOP}). */
    static final int MAX_SYMLINKS = 40;
    /** The mtime of the shared base trees, whole seconds so that it survives a tar round trip. */
    static final long BASE_MTIME = Instant.parse("2024-01-01T00:00:00Z").toEpochMilli();

    private MemFs() {
    }

    /** A file, directory or symlink; {@code perm} holds the permission bits only. */
    abstract static sealed class Node permits Dir, File, Link {
        final int perm;
        final int uid;
        final int gid;
        final long mtime;

        Node(int perm, int uid, int gid, long mtime) {
            this.perm = perm & 07777;
            this.uid = uid;
            this.gid = gid;
            this.mtime = mtime;
        }

        abstract int typeBits();

        /** The size {@code stat} reports. */
        abstract long size();

        /** Bytes this node and what it holds occupy (file contents and link targets). */
        abstract long bytes();

        abstract Node withMeta(int perm, int uid, int gid, long mtime);

        final FileAttributes attributes() {
            return new FileAttributes(size(), uid, gid, typeBits() | perm, Instant.ofEpochMilli(mtime));
        }

        final boolean sameMeta(Node o) {
            return perm == o.perm && uid == o.uid && gid == o.gid && mtime == o.mtime;
        }
    }

    /** A directory: children sorted by name in two parallel arrays (compact, binary-searched). */
    static final class Dir extends Node {
        static final String[] NO_NAMES = new String[0];
        static final Node[] NO_NODES = new Node[0];

        final String[] names;
        final Node[] kids;
        private final long bytes;

        Dir(int perm, int uid, int gid, long mtime) {
            this(perm, uid, gid, mtime, NO_NAMES, NO_NODES, 0);
        }

        private Dir(int perm, int uid, int gid, long mtime, String[] names, Node[] kids, long bytes) {
            super(perm, uid, gid, mtime);
            this.names = names;
            this.kids = kids;
            this.bytes = bytes;
        }

        @Override
        int typeBits() {
            return FileAttributes.S_IFDIR;
        }

        @Override
        long size() {
            return 4096;
        }

        @Override
        long bytes() {
            return bytes;
        }

        @Override
        Dir withMeta(int perm, int uid, int gid, long mtime) {
            return new Dir(perm, uid, gid, mtime, names, kids, bytes);
        }

        Node get(String name) {
            int i = Arrays.binarySearch(names, name);
            return i >= 0 ? kids[i] : null;
        }

        boolean isEmpty() {
            return names.length == 0;
        }

        /** This directory's attributes with the given (sorted) entries. */
        Dir filled(String[] newNames, Node[] newKids) {
            long b = 0;
            for (Node n : newKids) {
                b += n.bytes();
            }
            return new Dir(perm, uid, gid, mtime, newNames, newKids, b);
        }

        /** This directory with {@code child} added or replacing the entry {@code name}. */
        Dir with(String name, Node child, long newMtime) {
            int i = Arrays.binarySearch(names, name);
            if (i >= 0) {
                if (kids[i] == child) {
                    return this;
                }
                Node[] k = kids.clone();
                long b = bytes - kids[i].bytes() + child.bytes();
                k[i] = child;
                return new Dir(perm, uid, gid, newMtime, names, k, b);
            }
            int at = -i - 1;
            String[] n = new String[names.length + 1];
            Node[] k = new Node[kids.length + 1];
            System.arraycopy(names, 0, n, 0, at);
            System.arraycopy(kids, 0, k, 0, at);
            n[at] = name;
            k[at] = child;
            System.arraycopy(names, at, n, at + 1, names.length - at);
            System.arraycopy(kids, at, k, at + 1, kids.length - at);
            return new Dir(perm, uid, gid, newMtime, n, k, bytes + child.bytes());
        }

        /** This directory without the entry {@code name}. */
        Dir without(String name, long newMtime) {
            int i = Arrays.binarySearch(names, name);
            if (i < 0) {
                return this;
            }
            String[] n = new String[names.length - 1];
            Node[] k = new Node[kids.length - 1];
            System.arraycopy(names, 0, n, 0, i);
            System.arraycopy(kids, 0, k, 0, i);
            System.arraycopy(names, i + 1, n, i, names.length - i - 1);
            System.arraycopy(kids, i + 1, k, i, kids.length - i - 1);
            return new Dir(perm, uid, gid, newMtime, n, k, bytes - kids[i].bytes());
        }
    }

    /** A regular file; {@code data} is never modified. */
    static final class File extends Node {
        final byte[] data;

        File(int perm, int uid, int gid, long mtime, byte[] data) {
            super(perm, uid, gid, mtime);
            this.data = data;
        }

        @Override
        int typeBits() {
            return FileAttributes.S_IFREG;
        }

        @Override
        long size() {
            return data.length;
        }

        @Override
        long bytes() {
            return data.length;
        }

        @Override
        File withMeta(int perm, int uid, int gid, long mtime) {
            return new File(perm, uid, gid, mtime, data);
        }

        File withData(byte[] newData, long newMtime) {
            return new File(perm, uid, gid, newMtime, newData);
        }

        boolean executable() {
            return (perm & 0111) != 0;
        }
    }

    /** A symbolic link. */
    static final class Link extends Node {
        final String target;

        Link(int uid, int gid, long mtime, String target) {
            super(0777, uid, gid, mtime);
            this.target = target;
        }

        @Override
        int typeBits() {
            return FileAttributes.S_IFLNK;
        }

        @Override
        long size() {
            return target.getBytes(StandardCharsets.UTF_8).length;
        }

        @Override
        long bytes() {
            return size();
        }

        @Override
        Link withMeta(int perm, int uid, int gid, long mtime) {
            return new Link(uid, gid, mtime, target);
        }
    }

    // =============================================================================================================
    // Lookup
    // =============================================================================================================

    /** The components of an absolute path, or of {@code path} relative to {@code cwd}. */
    static List<String> split(String cwd, String path) {
        List<String> out = new ArrayList<>();
        if (!path.startsWith("/")) {
            addComponents(out, cwd);
        }
        addComponents(out, path);
        return out;
    }

    private static void addComponents(List<String> out, String path) {
        for (String c : path.split("/")) {
            if (!c.isEmpty()) {
                out.add(c);
            }
        }
    }

    /**
     * Resolves {@code path} inside {@code root} as Linux resolves it inside a chroot: {@code ..} never climbs above
     * {@code /}, absolute symlinks restart at the instance root, every directory on the way must exist. The final
     * component need not exist; when it is a symlink it is followed only if {@code followFinal}.
     *
     * @return the canonical components, from the root
     * @throws NotFoundException a directory on the way is missing
     * @throws InvalidArgumentException a component on the way is not a directory, or symlinks loop
     */
    static List<String> resolve(Dir root, String cwd, String path, boolean followFinal) {
        List<String> todo = split(cwd, path);
        List<String> cur = new ArrayList<>();
        List<Dir> dirs = new ArrayList<>();
        dirs.add(root);
        int links = 0;
        int i = 0;
        while (i < todo.size()) {
            String c = todo.get(i++);
            if (c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                if (!cur.isEmpty()) {
                    cur.remove(cur.size() - 1);
                    dirs.remove(dirs.size() - 1);
                }
                continue;
            }
            boolean last = i == todo.size();
            Dir dir = dirs.get(dirs.size() - 1);
            Node n = dir.get(c);
            if (n instanceof Link l && (!last || followFinal)) {
                if (++links > MAX_SYMLINKS) {
                    throw new InvalidArgumentException("Too many levels of symbolic links: " + ErrorTexts.quote(path));
                }
                List<String> rest = new ArrayList<>();
                addComponents(rest, l.target);
                rest.addAll(todo.subList(i, todo.size()));
                todo = rest;
                i = 0;
                if (l.target.startsWith("/")) {
                    cur.clear();
                    dirs.subList(1, dirs.size()).clear();
                }
                continue;
            }
            if (last) {
                cur.add(c);
                break;
            }
            if (n == null) {
                throw notFound(path);
            }
            if (!(n instanceof Dir d)) {
                throw new InvalidArgumentException("Not a directory: " + ErrorTexts.quote(path));
            }
            cur.add(c);
            dirs.add(d);
        }
        return cur;
    }

    /** The node at canonical {@code path}, or {@code null}. */
    static Node at(Dir root, List<String> path) {
        Node n = root;
        for (String c : path) {
            if (!(n instanceof Dir d)) {
                return null;
            }
            n = d.get(c);
            if (n == null) {
                return null;
            }
        }
        return n;
    }

    /** The node {@code path} names (following symlinks when asked), or {@code null} when it does not exist. */
    static Node lookup(Dir root, String cwd, String path, boolean follow) {
        try {
            return at(root, resolve(root, cwd, path, follow));
        } catch (NotFoundException | InvalidArgumentException e) {
            return null;
        }
    }

    static NotFoundException notFound(String path) {
        return new NotFoundException("No such file or directory: " + ErrorTexts.quote(path));
    }

    // =============================================================================================================
    // Change (path copying)
    // =============================================================================================================

    /**
     * A new root where the node at canonical {@code path} is replaced by {@code change.apply(old)} ({@code old} is
     * {@code null} when absent; a {@code null} result removes it). Directories whose entry list changes get
     * {@code now} as their mtime. The parent must exist.
     */
    static Dir update(Dir root, List<String> path, long now, UnaryOperator<Node> change) {
        if (path.isEmpty()) {
            Node n = change.apply(root);
            if (!(n instanceof Dir d)) {
                throw new InvalidArgumentException("The root directory cannot be replaced or removed");
            }
            return d;
        }
        return update(root, path, 0, now, change, String.join("/", path));
    }

    private static Dir update(Dir dir, List<String> path, int i, long now, UnaryOperator<Node> change, String what) {
        String name = path.get(i);
        Node child = dir.get(name);
        Node updated;
        if (i == path.size() - 1) {
            updated = change.apply(child);
        } else if (child instanceof Dir d) {
            updated = update(d, path, i + 1, now, change, what);
        } else if (child == null) {
            throw notFound("/" + what);
        } else {
            throw new InvalidArgumentException("Not a directory: " + ErrorTexts.quote("/" + what));
        }
        if (updated == child) {
            return dir;
        }
        if (updated == null) {
            return dir.without(name, now);
        }
        return dir.with(name, updated, child == null ? now : dir.mtime);
    }

    /**
     * {@code base} re-used wherever {@code n} is equal to it, so that a tree read back from disk shares the base
     * tree's nodes again (what keeps reopened idle instances small).
     */
    static Node share(Node n, Node base) {
        if (base == null || n.getClass() != base.getClass() || !n.sameMeta(base)) {
            if (n instanceof Dir d && base instanceof Dir b) {
                return shareKids(d, b, false);
            }
            return n;
        }
        if (n instanceof File f) {
            return Arrays.equals(f.data, ((File) base).data) ? base : n;
        }
        if (n instanceof Link l) {
            return l.target.equals(((Link) base).target) ? base : n;
        }
        return shareKids((Dir) n, (Dir) base, true);
    }

    private static Node shareKids(Dir d, Dir b, boolean sameMeta) {
        Node[] kids = new Node[d.kids.length];
        boolean same = sameMeta && Arrays.equals(d.names, b.names);
        boolean changed = false;
        for (int i = 0; i < kids.length; i++) {
            Node bk = b.get(d.names[i]);
            kids[i] = share(d.kids[i], bk);
            same &= kids[i] == bk;
            changed |= kids[i] != d.kids[i];
        }
        if (same) {
            return b;
        }
        return changed ? d.filled(d.names, kids) : d;
    }

    // =============================================================================================================
    // Building trees in bulk (tar reading, host directories, base trees)
    // =============================================================================================================

    /** A mutable tree for bulk loading; {@link #build()} freezes it. Not thread-safe. */
    static final class Builder {
        private final MutDir root;

        Builder(int perm, int uid, int gid, long mtime) {
            root = new MutDir(perm, uid, gid, mtime);
        }

        /** Starts from an existing tree. */
        Builder(Dir from) {
            root = MutDir.of(from);
        }

        /** Sets the root directory's attributes. */
        void root(int perm, int uid, int gid, long mtime) {
            root.perm = perm;
            root.uid = uid;
            root.gid = gid;
            root.mtime = mtime;
        }

        /** Adds a directory (merging with one already there), creating missing parents. */
        void dir(String path, int perm, int uid, int gid, long mtime) {
            List<String> p = split("/", path);
            if (p.isEmpty()) {
                root(perm, uid, gid, mtime);
                return;
            }
            MutDir parent = parent(p, mtime);
            Object existing = parent.kids.get(last(p));
            if (existing instanceof MutDir d) {
                d.perm = perm;
                d.uid = uid;
                d.gid = gid;
                d.mtime = mtime;
            } else {
                parent.kids.put(last(p), new MutDir(perm, uid, gid, mtime));
            }
        }

        void file(String path, byte[] data, int perm, int uid, int gid, long mtime) {
            put(path, new File(perm, uid, gid, mtime, data), mtime);
        }

        void symlink(String path, String target, int uid, int gid, long mtime) {
            put(path, new Link(uid, gid, mtime, target), mtime);
        }

        /** The file at {@code path}, for hard links; {@code null} if none. */
        File file(String path) {
            List<String> p = split("/", path);
            MutDir d = root;
            for (int i = 0; i < p.size() - 1; i++) {
                if (!(d.kids.get(p.get(i)) instanceof MutDir next)) {
                    return null;
                }
                d = next;
            }
            return p.isEmpty() ? null : d.kids.get(last(p)) instanceof File f ? f : null;
        }

        private void put(String path, Node node, long mtime) {
            List<String> p = split("/", path);
            if (p.isEmpty()) {
                throw new InvalidArgumentException("The root directory cannot be a file or a link");
            }
            parent(p, mtime).kids.put(last(p), node);
        }

        private MutDir parent(List<String> p, long mtime) {
            MutDir d = root;
            for (int i = 0; i < p.size() - 1; i++) {
                Object next = d.kids.get(p.get(i));
                MutDir nd;
                if (next instanceof MutDir m) {
                    nd = m;
                } else {
                    nd = new MutDir(0755, 0, 0, mtime);
                    d.kids.put(p.get(i), nd);
                }
                d = nd;
            }
            return d;
        }

        private static String last(List<String> p) {
            return p.get(p.size() - 1);
        }

        Dir build() {
            return root.freeze();
        }
    }

    private static final class MutDir {
        int perm;
        int uid;
        int gid;
        long mtime;
        final TreeMap<String, Object> kids = new TreeMap<>();

        MutDir(int perm, int uid, int gid, long mtime) {
            this.perm = perm;
            this.uid = uid;
            this.gid = gid;
            this.mtime = mtime;
        }

        static MutDir of(Dir d) {
            MutDir m = new MutDir(d.perm, d.uid, d.gid, d.mtime);
            for (int i = 0; i < d.names.length; i++) {
                m.kids.put(d.names[i], d.kids[i] instanceof Dir sub ? of(sub) : d.kids[i]);
            }
            return m;
        }

        Dir freeze() {
            String[] names = new String[kids.size()];
            Node[] nodes = new Node[kids.size()];
            int i = 0;
            for (Map.Entry<String, Object> e : kids.entrySet()) {
                names[i] = e.getKey();
                nodes[i] = e.getValue() instanceof MutDir m ? m.freeze() : (Node) e.getValue();
                i++;
            }
            Dir out = new Dir(perm, uid, gid, mtime);
            return names.length == 0 ? out : out.filled(names, nodes);
        }
    }

    // =============================================================================================================
    // Base trees shared by every instance
    // =============================================================================================================

    /** Applets the {@code busybox} template links to {@code /bin/busybox}: the ones the fake simulates. */
    static final List<String> BUSYBOX_APPLETS = List.of("cat", "echo", "env", "false", "hostname", "id", "ls",
            "mkdir", "pwd", "rm", "sh", "sleep", "touch", "true", "uname");

    /** The minimal root filesystem of {@code InstanceSource.none()}. */
    static final Dir MINIMAL = minimal().build();

    /** liblxc's busybox template, reduced to the applets the fake simulates. */
    static final Dir BUSYBOX = (Dir) share(busybox(), MINIMAL);

    private static Builder minimal() {
        long t = BASE_MTIME;
        Builder b = new Builder(0755, 0, 0, t);
        for (String d : List.of("bin", "dev", "etc", "home", "proc", "run", "sbin", "sys", "usr", "var")) {
            b.dir(d, 0755, 0, 0, t);
        }
        b.dir("root", 0700, 0, 0, t);
        b.dir("tmp", 01777, 0, 0, t);
        b.file("etc/passwd", utf8("root:x:0:0:root:/root:/bin/sh\n"), 0644, 0, 0, t);
        b.file("etc/group", utf8("root:x:0:\n"), 0644, 0, 0, t);
        return b;
    }

    private static Dir busybox() {
        long t = BASE_MTIME;
        Builder b = minimal();
        for (String d : List.of("usr/bin", "usr/sbin", "var/log", "etc/init.d", "lib", "mnt")) {
            b.dir(d, 0755, 0, 0, t);
        }
        b.file("bin/busybox", utf8("\u007fELF busybox (simulated by the incus4j fake driver)\n"), 0755, 0, 0, t);
        for (String applet : BUSYBOX_APPLETS) {
            b.symlink("bin/" + applet, "busybox", 0, 0, t);
        }
        b.symlink("sbin/init", "/bin/busybox", 0, 0, t);
        b.file("etc/inittab", utf8("::sysinit:/etc/init.d/rcS\ntty1::respawn:/bin/getty -L tty1 115200 vt100\n"
                + "console::askfirst:/bin/sh\n::ctrlaltdel:/bin/umount -a -r\n"), 0644, 0, 0, t);
        b.file("etc/init.d/rcS", utf8("#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n"), 0744, 0, 0, t);
        b.file("etc/shadow", utf8("root::19723:0:99999:7:::\n"), 0600, 0, 0, t);
        b.file("etc/fstab", utf8("shm /dev/shm tmpfs defaults 0 0\n"), 0644, 0, 0, t);
        b.file("etc/profile", utf8("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"),
                0644, 0, 0, t);
        return b.build();
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
