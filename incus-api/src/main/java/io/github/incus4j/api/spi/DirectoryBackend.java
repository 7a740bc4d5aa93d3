package io.github.incus4j.api.spi;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.io.FileAttributes;
import io.github.incus4j.api.io.SftpClient;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A {@link FileBackend} confined to a host directory, e.g. a container's rootfs. Every path is resolved component by
 * component: {@code ..} never climbs above the root, and symlinks are read and resolved <em>inside</em> the root
 * (absolute targets re-rooted), so a link to {@code /etc/shadow} names the instance's {@code /etc/shadow}. Operations
 * on the final component open it with {@code NOFOLLOW_LINKS} once resolved, so a symlink swapped in at the end is not
 * followed out. (A guest swapping an <em>intermediate</em> directory for a symlink between our check and our use can
 * still race us; Incus avoids that by running its SFTP server inside the container, which a driver can do too.)
 *
 * <p>Ids: with an {@link IdmapSet}, host ids are shown as the container sees them (unmapped ones as
 * {@value #OVERFLOW_ID}, as the kernel does) and ids set by the client are shifted to the host; new files, directories
 * and symlinks belong to the container's root. Without one, ids pass through unchanged.
 */
public final class DirectoryBackend implements FileBackend {
    /** The id the kernel shows for an id outside the map ({@code overflowuid}). */
    public static final int OVERFLOW_ID = 65534;
    /** Symlinks followed in one resolution before giving up, as Linux's {@code ELOOP} limit. */
    static final int MAX_LINKS = 40;
    private static final LinkOption[] NOFOLLOW = {LinkOption.NOFOLLOW_LINKS};

    private final Path root;
    private final IdmapSet idmap;

    /**
     * @param root the directory the instance sees as {@code /}; it must exist
     * @param idmap the container's id map, or {@code null} for none
     */
    public DirectoryBackend(Path root, IdmapSet idmap) {
        Objects.requireNonNull(root, "root");
        try {
            this.root = root.toRealPath();
        } catch (IOException e) {
            throw new NotFoundException("Root directory " + Texts.quote(root.toString()) + " is missing", e);
        }
        if (!Files.isDirectory(this.root)) {
            throw new InvalidArgumentException("Root " + Texts.quote(root.toString()) + " is not a directory");
        }
        this.idmap = idmap;
    }

    // ---- resolution ---------------------------------------------------------------------------------------------

    /** The components of {@code path} under the root after resolving {@code ..} and symlinks inside it. */
    List<String> resolve(String path, boolean followFinal) {
        Objects.requireNonNull(path, "path");
        Deque<String> todo = new ArrayDeque<>(Arrays.asList(path.split("/")));
        List<String> done = new ArrayList<>();
        int links = 0;
        while (!todo.isEmpty()) {
            String part = todo.pollFirst();
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (!done.isEmpty()) {
                    done.remove(done.size() - 1);
                }
                continue;
            }
            done.add(part);
            if (todo.isEmpty() && !followFinal) {
                break;
            }
            Path host = host(done);
            if (!Files.isSymbolicLink(host)) {
                continue;
            }
            if (++links > MAX_LINKS) {
                throw new InvalidArgumentException("Too many levels of symbolic links: " + Texts.quote(path));
            }
            String target;
            try {
                target = Files.readSymbolicLink(host).toString();
            } catch (IOException e) {
                throw translate(e, path);
            }
            done.remove(done.size() - 1);
            if (target.startsWith("/")) {
                done.clear(); // re-rooted: "/" is the instance's root, never the host's
            }
            List<String> t = Arrays.asList(target.split("/"));
            for (int i = t.size() - 1; i >= 0; i--) {
                todo.addFirst(t.get(i));
            }
        }
        return done;
    }

    private Path host(List<String> parts) {
        Path p = root;
        for (String s : parts) {
            p = p.resolve(s);
        }
        return p;
    }

    private Path at(String path, boolean followFinal) {
        return host(resolve(path, followFinal));
    }

    /** A path that names an entry to create or remove: never the root itself. */
    private Path entry(String path) {
        List<String> parts = resolve(path, false);
        if (parts.isEmpty()) {
            throw new InvalidArgumentException("The root directory cannot be changed this way: " + Texts.quote(path));
        }
        return host(parts);
    }

    // ---- reading ------------------------------------------------------------------------------------------------

    @Override
    public FileAttributes stat(String path) {
        return attributes(at(path, true), path);
    }

    @Override
    public FileAttributes lstat(String path) {
        return attributes(at(path, false), path);
    }

    private FileAttributes attributes(Path p, String path) {
        try {
            Map<String, Object> a = Files.readAttributes(p, "unix:size,uid,gid,mode,lastModifiedTime", NOFOLLOW);
            int[] ids = toInstance((Integer) a.get("uid"), (Integer) a.get("gid"));
            return new FileAttributes((Long) a.get("size"), ids[0], ids[1], (Integer) a.get("mode"),
                    ((FileTime) a.get("lastModifiedTime")).toInstant());
        } catch (IOException e) {
            throw translate(e, path);
        }
    }

    @Override
    public List<SftpClient.Entry> list(String dir) {
        Path d = at(dir, true);
        List<SftpClient.Entry> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(d)) {
            for (Path p : s) {
                String name = p.getFileName().toString();
                try {
                    out.add(new SftpClient.Entry(name, attributes(p, dir + "/" + name)));
                } catch (NotFoundException gone) {
                    // Removed while listing: as readdir, skip it.
                }
            }
        } catch (IOException e) {
            throw translate(e, dir);
        }
        out.sort(Comparator.comparing(SftpClient.Entry::name));
        return out;
    }

    @Override
    public String readlink(String path) {
        try {
            return Files.readSymbolicLink(at(path, false)).toString();
        } catch (java.nio.file.NotLinkException e) {
            throw new InvalidArgumentException("Not a symbolic link: " + Texts.quote(path));
        } catch (IOException e) {
            throw translate(e, path);
        }
    }

    @Override
    public String realpath(String path) {
        return "/" + String.join("/", resolve(path, true));
    }

    // ---- writing ------------------------------------------------------------------------------------------------

    @Override
    public Handle open(String path, Set<OpenFlag> flags, int mode) {
        Path p = at(path, true);
        Set<OpenOption> opts = new HashSet<>();
        opts.add(LinkOption.NOFOLLOW_LINKS);
        if (flags.contains(OpenFlag.READ) || !flags.contains(OpenFlag.WRITE) && !flags.contains(OpenFlag.APPEND)) {
            opts.add(StandardOpenOption.READ);
        }
        if (flags.contains(OpenFlag.WRITE) || flags.contains(OpenFlag.APPEND)) {
            opts.add(StandardOpenOption.WRITE);
        }
        boolean append = flags.contains(OpenFlag.APPEND);
        if (flags.contains(OpenFlag.CREATE)) {
            opts.add(flags.contains(OpenFlag.EXCLUSIVE) ? StandardOpenOption.CREATE_NEW : StandardOpenOption.CREATE);
        }
        if (flags.contains(OpenFlag.TRUNCATE)) {
            opts.add(StandardOpenOption.TRUNCATE_EXISTING);
        }
        if (Files.isDirectory(p, NOFOLLOW)) {
            throw new InvalidArgumentException("Is a directory: " + Texts.quote(path));
        }
        boolean existed = Files.exists(p, NOFOLLOW);
        FileChannel ch;
        try {
            ch = FileChannel.open(p, opts, PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString(rwx(mode))));
        } catch (IOException e) {
            throw translate(e, path);
        }
        if (!existed) {
            created(p, mode);
        }
        return new ChannelHandle(ch, append, path);
    }

    /** Sets exact permissions (the umask narrowed them) and the container root as owner on a new entry. */
    private void created(Path p, int mode) {
        try {
            if (!Files.isSymbolicLink(p)) {
                Files.setAttribute(p, "unix:mode", mode & 07777, NOFOLLOW);
            }
            if (idmap != null) {
                long[] host = idmap.shiftFromNs(0, 0);
                Files.setAttribute(p, "unix:uid", (int) host[0], NOFOLLOW);
                Files.setAttribute(p, "unix:gid", (int) host[1], NOFOLLOW);
            }
        } catch (IOException e) {
            throw translate(e, p.toString());
        }
    }

    private static String rwx(int mode) {
        String all = "rwxrwxrwx";
        StringBuilder sb = new StringBuilder(9);
        for (int i = 0; i < 9; i++) {
            sb.append((mode & (0400 >> i)) != 0 ? all.charAt(i) : '-');
        }
        return sb.toString();
    }

    @Override
    public void mkdir(String path, int mode) {
        Path p = entry(path);
        try {
            Files.createDirectory(p);
        } catch (IOException e) {
            throw translate(e, path);
        }
        created(p, mode);
    }

    @Override
    public void rmdir(String path) {
        Path p = entry(path);
        if (!Files.isDirectory(p, NOFOLLOW)) {
            if (!Files.exists(p, NOFOLLOW)) {
                throw notFound(path);
            }
            throw new InvalidArgumentException("Not a directory: " + Texts.quote(path));
        }
        try {
            Files.delete(p);
        } catch (IOException e) {
            throw translate(e, path);
        }
    }

    @Override
    public void remove(String path) {
        Path p = entry(path);
        if (Files.isDirectory(p, NOFOLLOW)) {
            throw new InvalidArgumentException("Is a directory: " + Texts.quote(path));
        }
        try {
            Files.delete(p);
        } catch (IOException e) {
            throw translate(e, path);
        }
    }

    @Override
    public void rename(String from, String to) {
        Path src = entry(from);
        Path dst = entry(to);
        try {
            // ATOMIC_MOVE is rename(2): it never copies, so nothing can be dragged across the root.
            Files.move(src, dst, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw translate(e, from);
        }
    }

    @Override
    public void symlink(String target, String link) {
        if (target == null || target.isEmpty()) {
            throw new InvalidArgumentException("Empty symbolic link target for " + Texts.quote(String.valueOf(link)));
        }
        Path p = entry(link);
        try {
            Files.createSymbolicLink(p, p.getFileSystem().getPath(target));
        } catch (IOException e) {
            throw translate(e, link);
        }
        created(p, 0777);
    }

    @Override
    public void setattrs(String path, AttrChanges c) {
        Path p = at(path, true);
        try {
            if (c.size() != null) {
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
                    if (c.size() < ch.size()) {
                        ch.truncate(c.size());
                    } else if (c.size() > ch.size()) {
                        ch.write(ByteBuffer.allocate(1), c.size() - 1);
                    }
                }
            }
            if (c.uid() != null) {
                long[] host = toHost(c.uid(), c.gid());
                Files.setAttribute(p, "unix:uid", (int) host[0], NOFOLLOW);
                Files.setAttribute(p, "unix:gid", (int) host[1], NOFOLLOW);
            }
            if (c.mode() != null) {
                Files.setAttribute(p, "unix:mode", c.mode() & 07777, NOFOLLOW);
            }
            if (c.mtime() != null) {
                Files.getFileAttributeView(p, java.nio.file.attribute.BasicFileAttributeView.class, NOFOLLOW)
                        .setTimes(FileTime.from(c.mtime()), null, null);
            }
        } catch (IOException e) {
            throw translate(e, path);
        }
    }

    // ---- ids and errors -----------------------------------------------------------------------------------------

    private int[] toInstance(int uid, int gid) {
        if (idmap == null) {
            return new int[] {uid, gid};
        }
        return new int[] {shiftOne(uid, true), shiftOne(gid, false)};
    }

    /** One host id in the container's view; unlike {@link IdmapSet#shiftIntoNs} an unmapped id is not an error. */
    private int shiftOne(int hostId, boolean uid) {
        for (IdmapEntry e : idmap.entries()) {
            if ((uid ? e.isUid() : e.isGid()) && e.containsHost(hostId)) {
                return (int) (e.nsId() + (hostId - e.hostId()));
            }
        }
        return OVERFLOW_ID;
    }

    private long[] toHost(int uid, int gid) {
        return idmap == null ? new long[] {uid, gid} : idmap.shiftFromNs(uid, gid);
    }

    private static NotFoundException notFound(String path) {
        return new NotFoundException("No such file or directory: " + Texts.quote(path));
    }

    /** Java's file errors as the API's, naming the instance path (never the host one). */
    private static IncusException translate(IOException e, String path) {
        String q = Texts.quote(path);
        if (e instanceof NoSuchFileException) {
            return new NotFoundException("No such file or directory: " + q, e);
        }
        if (e instanceof FileAlreadyExistsException) {
            return new BusyException("File exists: " + q);
        }
        if (e instanceof DirectoryNotEmptyException) {
            return new InvalidArgumentException("Directory not empty: " + q);
        }
        if (e instanceof NotDirectoryException) {
            return new InvalidArgumentException("Not a directory: " + q);
        }
        if (e instanceof AccessDeniedException) {
            return new PermissionDeniedException("Permission denied: " + q, e);
        }
        if (e instanceof FileSystemException fse && fse.getReason() != null) {
            String reason = fse.getReason();
            if (reason.contains("Operation not permitted")) {
                return new PermissionDeniedException("Operation not permitted: " + q, e);
            }
            if (reason.contains("Not a directory")) {
                return new InvalidArgumentException("Not a directory: " + q);
            }
            if (reason.contains("symbolic links") || reason.contains("ELOOP")) {
                return new InvalidArgumentException("Too many levels of symbolic links: " + q);
            }
            return new IncusException(reason + ": " + q, e);
        }
        return new IncusException("File operation on " + q + " failed: " + e.getMessage(), e);
    }

    /** A file channel with positional reads and writes. */
    private static final class ChannelHandle implements Handle {
        private final FileChannel ch;
        private final boolean append;
        private final String path;

        ChannelHandle(FileChannel ch, boolean append, String path) {
            this.ch = ch;
            this.append = append;
            this.path = path;
        }

        @Override
        public int read(long offset, byte[] buf, int off, int len) {
            try {
                return ch.read(ByteBuffer.wrap(buf, off, len), offset);
            } catch (java.nio.channels.NonReadableChannelException e) {
                throw new PermissionDeniedException("File not open for reading: " + Texts.quote(path));
            } catch (IOException e) {
                throw translate(e, path);
            }
        }

        @Override
        public void write(long offset, byte[] buf, int off, int len) {
            try {
                ByteBuffer b = ByteBuffer.wrap(buf, off, len);
                long at = append ? ch.size() : offset;
                while (b.hasRemaining()) {
                    at += ch.write(b, at);
                }
            } catch (java.nio.channels.NonWritableChannelException e) {
                throw new PermissionDeniedException("File not open for writing: " + Texts.quote(path));
            } catch (IOException e) {
                throw translate(e, path);
            }
        }

        @Override
        public void close() {
            try {
                ch.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** For tests: the host root. */
    Path root() {
        return root;
    }

}
