package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;

/**
 * File access of a running fake instance with shared folders: a path at or below a {@code disk} device's
 * {@code path} goes to its host directory ({@link HostDirSftp}), anything else to the instance's in-memory tree.
 * Paths are made absolute and normalized first, in the instance's namespace, so {@code ..} never climbs out of a
 * shared folder into the host.
 */
final class MountedSftp implements SftpClient {
    private final SftpClient tree;
    /** Mount point (normalized, no trailing slash) to host directory; longest first. */
    private final List<Map.Entry<String, HostDirSftp>> mounts;

    MountedSftp(SftpClient tree, List<Map.Entry<String, HostDirSftp>> mounts) {
        this.tree = tree;
        this.mounts = mounts.stream()
                .sorted((a, b) -> Integer.compare(b.getKey().length(), a.getKey().length())).toList();
    }

    /** {@code path} made absolute ({@code /} is the working directory) without {@code .}, {@code ..} or {@code //}. */
    static String normalize(String path) {
        if (path == null) {
            throw new InvalidArgumentException("Invalid path: null");
        }
        Deque<String> parts = new ArrayDeque<>();
        for (String s : path.split("/")) {
            if (s.isEmpty() || s.equals(".")) {
                continue;
            }
            if (s.equals("..")) {
                parts.pollLast();
            } else {
                parts.addLast(s);
            }
        }
        return "/" + String.join("/", parts);
    }

    private record Target(HostDirSftp dir, String rel, String path) {
    }

    private Target route(String path) {
        String p = normalize(path);
        for (Map.Entry<String, HostDirSftp> m : mounts) {
            String at = m.getKey();
            if (p.equals(at)) {
                return new Target(m.getValue(), "", p);
            }
            if (p.startsWith(at + "/")) {
                return new Target(m.getValue(), p.substring(at.length() + 1), p);
            }
        }
        return new Target(null, null, p);
    }

    @Override
    public FileAttributes stat(String path) {
        Target t = route(path);
        return t.dir == null ? tree.stat(t.path) : t.dir.stat(t.rel, t.path, true);
    }

    @Override
    public FileAttributes lstat(String path) {
        Target t = route(path);
        return t.dir == null ? tree.lstat(t.path) : t.dir.stat(t.rel, t.path, false);
    }

    @Override
    public InputStream open(String path) {
        Target t = route(path);
        return t.dir == null ? tree.open(t.path) : t.dir.open(t.rel, t.path);
    }

    @Override
    public OutputStream create(String path, int mode) {
        Target t = route(path);
        return t.dir == null ? tree.create(t.path, mode) : t.dir.create(t.rel, t.path, mode);
    }

    @Override
    public List<Entry> list(String dir) {
        Target t = route(dir);
        return t.dir == null ? tree.list(t.path) : t.dir.list(t.rel, t.path, t.path);
    }

    @Override
    public void mkdir(String path, int mode) {
        Target t = route(path);
        if (t.dir == null) {
            tree.mkdir(t.path, mode);
        } else {
            t.dir.mkdir(t.rel, t.path, mode);
        }
    }

    @Override
    public void remove(String path) {
        Target t = route(path);
        if (t.dir == null) {
            tree.remove(t.path);
        } else {
            t.dir.remove(t.rel, t.path, false);
        }
    }

    @Override
    public void rmdir(String path) {
        Target t = route(path);
        if (t.dir == null) {
            tree.rmdir(t.path);
        } else {
            t.dir.remove(t.rel, t.path, true);
        }
    }

    @Override
    public void rename(String from, String to) {
        Target a = route(from);
        Target b = route(to);
        if (a.dir != b.dir) {
            // rename(2) across mounts: EXDEV.
            throw new InvalidArgumentException("Invalid cross-device link: " + ErrorTexts.quote(a.path) + " to "
                    + ErrorTexts.quote(b.path));
        }
        if (a.dir == null) {
            tree.rename(a.path, b.path);
        } else {
            a.dir.rename(a.rel, b.rel, a.path, b.path);
        }
    }

    @Override
    public void symlink(String target, String link) {
        Target t = route(link);
        if (t.dir == null) {
            tree.symlink(target, t.path);
        } else {
            t.dir.symlink(target, t.rel, t.path);
        }
    }

    @Override
    public String readlink(String path) {
        Target t = route(path);
        return t.dir == null ? tree.readlink(t.path) : t.dir.readlink(t.rel, t.path);
    }

    @Override
    public void chmod(String path, int mode) {
        Target t = route(path);
        if (t.dir == null) {
            tree.chmod(t.path, mode);
        } else {
            t.dir.chmod(t.rel, t.path, mode);
        }
    }

    @Override
    public void chown(String path, int uid, int gid) {
        Target t = route(path);
        if (t.dir == null) {
            tree.chown(t.path, uid, gid);
        } else {
            t.dir.chown(t.rel, t.path, uid, gid);
        }
    }

    @Override
    public void close() {
        tree.close();
    }
}
