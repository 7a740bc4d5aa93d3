package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A fake instance's view of a host directory shared into it (a {@code disk} device with a host {@code source}):
 * every path is relative to the directory (the caller normalized it, so no {@code ..} is left), nothing resolves
 * outside it (a symlink leading out is refused rather than followed), and {@code readonly=true} refuses every
 * change as a read-only bind mount does ({@code Read-only file system}).
 */
final class HostDirSftp {
    private final Path root;
    private final Path realRoot;
    private final boolean readOnly;

    HostDirSftp(Path root, boolean readOnly) throws IOException {
        this.root = root;
        this.realRoot = root.toRealPath();
        this.readOnly = readOnly;
    }

    /** The host path of {@code rel} ({@code ""}: the directory itself), checked to stay inside the directory. */
    private Path resolve(String rel, String shown) {
        if (rel.isEmpty()) {
            return root;
        }
        Path p = root.resolve(rel);
        // The nearest existing ancestor inside the directory, symlinks followed, must stay inside: a link out is an
        // escape.
        for (Path q = p.getParent(); q != null && q.startsWith(root); q = q.getParent()) {
            if (Files.exists(q)) {
                try {
                    if (!q.toRealPath().startsWith(realRoot)) {
                        throw escape(shown);
                    }
                } catch (IOException e) {
                    throw map(e, shown);
                }
                break;
            }
        }
        return p;
    }

    private Path followed(Path p, String shown) {
        try {
            if (Files.isSymbolicLink(p) && !p.toRealPath().startsWith(realRoot)) {
                throw escape(shown);
            }
        } catch (IOException e) {
            throw map(e, shown);
        }
        return p;
    }

    private static PermissionDeniedException escape(String shown) {
        return new PermissionDeniedException("Path escapes the shared folder: " + ErrorTexts.quote(shown));
    }

    private void writable(String shown) {
        if (readOnly) {
            throw new PermissionDeniedException("Read-only file system: " + ErrorTexts.quote(shown));
        }
    }

    FileAttributes stat(String rel, String shown, boolean follow) {
        Path p = resolve(rel, shown);
        if (follow) {
            followed(p, shown);
        }
        try {
            PosixFileAttributes a = follow ? Files.readAttributes(p, PosixFileAttributes.class)
                    : Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            int type = a.isDirectory() ? FileAttributes.S_IFDIR : a.isSymbolicLink() ? FileAttributes.S_IFLNK
                    : FileAttributes.S_IFREG;
            int uid = (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
            int gid = (Integer) Files.getAttribute(p, "unix:gid", LinkOption.NOFOLLOW_LINKS);
            return new FileAttributes(a.size(), uid, gid, type | mode(a.permissions()),
                    a.lastModifiedTime().toInstant());
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    InputStream open(String rel, String shown) {
        Path p = followed(resolve(rel, shown), shown);
        if (Files.isDirectory(p)) {
            throw new InvalidArgumentException("Is a directory: " + ErrorTexts.quote(shown));
        }
        try {
            return Files.newInputStream(p);
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    OutputStream create(String rel, String shown, int mode) {
        writable(shown);
        Path p = followed(resolve(rel, shown), shown);
        if (Files.isDirectory(p)) {
            throw new InvalidArgumentException("Is a directory: " + ErrorTexts.quote(shown));
        }
        try {
            boolean fresh = !Files.exists(p);
            OutputStream out = Files.newOutputStream(p, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
            if (fresh) {
                Files.setPosixFilePermissions(p, permissions(mode));
            }
            return out;
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    List<SftpClient.Entry> list(String rel, String shown, String instanceDir) {
        Path p = followed(resolve(rel, shown), shown);
        List<SftpClient.Entry> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(p)) {
            for (Path c : (Iterable<Path>) s.sorted(Comparator.comparing(x -> x.getFileName().toString()))::iterator) {
                String name = c.getFileName().toString();
                String childRel = rel.isEmpty() ? name : rel + "/" + name;
                out.add(new SftpClient.Entry(name, stat(childRel, instanceDir + "/" + name, false)));
            }
        } catch (IOException e) {
            throw map(e, shown);
        }
        return out;
    }

    void mkdir(String rel, String shown, int mode) {
        writable(shown);
        try {
            Files.createDirectory(resolve(rel, shown));
            Files.setPosixFilePermissions(root.resolve(rel), permissions(mode));
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    void remove(String rel, String shown, boolean dir) {
        writable(shown);
        if (rel.isEmpty()) {
            throw new BusyException("Device or resource busy: " + ErrorTexts.quote(shown));
        }
        Path p = resolve(rel, shown);
        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) != dir) {
            throw new InvalidArgumentException((dir ? "Not a directory: " : "Is a directory: ") + ErrorTexts.quote(shown));
        }
        try {
            Files.delete(p);
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    void rename(String from, String to, String shownFrom, String shownTo) {
        writable(shownFrom);
        try {
            Files.move(resolve(from, shownFrom), resolve(to, shownTo));
        } catch (IOException e) {
            throw map(e, shownFrom);
        }
    }

    void symlink(String target, String rel, String shown) {
        writable(shown);
        try {
            Files.createSymbolicLink(resolve(rel, shown), Path.of(target));
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    String readlink(String rel, String shown) {
        try {
            return Files.readSymbolicLink(resolve(rel, shown)).toString();
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    void chmod(String rel, String shown, int mode) {
        writable(shown);
        try {
            Files.setPosixFilePermissions(followed(resolve(rel, shown), shown), permissions(mode));
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    void chown(String rel, String shown, int uid, int gid) {
        writable(shown);
        try {
            Path p = followed(resolve(rel, shown), shown);
            Files.setAttribute(p, "unix:uid", uid);
            Files.setAttribute(p, "unix:gid", gid);
        } catch (IOException e) {
            throw map(e, shown);
        }
    }

    private static int mode(Set<PosixFilePermission> perms) {
        int m = 0;
        for (PosixFilePermission p : perms) {
            m |= 0400 >> p.ordinal();
        }
        return m;
    }

    private static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> out = EnumSet.noneOf(PosixFilePermission.class);
        for (PosixFilePermission p : PosixFilePermission.values()) {
            if ((mode & (0400 >> p.ordinal())) != 0) {
                out.add(p);
            }
        }
        return out;
    }

    static IncusException map(IOException e, String shown) {
        String q = ErrorTexts.quote(shown);
        if (e instanceof NoSuchFileException) {
            return new NotFoundException("No such file or directory: " + q);
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
            return new PermissionDeniedException("Permission denied: " + q);
        }
        return new IncusException("Cannot access " + q + ": " + e.getMessage(), e);
    }
}
