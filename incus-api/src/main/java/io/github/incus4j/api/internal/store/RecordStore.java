package io.github.incus4j.api.internal.store;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.apiguardian.api.API;

/**
 * Crash-safe files for drivers' records ({@code backup.yaml} and the like). {@link #writeAtomically} never leaves a
 * torn file: after a crash at any point the file holds either its previous content or the new one in full. At most a
 * temporary {@code .<name>.<random>.tmp} is left behind in the same directory, which {@link #cleanTemporaryFiles}
 * removes (call it when opening the directory, before anything writes to it).
 *
 * <p>The sequence is the classic one: write a temporary file in the same directory, {@code fsync} it, rename it over
 * the target ({@code rename(2)} is atomic), then {@code fsync} the directory so that the rename itself is durable.
 * Concurrent writers of the same file must be serialised by the caller; the last rename wins.
 */
@API(status = INTERNAL)
public final class RecordStore {
    private static final String TMP_PREFIX = ".";
    private static final String TMP_SUFFIX = ".tmp";
    private static final boolean WINDOWS =
            System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows");

    private RecordStore() {
    }

    /**
     * Replaces {@code file}'s content with {@code content}, atomically and durably; creates the parent directories
     * if needed. A replaced file keeps its POSIX permissions; a new one is created readable by its owner only.
     *
     * @throws IncusException naming the file, when anything fails (the previous content is then intact and
     *     the temporary file removed)
     */
    public static void writeAtomically(Path file, byte[] content) {
        writeAtomically(file, content, true, () -> { });
    }

    /**
     * {@link #writeAtomically(Path, byte[])}, with the fsyncs only when {@code sync}: without them the replacement
     * is still atomic for readers and survives a crash of the process, but not a crash of the machine (what a test
     * driver such as the fake needs, at a fraction of the cost).
     */
    public static void writeAtomically(Path file, byte[] content, boolean sync) {
        writeAtomically(file, content, sync, () -> { });
    }

    /** {@link #writeAtomically(Path, byte[])} with a hook run between the synced temporary write and the rename. */
    static void writeAtomically(Path file, byte[] content, Runnable beforeRename) {
        writeAtomically(file, content, true, beforeRename);
    }

    private static void writeAtomically(Path file, byte[] content, boolean sync, Runnable beforeRename) {
        Objects.requireNonNull(content, "content");
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, TMP_PREFIX + target.getFileName() + ".", TMP_SUFFIX);
            keepPermissions(target, tmp);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(content);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                if (sync) {
                    ch.force(true);
                }
            }
            beforeRename.run();
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            tmp = null;
            if (sync) {
                syncDirectory(dir);
            }
        } catch (IOException e) {
            throw new IncusException("Failed to write " + target + ": " + describe(e), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // cleanTemporaryFiles removes it at the next open.
                }
            }
        }
    }

    /** The content of {@code file}, or empty when it does not exist. */
    public static Optional<byte[]> read(Path file) {
        try {
            return Optional.of(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new IncusException("Failed to read " + file.toAbsolutePath() + ": " + describe(e), e);
        }
    }

    /**
     * Removes the temporary files ({@code .*.tmp}) an interrupted {@link #writeAtomically} left in {@code dir} (not
     * in its subdirectories). A missing directory is fine. Do not call it while a write into {@code dir} is running.
     */
    public static void cleanTemporaryFiles(Path dir) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, RecordStore::isTemporary)) {
            for (Path p : entries) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new IncusException("Failed to clean temporary files in " + dir.toAbsolutePath() + ": "
                    + describe(e), e);
        }
    }

    private static boolean isTemporary(Path p) {
        String n = p.getFileName().toString();
        return n.startsWith(TMP_PREFIX) && n.endsWith(TMP_SUFFIX) && n.length() > TMP_PREFIX.length()
                + TMP_SUFFIX.length() && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS);
    }

    /** A replaced file keeps its mode: the temporary file was created owner-only. */
    private static void keepPermissions(Path target, Path tmp) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(target, PosixFileAttributeView.class);
        if (view == null) {
            return;
        }
        Set<PosixFilePermission> perms;
        try {
            perms = view.readAttributes().permissions();
        } catch (NoSuchFileException e) {
            return;
        }
        Files.setPosixFilePermissions(tmp, perms);
    }

    /**
     * Makes the rename durable. Windows cannot open a directory as a channel; that, and only that, is ignored.
     */
    private static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            if (!WINDOWS) {
                throw new IOException("cannot sync directory " + dir + ": " + describe(e), e);
            }
        }
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        String kind = e.getClass().getSimpleName();
        return m == null ? kind : kind + ": " + m;
    }
}
