package io.github.incus4j.api.internal.image;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Squashfs images through squashfs-tools ({@code unsquashfs}, {@code mksquashfs}), as Incus itself handles them: no
 * maintained JVM library reads squashfs. Each tool runs as a child process (spawned, the JVM is not forked) with a
 * timeout; its output goes to files, so that no pipe can fill up and block it.
 */
final class Squashfs {
    private static final System.Logger LOG = System.getLogger(Squashfs.class.getName());
    /** Listing and reading one file of an image. */
    private static final Duration SHORT = Duration.ofMinutes(2);
    /** Unpacking or packing a whole root filesystem. */
    private static final Duration LONG = Duration.ofMinutes(30);
    private static final String ROOT = "squashfs-root";

    private Squashfs() {
    }

    /** Whether {@code file} starts with the squashfs magic {@code hsqs}. */
    static boolean isSquashfs(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(4);
            return ImageTar.isSquashfs(head, head.length);
        } catch (IOException e) {
            throw new IncusException("Cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** The paths in the image, relative to its root ({@code rootfs/etc/hostname}); the root itself is left out. */
    static List<String> list(Path image) {
        byte[] out = run(List.of("unsquashfs", "-n", "-d", ROOT, "-l", image.toString()), SHORT, image);
        List<String> names = new ArrayList<>();
        for (String line : new String(out, StandardCharsets.UTF_8).split("\n")) {
            if (line.startsWith(ROOT + "/")) {
                names.add(line.substring(ROOT.length() + 1));
            }
        }
        return names;
    }

    /** The content of the regular file {@code name} (relative to the image's root). */
    static byte[] read(Path image, String name) {
        return run(List.of("unsquashfs", "-n", "-no-wildcards", "-cat", image.toString(), name), SHORT, image);
    }

    /**
     * Unpacks the image (or only its {@code subdirectory}, when not null) into {@code target}, which must not
     * exist. unsquashfs itself refuses names escaping the target (it checks every name since 4.5.1); the caller
     * walks the result without following links. As root, owners, modes and device nodes are restored; otherwise
     * owners are the JVM's user and device nodes are skipped (unsquashfs reports them as non-fatal errors).
     */
    static void unpack(Path image, String subdirectory, Path target) {
        List<String> cmd = new ArrayList<>(List.of("unsquashfs", "-n", "-no-wildcards", "-d", target.toString()));
        boolean root = isRoot();
        if (!root) {
            cmd.add("-no-xattrs");
        }
        cmd.add(image.toString());
        if (subdirectory != null) {
            cmd.add(subdirectory);
        }
        run(cmd, LONG, image, root ? 0 : 2);
    }

    /** Packs {@code directory} into a new squashfs image {@code image} (xz-compressed, as Incus's exports). */
    static void pack(Path directory, Path image) {
        run(List.of("mksquashfs", directory.toString(), image.toString(), "-noappend", "-no-progress", "-comp",
                "xz"), LONG, image);
    }

    /**
     * A stream taking a tarball and writing, at its close, the squashfs image of its content to {@code target}
     * (which stays open): {@code tar2sqfs --no-skip --force --compressor xz}, as Incus's {@code compressFile}. tar2sqfs
     * writes to a file only, and reads the tarball from a file here too, so that a stalled tool cannot block a
     * writer on a full pipe: its whole run is bounded.
     */
    static FromTar fromTar(OutputStream target) throws IOException {
        return new FromTar(target);
    }

    /** See {@link #fromTar}. */
    static final class FromTar extends OutputStream {
        private final OutputStream target;
        private final Path tar;
        private final OutputStream buffer;
        private boolean done;

        private FromTar(OutputStream target) throws IOException {
            this.target = target;
            this.tar = Files.createTempFile("incus4j-export", ".tar");
            try {
                this.buffer = new BufferedOutputStream(Files.newOutputStream(tar), 1 << 16);
            } catch (IOException e) {
                deleteQuietly(tar);
                throw e;
            }
        }

        @Override
        public void write(int b) throws IOException {
            buffer.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            buffer.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            if (done) {
                return;
            }
            done = true;
            Path image = tar.resolveSibling(tar.getFileName() + ".squashfs");
            try {
                buffer.close();
                run(List.of("tar2sqfs", "--no-skip", "--force", "--quiet", "--compressor", "xz", image.toString()),
                        LONG, tar, tar, 0, "squashfs-tools-ng");
                Files.copy(image, target);
                target.flush();
            } finally {
                deleteQuietly(tar);
                deleteQuietly(image);
            }
        }

        /** Deletes the temporary tarball; nothing reaches the target. */
        void abandon() {
            if (!done) {
                done = true;
                try {
                    buffer.close();
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.DEBUG, "Cannot close {0}: {1}", tar, e.getMessage());
                }
                deleteQuietly(tar);
            }
        }
    }

    /** Whether the JVM runs as root: only root can restore owners and make device nodes. */
    static boolean isRoot() {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).intValue() == 0;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }

    private static byte[] run(List<String> cmd, Duration timeout, Path image) {
        return run(cmd, timeout, image, 0);
    }

    private static byte[] run(List<String> cmd, Duration timeout, Path image, int toleratedExit) {
        return run(cmd, timeout, image, null, toleratedExit, "squashfs-tools");
    }

    /**
     * Runs {@code cmd} with {@code input} (null: nothing) as its standard input; its standard output, or an error
     * naming the image and the tool's message ({@code pkg}: the package to install when the tool is missing).
     */
    private static byte[] run(List<String> cmd, Duration timeout, Path image, Path input, int toleratedExit,
            String pkg) {
        Path out = null;
        Path err = null;
        try {
            out = Files.createTempFile("incus4j-squashfs", ".out");
            err = Files.createTempFile("incus4j-squashfs", ".err");
            Process p;
            try {
                p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(
                        (input == null ? Path.of("/dev/null") : input).toFile()))
                        .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            } catch (IOException e) {
                throw new NotSupportedException("Cannot run " + cmd.get(0) + " for the squashfs image " + image
                        + ": install " + pkg + " (" + e.getMessage() + ")");
            }
            boolean done;
            try {
                done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted while running " + cmd.get(0) + " on " + image, e);
            }
            if (!done) {
                p.destroyForcibly();
                throw new OperationTimeoutException(cmd.get(0) + " did not finish within " + timeout.toMinutes()
                        + " minutes on " + image);
            }
            String message = Files.readString(err, StandardCharsets.UTF_8).strip();
            int exit = p.exitValue();
            if (exit != 0 && exit != toleratedExit) {
                String failed = cmd.get(0) + " failed (exit " + exit + ")" + (message.isEmpty() ? "" : ": " + message);
                if (input != null) {
                    // Making an image of our own tarball: a tool failure, not bad input.
                    throw new IncusException("Cannot make the squashfs image: " + failed);
                }
                throw new InvalidArgumentException("Invalid squashfs image " + ErrorTexts.quote(image.toString()) + ": "
                        + failed);
            }
            if (exit != 0) {
                LOG.log(System.Logger.Level.DEBUG, "{0} on {1}: {2}", cmd.get(0), image, message);
            }
            return Files.readAllBytes(out);
        } catch (IOException e) {
            throw new IncusException("Cannot run " + cmd.get(0) + " on " + image + ": " + e.getMessage(), e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "Cannot delete {0}: {1}", p, e.getMessage());
            }
        }
    }
}
