package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.model.IdmapSet;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Root filesystem trees on the host: copies that keep everything a container needs (owners, modes, device nodes,
 * hard links, extended attributes), id shifting between the container's view and the host's, and disk usage.
 */
final class Trees {
    private static final Duration COPY_TIMEOUT = Duration.ofMinutes(10);
    private static final int SETID_BITS = 06000;

    private Trees() {
    }

    /**
     * Copies the directory {@code from} to the new path {@code to} with {@code cp -a} (spawned, not forked from the
     * JVM): Java's file copy handles neither device nodes nor hard links.
     */
    static void copy(Path from, Path to) {
        try {
            Files.createDirectories(to.getParent());
            Path log = Files.createTempFile("incus4j-lxc-cp-", ".log");
            try {
                Process p = new ProcessBuilder("cp", "-a", "--", from.toString(), to.toString())
                        .redirectInput(new File("/dev/null")).redirectErrorStream(true)
                        .redirectOutput(log.toFile()).start();
                if (!p.waitFor(COPY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly();
                    throw new OperationTimeoutException("Copying " + from + " to " + to + " took more than "
                            + COPY_TIMEOUT.toMinutes() + " minutes");
                }
                if (p.exitValue() != 0) {
                    throw new IncusException("Failed to copy " + from + " to " + to + ": "
                            + Files.readString(log, StandardCharsets.UTF_8).strip());
                }
            } finally {
                Files.deleteIfExists(log);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot copy " + from + " to " + to, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while copying " + from, e);
        }
    }

    /**
     * Rewrites the owner of every file under {@code dir} (symlinks themselves, not their targets): with
     * {@code intoHost} from the container's ids to the host's through {@code map}, else back. Set-id bits, which the
     * kernel clears on chown, are restored. Hard-linked files are shifted once.
     */
    static void shift(Path dir, IdmapSet map, boolean intoHost) {
        java.util.Set<Object> seen = new java.util.HashSet<>();
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                    shiftOne(d);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                    Object key = attrs.fileKey();
                    if (key != null && attrs.isRegularFile() && !seen.add(key)) {
                        return FileVisitResult.CONTINUE;
                    }
                    shiftOne(f);
                    return FileVisitResult.CONTINUE;
                }

                private void shiftOne(Path p) throws IOException {
                    int uid = (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
                    int gid = (Integer) Files.getAttribute(p, "unix:gid", LinkOption.NOFOLLOW_LINKS);
                    int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
                    long[] ids = intoHost ? map.shiftFromNs(uid, gid) : map.shiftIntoNs(uid, gid);
                    if (ids[0] == uid && ids[1] == gid) {
                        return;
                    }
                    Files.setAttribute(p, "unix:uid", (int) ids[0], LinkOption.NOFOLLOW_LINKS);
                    Files.setAttribute(p, "unix:gid", (int) ids[1], LinkOption.NOFOLLOW_LINKS);
                    if ((mode & SETID_BITS) != 0 && !Files.isSymbolicLink(p)) {
                        Files.setAttribute(p, "unix:mode", mode & 07777, LinkOption.NOFOLLOW_LINKS);
                    }
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot shift the ids of " + dir, e);
        }
    }

    /** The apparent size of the files under {@code dir} (hard links counted once), 0 if missing. */
    static long usage(Path dir) {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        long[] total = {0};
        java.util.Set<Object> seen = new java.util.HashSet<>();
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                    Object key = attrs.fileKey();
                    if (key == null || seen.add(key)) {
                        total[0] += attrs.isSymbolicLink() ? 0 : attrs.size();
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path f, IOException e) {
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot measure " + dir, e);
        }
        return total[0];
    }

    /** The lines of a small text file, empty when it cannot be read (a process or cgroup that went away). */
    static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return List.of();
        }
    }
}
