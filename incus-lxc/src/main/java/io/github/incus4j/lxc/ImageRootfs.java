package io.github.incus4j.lxc;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.io.BulkInputStream;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * A container's root filesystem to and from an image's {@code rootfs/}: ids in the image are as inside the container
 * (Incus's export unshifts them with the disk id map, creation shifts them with the new container's).
 */
final class ImageRootfs {
    private static final System.Logger LOG = System.getLogger(ImageRootfs.class.getName());
    private static final LinkOption[] NOFOLLOW = {LinkOption.NOFOLLOW_LINKS};

    private ImageRootfs() {
    }

    /**
     * Writes the tree under {@code rootfs}: directories, files, symlinks (never followed) and hard links (the content
     * once, then links to the first name); sockets, fifos and device nodes are skipped, as are entries whose owner
     * the map cannot show inside the container (Incus skips them too).
     *
     * @param map the disk id map, null for a privileged container (ids as they are)
     */
    static ImageLayout.RootfsWriter writer(Path rootfs, IdmapSet map) {
        return writer(rootfs, map, null, null);
    }

    /**
     * {@link #writer(Path, IdmapSet)} for a live migration. With {@code changedSince} set, only what changed since
     * then (by modification or status change time) is written, directories always (cheap, and the parents of what
     * is); with it null, all is written and files that vanish or change size meanwhile (the container is running)
     * are skipped or cut/padded to the size first seen: a later pass with {@code changedSince} sends them again.
     * {@code names} (when not null) collects the name of every entry seen, written or not.
     */
    static ImageLayout.RootfsWriter writer(Path rootfs, IdmapSet map, Instant changedSince, Set<String> names) {
        boolean live = names != null;
        return (out, prefix) -> {
            Map<Object, String> firstNames = new HashMap<>();
            Files.walkFileTree(rootfs, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                    String rel = rootfs.relativize(d).toString();
                    String name = rel.isEmpty() ? (prefix.isEmpty() ? "" : prefix.substring(0, prefix.length() - 1))
                            : prefix + rel;
                    add(d, name, ImageTar.Kind.DIRECTORY, attrs, "");
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                    String name = prefix + rootfs.relativize(f);
                    if (attrs.isSymbolicLink()) {
                        add(f, name, ImageTar.Kind.SYMLINK, attrs, Files.readSymbolicLink(f).toString());
                    } else if (attrs.isRegularFile()) {
                        Object key = attrs.fileKey();
                        String first = key == null ? null : firstNames.putIfAbsent(key, name);
                        if (first != null) {
                            add(f, name, ImageTar.Kind.HARDLINK, attrs, first);
                        } else {
                            add(f, name, ImageTar.Kind.FILE, attrs, "");
                        }
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path f, IOException e) throws IOException {
                    if (live && e instanceof NoSuchFileException) {
                        return FileVisitResult.CONTINUE; // deleted by the running container meanwhile
                    }
                    throw e;
                }

                private void add(Path p, String name, ImageTar.Kind kind, BasicFileAttributes attrs, String link)
                        throws IOException {
                    if (live) {
                        try {
                            addLive(p, name, kind, attrs, link);
                        } catch (NoSuchFileException gone) {
                            LOG.log(System.Logger.Level.DEBUG, "Deleted while sent: {0}", p);
                        }
                    } else {
                        addEntry(p, name, kind, attrs, link);
                    }
                }

                private void addLive(Path p, String name, ImageTar.Kind kind, BasicFileAttributes attrs, String link)
                        throws IOException {
                    names.add(name);
                    if (changedSince != null && kind != ImageTar.Kind.DIRECTORY) {
                        FileTime ctime = (FileTime) Files.getAttribute(p, "unix:ctime", NOFOLLOW);
                        if (attrs.lastModifiedTime().toInstant().isBefore(changedSince)
                                && ctime.toInstant().isBefore(changedSince)) {
                            return;
                        }
                    }
                    addEntry(p, name, kind, attrs, link);
                }

                private void addEntry(Path p, String name, ImageTar.Kind kind, BasicFileAttributes attrs,
                        String link) throws IOException {
                    int uid = (Integer) Files.getAttribute(p, "unix:uid", NOFOLLOW);
                    int gid = (Integer) Files.getAttribute(p, "unix:gid", NOFOLLOW);
                    int mode = (Integer) Files.getAttribute(p, "unix:mode", NOFOLLOW) & 07777;
                    long[] ids = {uid, gid};
                    if (map != null) {
                        try {
                            ids = map.shiftIntoNs(uid, gid);
                        } catch (InvalidArgumentException unmapped) {
                            LOG.log(System.Logger.Level.DEBUG, "Not exported, owner outside the id map: {0}", p);
                            return;
                        }
                    }
                    long size = kind == ImageTar.Kind.FILE ? attrs.size() : 0;
                    ImageTar.Entry e = new ImageTar.Entry(name, kind, mode, ids[0], ids[1],
                            attrs.lastModifiedTime().toInstant(), size, link);
                    if (kind == ImageTar.Kind.FILE) {
                        try (InputStream in = Files.newInputStream(p, NOFOLLOW)) {
                            out.add(e, live ? exactly(in, size) : in);
                        }
                    } else {
                        out.add(e, null);
                    }
                }
            });
        };
    }

    /** {@code in} cut or padded with zeros to {@code size} bytes: a file the running container changes meanwhile. */
    private static InputStream exactly(InputStream in, long size) {
        return new BulkInputStream() {
            private long left = size;

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (left <= 0) {
                    return -1;
                }
                int n = in.read(b, off, (int) Math.min(len, left));
                if (n < 0) {
                    n = (int) Math.min(len, left);
                    java.util.Arrays.fill(b, off, off + n, (byte) 0);
                }
                left -= n;
                return n;
            }
        };
    }

    /**
     * Unpacks an image's root filesystem entries into {@code rootfs} (which exists). Entry names are already free of
     * {@code ..}; an entry whose parent is not a real directory (a symlink planted by an earlier entry) is refused,
     * so nothing is written outside {@code rootfs}. Modes are kept, owners shifted by {@code map} (null: as they are).
     */
    static ImageTar.Visitor unpacker(Path rootfs, IdmapSet map) {
        return (e, content) -> {
            Path p = inside(rootfs, e.name());
            switch (e.kind()) {
                case DIRECTORY:
                    if (!Files.isDirectory(p, NOFOLLOW)) {
                        Files.deleteIfExists(p);
                        Files.createDirectory(p);
                    }
                    break;
                case FILE:
                    Files.deleteIfExists(p);
                    Files.copy(content, p);
                    break;
                case SYMLINK:
                    Files.deleteIfExists(p);
                    Files.createSymbolicLink(p, Path.of(e.linkTarget()));
                    break;
                case HARDLINK:
                    Path target = inside(rootfs, e.linkTarget());
                    if (!Files.isRegularFile(target, NOFOLLOW)) {
                        throw new InvalidArgumentException("Invalid image: hard link " + ErrorTexts.quote(e.name())
                                + " to " + ErrorTexts.quote(e.linkTarget()) + ", which is not a file before it");
                    }
                    Files.deleteIfExists(p);
                    Files.createLink(p, target);
                    return; // the target's owner and mode are the link's
                default:
                    throw new IllegalStateException("Unknown entry kind " + e.kind());
            }
            long[] ids = map == null ? new long[] {e.uid(), e.gid()} : map.shiftFromNs(e.uid(), e.gid());
            Files.setAttribute(p, "unix:uid", (int) ids[0], NOFOLLOW);
            Files.setAttribute(p, "unix:gid", (int) ids[1], NOFOLLOW);
            if (e.kind() != ImageTar.Kind.SYMLINK) {
                // After the chown, which clears set-id bits.
                Files.setAttribute(p, "unix:mode", e.mode() & 07777, NOFOLLOW);
            }
            if (e.modified() != null && e.kind() != ImageTar.Kind.DIRECTORY) {
                Files.getFileAttributeView(p, BasicFileAttributeView.class, NOFOLLOW)
                        .setTimes(FileTime.from(e.modified()), null, null);
            }
        };
    }

    /** {@code name} under {@code rootfs}, every parent a real directory (never through a symlink). */
    private static Path inside(Path rootfs, String name) {
        Path p = rootfs;
        String[] parts = name.isEmpty() ? new String[0] : name.split("/");
        for (int i = 0; i < parts.length; i++) {
            if (i > 0 && !Files.isDirectory(p, NOFOLLOW)) {
                throw new InvalidArgumentException("Invalid image: " + ErrorTexts.quote(name)
                        + " lies under something that is not a directory");
            }
            p = p.resolve(parts[i]);
        }
        return p;
    }
}
