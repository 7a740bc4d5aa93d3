package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import io.github.incus4j.testkit.fake.MemFs.File;
import io.github.incus4j.testkit.fake.MemFs.Link;
import io.github.incus4j.testkit.fake.MemFs.Node;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * {@link SftpClient} over an instance's {@link MemFs} tree: the backend {@code fileSftpConn()} serves, and the file
 * access of simulated processes. Every change is an atomic swap of the instance's root, so concurrent clients never see a torn
 * tree. Permissions are not enforced (the client acts as root whatever its uid); new files belong to its uid/gid.
 */
final class MemSftp implements SftpClient {
    /** Where the tree lives: an instance's current root, or a snapshot's (read-only). */
    interface FsRoot {
        Dir get();

        /** Replaces the root if it is still {@code expect}. */
        boolean compareAndSet(Dir expect, Dir update);

        /** Refuses writes to a read-only view. */
        void checkWritable();

        /** The clock's time in milliseconds, for mtimes. */
        long now();
    }

    private final FsRoot root;
    private final String cwd;
    private final int uid;
    private final int gid;
    private volatile boolean closed;

    MemSftp(FsRoot root, String cwd, int uid, int gid) {
        this.root = root;
        this.cwd = cwd.isEmpty() ? "/" : cwd;
        this.uid = uid;
        this.gid = gid;
    }

    // ---- reading ------------------------------------------------------------------------------------------------

    @Override
    public FileAttributes stat(String path) {
        return existing(path, true).attributes();
    }

    @Override
    public FileAttributes lstat(String path) {
        return existing(path, false).attributes();
    }

    @Override
    public boolean exists(String path) {
        open();
        return MemFs.lookup(root.get(), cwd, path, false) != null;
    }

    @Override
    public InputStream open(String path) {
        return new ByteArrayInputStream(file(path).data);
    }

    /** The content of a file (shared: never modify it). */
    byte[] read(String path) {
        return file(path).data;
    }

    private File file(String path) {
        Node n = existing(path, true);
        if (n instanceof Dir) {
            throw new InvalidArgumentException("Is a directory: " + ErrorTexts.quote(path));
        }
        return (File) n;
    }

    @Override
    public List<Entry> list(String dir) {
        Node n = existing(dir, true);
        if (!(n instanceof Dir d)) {
            throw new InvalidArgumentException("Not a directory: " + ErrorTexts.quote(dir));
        }
        List<Entry> out = new ArrayList<>(d.names.length);
        for (int i = 0; i < d.names.length; i++) {
            out.add(new Entry(d.names[i], d.kids[i].attributes()));
        }
        return out;
    }

    @Override
    public String readlink(String path) {
        Node n = existing(path, false);
        if (!(n instanceof Link l)) {
            throw new InvalidArgumentException("Not a symbolic link: " + ErrorTexts.quote(path));
        }
        return l.target;
    }

    /** The node {@code path} names, or {@code null}. */
    Node node(String path, boolean follow) {
        open();
        return MemFs.lookup(root.get(), cwd, path, follow);
    }

    private Node existing(String path, boolean follow) {
        open();
        Objects.requireNonNull(path, "path");
        Dir r = root.get();
        Node n = MemFs.at(r, MemFs.resolve(r, cwd, path, follow));
        if (n == null) {
            throw MemFs.notFound(path);
        }
        return n;
    }

    // ---- writing ------------------------------------------------------------------------------------------------

    @Override
    public OutputStream create(String path, int mode) {
        List<String> target = change(path, true, (p, now) -> old -> {
            if (old instanceof Dir) {
                throw new InvalidArgumentException("Is a directory: " + ErrorTexts.quote(path));
            }
            return old instanceof File f ? f.withData(new byte[0], now) : new File(mode, uid, gid, now, new byte[0]);
        });
        return new Commit(target);
    }

    /** Writes (or with {@code append} extends) a file, creating it with {@code mode} when missing. */
    void writeFile(String path, byte[] data, int mode, boolean append) {
        change(path, true, (p, now) -> old -> {
            if (old instanceof Dir) {
                throw new InvalidArgumentException("Is a directory: " + ErrorTexts.quote(path));
            }
            if (old instanceof File f) {
                return f.withData(append ? concat(f.data, data) : data, now);
            }
            return new File(mode, uid, gid, now, data);
        });
    }

    /** Writes a file with the given owner, creating parent directories (image templates). */
    void writeFile(String path, byte[] data, int mode, int owner, int group) {
        int slash = path.lastIndexOf('/');
        if (slash > 0) {
            mkdirs(path.substring(0, slash), 0755);
        }
        change(path, true, (p, now) -> old -> {
            if (old instanceof Dir) {
                throw new InvalidArgumentException("Is a directory: " + ErrorTexts.quote(path));
            }
            return old instanceof File f ? f.withData(data, now) : new File(mode, owner, group, now, data);
        });
    }

    @Override
    public void mkdir(String path, int mode) {
        change(path, false, (p, now) -> old -> {
            if (old != null) {
                throw fileExists(path);
            }
            return new Dir(mode, uid, gid, now);
        });
    }

    @Override
    public void mkdirs(String path, int mode) {
        List<String> parts = MemFs.split(cwd, path);
        StringBuilder sb = new StringBuilder();
        for (String part : parts) {
            sb.append('/').append(part);
            String p = sb.toString();
            Node n = node(p, true);
            if (n instanceof Dir) {
                continue;
            }
            if (n != null) {
                throw new InvalidArgumentException("Not a directory: " + ErrorTexts.quote(p));
            }
            try {
                mkdir(p, mode);
            } catch (BusyException raced) {
                // Created meanwhile by someone else: fine, as mkdir -p.
            }
        }
    }

    @Override
    public void remove(String path) {
        change(path, false, (p, now) -> old -> {
            if (old == null) {
                throw MemFs.notFound(path);
            }
            if (old instanceof Dir) {
                throw new InvalidArgumentException("Is a directory: " + ErrorTexts.quote(path));
            }
            return null;
        });
    }

    @Override
    public void rmdir(String path) {
        change(path, false, (p, now) -> old -> {
            if (old == null) {
                throw MemFs.notFound(path);
            }
            if (!(old instanceof Dir d)) {
                throw new InvalidArgumentException("Not a directory: " + ErrorTexts.quote(path));
            }
            if (!d.isEmpty()) {
                throw new InvalidArgumentException("Directory not empty: " + ErrorTexts.quote(path));
            }
            if (p.isEmpty()) {
                throw new InvalidArgumentException("The root directory cannot be removed");
            }
            return null;
        });
    }

    /** Removes a file or a whole tree ({@code rm -r}). */
    void removeTree(String path) {
        change(path, false, (p, now) -> old -> {
            if (old == null) {
                throw MemFs.notFound(path);
            }
            if (p.isEmpty()) {
                throw new InvalidArgumentException("The root directory cannot be removed");
            }
            return null;
        });
    }

    @Override
    public void rename(String from, String to) {
        open();
        root.checkWritable();
        while (true) {
            Dir r = root.get();
            List<String> src = MemFs.resolve(r, cwd, from, false);
            List<String> dst = MemFs.resolve(r, cwd, to, false);
            Node moving = MemFs.at(r, src);
            if (moving == null) {
                throw MemFs.notFound(from);
            }
            if (src.isEmpty() || dst.isEmpty()) {
                throw new InvalidArgumentException("The root directory cannot be renamed");
            }
            if (src.equals(dst)) {
                return;
            }
            if (dst.size() > src.size() && dst.subList(0, src.size()).equals(src)) {
                throw new InvalidArgumentException("Cannot move " + ErrorTexts.quote(from) + " into itself");
            }
            Node there = MemFs.at(r, dst);
            if (there instanceof Dir d && (!(moving instanceof Dir) || !d.isEmpty())) {
                String why = moving instanceof Dir ? "Directory not empty: " : "Is a directory: ";
                throw new InvalidArgumentException(why + ErrorTexts.quote(to));
            }
            if (there != null && !(there instanceof Dir) && moving instanceof Dir) {
                throw new InvalidArgumentException("Not a directory: " + ErrorTexts.quote(to));
            }
            long now = root.now();
            Dir next = MemFs.update(r, src, now, old -> null);
            next = MemFs.update(next, dst, now, old -> moving);
            if (root.compareAndSet(r, next)) {
                return;
            }
        }
    }

    @Override
    public void symlink(String target, String link) {
        if (target == null || target.isEmpty()) {
            throw new InvalidArgumentException("Empty symbolic link target for " + ErrorTexts.quote(String.valueOf(link)));
        }
        change(link, false, (p, now) -> old -> {
            if (old != null) {
                throw fileExists(link);
            }
            return new Link(uid, gid, now, target);
        });
    }

    @Override
    public void chmod(String path, int mode) {
        change(path, true, (p, now) -> old -> {
            if (old == null) {
                throw MemFs.notFound(path);
            }
            return old.withMeta(mode, old.uid, old.gid, old.mtime);
        });
    }

    @Override
    public void chown(String path, int newUid, int newGid) {
        change(path, true, (p, now) -> old -> {
            if (old == null) {
                throw MemFs.notFound(path);
            }
            return old.withMeta(old.perm, newUid, newGid, old.mtime);
        });
    }

    /** Sets a file's mtime to now, creating it empty when missing ({@code touch}). */
    void touch(String path) {
        change(path, true, (p, now) -> old -> old == null ? new File(0644, uid, gid, now, new byte[0])
                : old.withMeta(old.perm, old.uid, old.gid, now));
    }

    @Override
    public void close() {
        closed = true;
    }

    // ---- plumbing -----------------------------------------------------------------------------------------------

    /** What a change does to the node at a canonical path, given that path and the time. */
    private interface Change {
        UnaryOperator<Node> at(List<String> canonical, long now);
    }

    /**
     * Applies {@code change} to the node {@code path} names, retrying if another writer swapped the root meanwhile.
     *
     * @return the canonical path changed
     */
    private List<String> change(String path, boolean followFinal, Change change) {
        open();
        Objects.requireNonNull(path, "path");
        root.checkWritable();
        while (true) {
            Dir r = root.get();
            List<String> canonical = MemFs.resolve(r, cwd, path, followFinal);
            long now = root.now();
            Dir next = MemFs.update(r, canonical, now, change.at(canonical, now));
            if (next == r || root.compareAndSet(r, next)) {
                return canonical;
            }
        }
    }

    private void open() {
        if (closed) {
            throw new IllegalStateException("This file session was closed");
        }
    }

    private static BusyException fileExists(String path) {
        return new BusyException("File exists: " + ErrorTexts.quote(path));
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** The stream of {@link #create}: buffers, and publishes the content on every flush and on close. */
    private final class Commit extends OutputStream {
        private final List<String> target;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private boolean done;

        Commit(List<String> target) {
            this.target = target;
        }

        @Override
        public void write(int b) throws IOException {
            check();
            buf.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            check();
            buf.write(b, off, len);
        }

        @Override
        public void flush() throws IOException {
            check();
            publish();
        }

        @Override
        public void close() {
            if (!done) {
                publish();
                done = true;
            }
        }

        private void check() throws IOException {
            if (done) {
                throw new IOException("Stream closed");
            }
        }

        /** Replaces the file's content; a file removed meanwhile stays removed, as an unlinked inode. */
        private void publish() {
            byte[] data = buf.toByteArray();
            UnaryOperator<Node> put = old -> old instanceof File f ? f.withData(data, root.now()) : old;
            while (true) {
                Dir r = root.get();
                Dir next;
                try {
                    next = MemFs.update(r, target, root.now(), put);
                } catch (RuntimeException parentGone) {
                    return;
                }
                if (next == r || root.compareAndSet(r, next)) {
                    return;
                }
            }
        }
    }
}
