package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import io.github.incus4j.testkit.fake.MemFs.File;
import io.github.incus4j.testkit.fake.MemFs.Link;
import io.github.incus4j.testkit.fake.MemFs.Node;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;

/** {@link MemFs} trees as tar entries ({@link ImageTar}): image export, migration streams, the on-disk copy. */
final class FsTar {
    /** The file an instance's tree is kept in across driver sessions, in its {@code Path()}. */
    static final String ROOTFS_TAR = "rootfs.tar";

    private FsTar() {
    }

    /**
     * Writes {@code root}'s entries with names under {@code prefix} ({@code "rootfs/"}, or {@code ""} for a bare
     * tree); the root directory itself is the entry named {@code prefix} ({@code ./} for a bare tree), so that its
     * mode and owner survive.
     */
    static void write(Dir root, ImageTar.Writer out, String prefix) throws IOException {
        out.add(entry(prefix.isEmpty() ? "" : prefix.substring(0, prefix.length() - 1), root), null);
        writeKids(root, out, prefix);
    }

    private static void writeKids(Dir dir, ImageTar.Writer out, String prefix) throws IOException {
        for (int i = 0; i < dir.names.length; i++) {
            String name = prefix + dir.names[i];
            Node n = dir.kids[i];
            if (n instanceof File f) {
                out.add(entry(name, n), new ByteArrayInputStream(f.data));
            } else {
                out.add(entry(name, n), null);
                if (n instanceof Dir d) {
                    writeKids(d, out, name + "/");
                }
            }
        }
    }

    private static ImageTar.Entry entry(String name, Node n) {
        ImageTar.Kind kind = n instanceof Dir ? ImageTar.Kind.DIRECTORY
                : n instanceof Link ? ImageTar.Kind.SYMLINK : ImageTar.Kind.FILE;
        return new ImageTar.Entry(name, kind, n.perm, n.uid, n.gid, Instant.ofEpochMilli(n.mtime),
                n instanceof File f ? f.data.length : 0, n instanceof Link l ? l.target : null);
    }

    /**
     * Adds one tar entry to {@code b}; {@code name} is relative to the tree's root ({@code ""} for the root itself).
     * Hard links become copies of their target, which must come first (as tar writes them).
     */
    static void add(MemFs.Builder b, String name, ImageTar.Entry e, InputStream content) throws IOException {
        String path = clean(name);
        long mtime = e.modified() == null ? 0 : e.modified().toEpochMilli();
        int uid = (int) e.uid();
        int gid = (int) e.gid();
        switch (e.kind()) {
            case DIRECTORY:
                b.dir(path, e.mode(), uid, gid, mtime);
                break;
            case SYMLINK:
                b.symlink(path, e.linkTarget() == null ? "" : e.linkTarget(), uid, gid, mtime);
                break;
            case HARDLINK:
                String target = clean(e.linkTarget() == null ? "" : e.linkTarget());
                File f = b.file(target);
                if (f == null && target.startsWith("rootfs/")) {
                    f = b.file(target.substring("rootfs/".length()));
                }
                b.file(path, f == null ? new byte[0] : f.data, e.mode(), uid, gid, mtime);
                break;
            default:
                b.file(path, content.readAllBytes(), e.mode(), uid, gid, mtime);
        }
    }

    private static String clean(String name) {
        String n = name;
        while (n.startsWith("./") || n.startsWith("/")) {
            n = n.substring(n.startsWith("./") ? 2 : 1);
        }
        if (n.equals(".")) {
            return "";
        }
        return n.endsWith("/") ? n.substring(0, n.length() - 1) : n;
    }

    /** Saves a tree to {@code file} (atomically replaced; not synced: it is a cache of memory, not a record). */
    static void save(Dir root, Path file) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
            ImageTar.Writer w = ImageTar.writer(out);
            write(root, w, "");
            w.finish();
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Reads a tree saved by {@link #save}, sharing what equals {@code base}; {@code null} if there is none. */
    static Dir load(Path file, Dir base) throws IOException {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        MemFs.Builder b = new MemFs.Builder(0755, 0, 0, MemFs.BASE_MTIME);
        try (InputStream in = new java.io.BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            ImageTar.read(in, (e, content) -> add(b, e.name(), e, content));
        }
        return (Dir) MemFs.share(b.build(), base);
    }
}
