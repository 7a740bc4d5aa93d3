package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.ImageCompression;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.io.BulkInputStream;
import io.github.incus4j.api.internal.io.NonClosingOutputStream;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.Closeable;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.apache.commons.compress.archivers.tar.TarUtils;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.lzma.LZMACompressorInputStream;
import org.apache.commons.compress.compressors.lzma.LZMACompressorOutputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorOutputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorInputStream;
import org.apache.commons.compress.compressors.zstandard.ZstdCompressorOutputStream;

/**
 * The tar format of Incus images and the compressions Incus writes around it, through Apache Commons Compress
 * (tar, gzip, bzip2), XZ for Java (xz, lzma) and zstd-jni (zstd).
 *
 * <p>Writing produces POSIX ustar headers, with a PAX extended header for whatever ustar cannot hold (long or
 * non-ASCII names and link targets, sizes of 8 GiB and more, large ids, sub-second times), as Incus's Go writer and
 * GNU tar {@code --format=posix} do. Sub-second times are kept to 100 ns (Commons Compress writes seven fractional
 * digits, the precision of the file times of most file systems' tools).
 *
 * <p>Reading accepts ustar, PAX and GNU archives, uncompressed or compressed with gzip, bzip2, xz, lzma or zstd:
 * the compression is told by the stream's magic bytes, never by a file name. On top of the library it keeps this
 * code's guarantees: every header's checksum is verified, an archive must end with its end-of-archive marker (a
 * truncated one is refused), extended headers (PAX, GNU long names) are bounded in size, names are normalised and
 * {@code ..} refused (also in hard link targets). Character and block devices and FIFOs are skipped (an image
 * carries no device nodes); sparse files and unknown entry types are refused rather than unpacked wrongly. Every bad
 * archive is an {@link InvalidArgumentException} naming the problem. Not thread-safe.
 */
@API(status = INTERNAL)
public final class ImageTar {
    private static final int BLOCK = 512;
    /** PAX and GNU long-name payloads are held in memory: a bound keeps a corrupt header from exhausting it. */
    private static final int MAX_META_SIZE = 1 << 20;
    private static final int BUFFER = 64 * 1024;
    private static final String NOT_TAR = "it is not a tar archive, nor one compressed with gzip, bzip2, xz, lzma or"
            + " zstd, nor a squashfs image";

    private ImageTar() {
    }

    /** What an entry is. */
    public enum Kind { FILE, DIRECTORY, SYMLINK, HARDLINK }

    /**
     * One archive entry.
     *
     * @param name relative path with {@code /} separators and no leading {@code /}, e.g. {@code rootfs/etc/hostname};
     *     the empty name is the archive's root directory (written as {@code ./})
     * @param mode permission bits ({@code 07777})
     * @param size content length of a {@link Kind#FILE}, 0 otherwise
     * @param linkTarget the target of a {@link Kind#SYMLINK} (verbatim) or {@link Kind#HARDLINK} (the name of an
     *     earlier entry); empty otherwise
     */
    public record Entry(String name, Kind kind, int mode, long uid, long gid, Instant modified, long size,
            String linkTarget) {
        public Entry {
            linkTarget = linkTarget == null ? "" : linkTarget;
        }
    }

    /** A writer of an uncompressed tar stream to {@code out}; the stream is closed by {@link Writer#close()} only. */
    public static Writer writer(OutputStream out) {
        if (out == null) {
            throw new InvalidArgumentException("No output stream for the tar archive");
        }
        return new Writer(out);
    }

    /** Writes entries in order; {@link #finish()} ends the archive. */
    public static final class Writer implements Closeable {
        private final OutputStream out;
        private final TarArchiveOutputStream tar;
        private final byte[] buffer = new byte[BUFFER];
        private boolean finished;
        /** Set when an entry was cut short: the archive is unusable, so no end marker may make it look complete. */
        private boolean broken;

        private Writer(OutputStream out) {
            this.out = out;
            // Records of one block: no padding of the end to GNU tar's 10 KiB, as Incus's Go writer.
            this.tar = new TarArchiveOutputStream(new NonClosingOutputStream(out), BLOCK);
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            tar.setAddPaxHeadersForNonAsciiNames(true);
        }

        /**
         * Adds an entry; {@code content} (null for anything but a non-empty file) must supply at least
         * {@code e.size()} bytes, of which exactly that many are copied ({@link IncusException} if fewer: the
         * archive is then unusable and gets no end marker). The name is normalised as {@link #read} does
         * ({@code ..} refused); a directory is written with a trailing {@code /}, the root as {@code ./}.
         */
        public void add(Entry e, InputStream content) {
            checkOpen();
            if (e == null || e.kind() == null) {
                throw new InvalidArgumentException("Invalid tar entry: " + e);
            }
            String name = normalise(e.name());
            validate(e, name);
            String link = e.kind() == Kind.HARDLINK ? normalise(e.linkTarget()) : e.linkTarget();
            long size = e.kind() == Kind.FILE ? e.size() : 0;
            if (size > 0 && content == null) {
                throw new InvalidArgumentException("No content for tar entry " + name + " of " + size + " bytes");
            }
            String headerName = name.isEmpty() ? "./" : e.kind() == Kind.DIRECTORY ? name + "/" : name;
            byte flag = switch (e.kind()) {
                case FILE -> TarConstants.LF_NORMAL;
                case HARDLINK -> TarConstants.LF_LINK;
                case SYMLINK -> TarConstants.LF_SYMLINK;
                case DIRECTORY -> TarConstants.LF_DIR;
            };
            // preserveAbsolutePath keeps "./" for the root: the name is already normalised above.
            TarArchiveEntry t = new TarArchiveEntry(headerName, flag, true);
            t.setMode(e.mode());
            t.setUserId(e.uid());
            t.setGroupId(e.gid());
            t.setUserName("");
            t.setGroupName("");
            t.setLastModifiedTime(FileTime.from(e.modified()));

            t.setSize(size);
            if (!link.isEmpty()) {
                t.setLinkName(link);
            }
            try {
                tar.putArchiveEntry(t);
                if (size > 0) {
                    copy(content, size, name);
                }
                tar.closeArchiveEntry();
            } catch (IOException | RuntimeException ex) {
                broken = true;
                if (ex instanceof IncusException ie) {
                    throw ie;
                }
                throw new IncusException("Failed to write tar entry " + name + ": " + ex.getMessage(), ex);
            }
        }

        /** Adds a regular file owned by root, modified now (whole seconds). */
        public void addFile(String name, byte[] content, int mode) {
            byte[] bytes = content == null ? new byte[0] : content;
            add(new Entry(name, Kind.FILE, mode, 0, 0, nowSeconds(), bytes.length, ""),
                    new ByteArrayInputStream(bytes));
        }

        /** Adds a directory owned by root, modified now (whole seconds). */
        public void addDirectory(String name, int mode) {
            add(new Entry(name, Kind.DIRECTORY, mode, 0, 0, nowSeconds(), 0, ""), null);
        }

        /** Writes the end-of-archive marker (two zero blocks) and flushes; the stream stays open. Idempotent. */
        public void finish() {
            if (finished) {
                return;
            }
            if (broken) {
                throw new IncusException("The tar archive is incomplete: an entry failed to write");
            }
            try {
                tar.finish();
                tar.flush();
                finished = true;
            } catch (IOException e) {
                broken = true;
                throw new IncusException("Failed to finish the tar archive: " + e.getMessage(), e);
            }
        }

        /**
         * Finishes the archive (unless an entry failed: the output then stays recognisably truncated) and closes
         * the stream.
         */
        @Override
        public void close() {
            try {
                if (!broken) {
                    finish();
                }
            } finally {
                try {
                    out.close();
                } catch (IOException e) {
                    throw new IncusException("Failed to close the tar archive: " + e.getMessage(), e);
                }
            }
        }

        private void checkOpen() {
            if (finished) {
                throw new IncusException("The tar archive is already finished");
            }
            if (broken) {
                throw new IncusException("The tar archive is incomplete: an entry failed to write");
            }
        }

        private static void validate(Entry e, String name) {
            if ((e.mode() & ~07777) != 0) {
                throw new InvalidArgumentException("Invalid mode " + Integer.toOctalString(e.mode())
                        + " for tar entry " + name + ": only permission bits (07777) are allowed");
            }
            if (e.uid() < 0 || e.gid() < 0) {
                throw new InvalidArgumentException(
                        "Invalid owner " + e.uid() + ":" + e.gid() + " for tar entry " + name);
            }
            if (e.modified() == null) {
                throw new InvalidArgumentException("No modification time for tar entry " + name);
            }
            if (e.kind() == Kind.FILE && e.size() < 0) {
                throw new InvalidArgumentException("Invalid size " + e.size() + " for tar entry " + name);
            }
            if (name.isEmpty() && e.kind() != Kind.DIRECTORY) {
                throw new InvalidArgumentException(
                        "Invalid tar entry: an empty name is only allowed for the root directory");
            }
            if ((e.kind() == Kind.SYMLINK || e.kind() == Kind.HARDLINK) && e.linkTarget().isEmpty()) {
                throw new InvalidArgumentException("No link target for tar entry " + name);
            }
            if (e.linkTarget().indexOf('\0') >= 0) {
                throw new InvalidArgumentException("Invalid link target for tar entry " + name + ": it contains NUL");
            }
        }

        private void copy(InputStream content, long size, String name) throws IOException {
            long left = size;
            while (left > 0) {
                int n;
                try {
                    n = content.read(buffer, 0, (int) Math.min(buffer.length, left));
                } catch (IOException e) {
                    throw new IncusException(
                            "Failed to read the content of tar entry " + name + ": " + e.getMessage(), e);
                }
                if (n < 0) {
                    throw new IncusException("Short content for tar entry " + name + ": expected " + size
                            + " bytes, got " + (size - left));
                }
                tar.write(buffer, 0, n);
                left -= n;
            }
        }
    }

    /** Receives each entry; {@code content} holds exactly {@code e.size()} bytes (none for non-files). */
    @FunctionalInterface
    public interface Visitor {
        void entry(Entry e, InputStream content) throws IOException;
    }

    /**
     * Reads every entry of a tar archive (uncompressed, or compressed with any {@link ImageCompression}, told by
     * its magic bytes) up to its end-of-archive marker; what the visitor leaves unread of an entry is skipped. Names
     * are normalised (leading {@code ./} and {@code /}, empty and {@code .} segments removed; the root directory has
     * the empty name); an entry whose name, or whose hard link target, escapes the archive root through {@code ..}
     * is refused with an {@link InvalidArgumentException} naming it, as are truncated or corrupt archives and
     * squashfs images (which are no stream: see {@link Squashfs}). The stream is not closed.
     */
    public static void read(InputStream in, Visitor visitor) {
        if (in == null || visitor == null) {
            throw new InvalidArgumentException("No input stream or visitor for the tar archive");
        }
        Source source = new Source(in);
        BufferedInputStream buffered = new BufferedInputStream(source, BUFFER);
        ImageCompression compression = ImageCompression.NONE;
        InputStream plain = buffered;
        try {
            compression = detect(buffered);
            plain = decompress(buffered, compression);
            new Reader(plain).run(visitor);
            if (compression != ImageCompression.NONE) {
                // Reading the compressed stream to its end verifies its checksum: corruption inside the tar padding
                // or trailer would otherwise go unnoticed. An uncompressed archive is left at its end marker, as
                // before: a stream (migration) may stay open after it.
                plain.transferTo(OutputStream.nullOutputStream());
            }
        } catch (IOException e) {
            if (source.failure != null) {
                throw new IncusException("Failed to read the tar archive: " + source.failure.getMessage(),
                        source.failure);
            }
            throw new InvalidArgumentException(compression == ImageCompression.NONE
                    ? "Invalid tar archive: " + e.getMessage()
                    : "Invalid tar archive: corrupt " + compression.value() + " stream: " + e.getMessage(), e);
        } finally {
            if (plain != buffered) {
                closeDecompressor(plain);
            }
        }
    }

    /** Frees a decompressor (native memory, the xz tool) early; the caller's stream stays open ({@link Source}). */
    private static void closeDecompressor(InputStream decompressor) {
        try {
            decompressor.close();
        } catch (IOException e) {
            // Nothing was lost: the archive was read, or its failure is being reported.
        }
    }

    // ---- Compression ------------------------------------------------------------------------------------------

    /** The squashfs superblock's magic ({@code hsqs}): a squashfs image, which is read from a file, not a stream. */
    static boolean isSquashfs(byte[] head, int n) {
        return n >= 4 && head[0] == 'h' && head[1] == 's' && head[2] == 'q' && head[3] == 's';
    }

    /**
     * The compression of the stream, told by its first bytes ({@link ImageCompression#NONE} for anything else);
     * the stream must support mark/reset and is left at its start. A squashfs image is refused.
     */
    static ImageCompression detect(InputStream in) throws IOException {
        byte[] head = new byte[6];
        in.mark(head.length);
        int n = in.readNBytes(head, 0, head.length);
        in.reset();
        if (isSquashfs(head, n)) {
            throw new InvalidArgumentException("Invalid tar archive: it is a squashfs image, which is read from a"
                    + " file, not from a stream");
        }
        if (GzipCompressorInputStream.matches(head, n)) {
            return ImageCompression.GZIP;
        }
        if (BZip2CompressorInputStream.matches(head, n)) {
            return ImageCompression.BZIP2;
        }
        if (XZCompressorInputStream.matches(head, n)) {
            return ImageCompression.XZ;
        }
        if (n >= 4 && (head[0] & 0xff) == 0x28 && (head[1] & 0xff) == 0xb5 && (head[2] & 0xff) == 0x2f
                && (head[3] & 0xff) == 0xfd) {
            return ImageCompression.ZSTD;
        }
        // The legacy .lzma format has no magic; its header starts with the properties byte 0x5d and a dictionary
        // size, which is what xz --format=lzma (Incus's lzma) writes. Checked last: it is the weakest signature.
        if (LZMACompressorInputStream.matches(head, n)) {
            return ImageCompression.LZMA;
        }
        return ImageCompression.NONE;
    }

    /** The decompressed content of {@code in}, compressed with {@code c}; concatenated streams are read whole. */
    @SuppressWarnings("deprecation") // the builders replacing these constructors take commons-io types
    static InputStream decompress(InputStream in, ImageCompression c) throws IOException {
        return switch (c) {
            case NONE -> in;
            case GZIP -> new GzipCompressorInputStream(in, true);
            case BZIP2 -> new BZip2CompressorInputStream(in, true);
            case XZ -> {
                InputStream tool = NativeXz.decompress(in);
                yield tool != null ? tool : new XZCompressorInputStream(in, true);
            }
            case LZMA -> new LZMACompressorInputStream(in);
            case ZSTD -> new ZstdCompressorInputStream(in);
            case SQUASHFS -> throw new InvalidArgumentException("Invalid tar archive: a squashfs image is read from a"
                    + " file, not from a stream");
        };
    }

    /**
     * A stream compressing into {@code out} with {@code c} ({@link ImageCompression#NONE}: written as is); closing
     * it finishes the compressed stream and flushes {@code out}, which stays open. The compressor starts at the
     * first byte written: nothing at all reaches {@code out} when nothing is written (gzip, xz and zstd would
     * otherwise write a header at once). {@link ImageCompression#SQUASHFS} collects the tarball in a temporary file
     * and writes the image to {@code out} at the close.
     */
    public static OutputStream compressing(OutputStream out, ImageCompression c) {
        if (out == null || c == null) {
            throw new InvalidArgumentException("No output stream or compression for the image");
        }
        return new Compressing(out, c);
    }

    /**
     * Gives up a stream of {@link #compressing} after a failed export: nothing more reaches its target, which is
     * left unfinished (never a complete-looking image), and a squashfs export's temporary files are deleted.
     * Anything else is left alone.
     */
    public static void abandon(OutputStream compressing) {
        if (compressing instanceof Compressing c) {
            c.abandon();
        }
    }

    /** Starts its compressor at the first write. */
    private static final class Compressing extends OutputStream {
        private final OutputStream target;
        private final ImageCompression compression;
        private OutputStream out;
        private boolean closed;

        Compressing(OutputStream target, ImageCompression compression) {
            this.target = target;
            this.compression = compression;
        }

        private OutputStream started() throws IOException {
            if (closed) {
                throw new IOException("The " + compression.value() + " stream is closed");
            }
            if (out == null) {
                OutputStream shield = new NonClosingOutputStream(target);
                out = switch (compression) {
                    case NONE -> shield;
                    case GZIP -> new GzipCompressorOutputStream(shield);
                    case BZIP2 -> new BZip2CompressorOutputStream(shield);
                    case XZ -> new XZCompressorOutputStream(shield);
                    case LZMA -> new LZMACompressorOutputStream(shield);
                    case ZSTD -> new ZstdCompressorOutputStream(shield);
                    case SQUASHFS -> Squashfs.fromTar(shield);
                };
            }
            return out;
        }

        @Override
        public void write(int b) throws IOException {
            started().write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (len > 0) {
                started().write(b, off, len);
            }
        }

        @Override
        public void flush() throws IOException {
            if (out != null) {
                out.flush();
            }
        }

        @Override
        public void close() throws IOException {
            if (closed) {
                return;
            }
            closed = true;
            if (out != null) {
                out.close();
            }
        }

        void abandon() {
            closed = true;
            if (out instanceof Squashfs.FromTar s) {
                s.abandon();
            }
        }
    }

    /** The caller's stream: remembers its own failures, so that they are not mistaken for a corrupt archive. */
    private static final class Source extends FilterInputStream {
        /** Volatile: the xz tool's feeder thread reads the caller's stream ({@link NativeXz}). */
        volatile IOException failure;

        Source(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            try {
                return in.read();
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            try {
                return in.read(b, off, len);
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        @Override
        public void close() {
            // The caller's stream stays open.
        }
    }

    // ---- Reading ----------------------------------------------------------------------------------------------

    /** One pass over an uncompressed archive. */
    private static final class Reader {
        private final Watch watch;
        private final Tar tar;

        Reader(InputStream in) {
            this.watch = new Watch(in);
            this.tar = new Tar(watch);
        }

        void run(Visitor visitor) throws IOException {
            boolean any = false;
            while (true) {
                TarArchiveEntry t;
                try {
                    t = tar.getNextEntry();
                } catch (IllegalArgumentException e) {
                    throw new IOException(e.getMessage(), e);
                }
                if (t == null) {
                    break;
                }
                any = true;
                String rawName = t.getName();
                Kind kind = kind(t, rawName);
                // Where the next header (or the end marker) must start: after this entry's data and its padding.
                long dataEnd = watch.count + roundUp(t.getSize());
                if (kind == null) {
                    watch.expectEndAt(dataEnd);
                    continue;
                }
                String name = normalise(rawName);
                String link = kind == Kind.HARDLINK ? normalise(t.getLinkName())
                        : kind == Kind.SYMLINK ? t.getLinkName() : "";
                long size = kind == Kind.FILE ? t.getSize() : 0;
                Instant mtime = t.getLastModifiedTime() == null ? Instant.EPOCH
                        : t.getLastModifiedTime().toInstant();
                watch.expectEndAt(dataEnd);
                if (t.getLongUserId() < 0 || t.getLongGroupId() < 0) {
                    // A PAX uid of -1 parses; chown would read it as "leave unchanged".
                    throw new IOException("bad owner " + t.getLongUserId() + ":" + t.getLongGroupId() + " of " + name);
                }
                Entry e = new Entry(name, kind, t.getMode() & 07777, t.getLongUserId(), t.getLongGroupId(), mtime,
                        size, link);
                visitor.entry(e, new Content(tar, size));
            }
            if (!any && watch.count == 0) {
                throw new IOException("it is empty");
            }
            if (!any && !watch.endSeen()) {
                throw new IOException(NOT_TAR + " (" + watch.count + " bytes, no tar header)");
            }
            if (!watch.endSeen()) {
                throw new IOException("truncated at offset " + watch.count + " (no end-of-archive marker)");
            }
        }

        private static Kind kind(TarArchiveEntry t, String name) throws IOException {
            if (t.isSparse()) {
                throw new InvalidArgumentException("Unsupported tar entry " + name + ": sparse file");
            }
            char type = (char) t.getLinkFlag();
            return switch (type) {
                // Pre-POSIX archives mark directories with a trailing slash on a regular-file entry.
                case '0', '\0', '7' -> name.endsWith("/") ? Kind.DIRECTORY : Kind.FILE;
                case '1' -> Kind.HARDLINK;
                case '2' -> Kind.SYMLINK;
                case '5', 'D' -> Kind.DIRECTORY;
                case '3', '4', '6', 'V' -> null;
                default -> throw new InvalidArgumentException(
                        "Unsupported tar entry " + name + ": unknown type '" + printable(type) + "'");
            };
        }
    }

    /**
     * Commons Compress's reader with the checks it leaves to the caller: every header's checksum, and a bound on
     * the extended headers it reads into memory.
     */
    private static final class Tar extends TarArchiveInputStream {
        private final Watch watch;

        Tar(Watch in) {
            super(in, BLOCK);
            this.watch = in;
        }

        @Override
        protected byte[] readRecord() throws IOException {
            long at = watch.count;
            byte[] record = super.readRecord();
            if (record == null || record.length < BLOCK || isEOFRecord(record)) {
                return record;
            }
            if (!TarUtils.verifyCheckSum(record)) {
                // At the start: the data is no tar at all, e.g. an unknown compression.
                throw new IOException(at == 0 ? NOT_TAR + " (bad header checksum at offset 0)"
                        : "bad header checksum at offset " + at);
            }
            char type = (char) record[TarConstants.LF_OFFSET];
            if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
                long size;
                try {
                    size = TarUtils.parseOctalOrBinary(record, TarConstants.NAMELEN + TarConstants.MODELEN
                            + TarConstants.UIDLEN + TarConstants.GIDLEN, TarConstants.SIZELEN);
                } catch (IllegalArgumentException e) {
                    throw new IOException("bad size field in the header at offset " + at, e);
                }
                if (size < 0 || size > MAX_META_SIZE) {
                    throw new IOException("extended header of " + size + " bytes at offset " + at
                            + " is too large");
                }
            }
            return record;
        }
    }

    /**
     * Counts the bytes of the uncompressed archive and watches one block: the one where, after the last entry, the
     * end-of-archive marker must be. Commons Compress treats a stream ending at an entry boundary as a complete
     * archive; an image cut there is not.
     */
    private static final class Watch extends FilterInputStream {
        long count;
        private long endAt;
        private boolean endZero = true;
        private boolean endComplete;

        Watch(InputStream in) {
            super(in);
        }

        void expectEndAt(long offset) {
            endAt = offset;
            endZero = true;
            endComplete = false;
        }

        boolean endSeen() {
            return endComplete && endZero;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                long from = Math.max(count, endAt);
                long to = Math.min(count + n, endAt + BLOCK);
                for (long p = from; p < to; p++) {
                    if (b[off + (int) (p - count)] != 0) {
                        endZero = false;
                    }
                }
                count += n;
                if (count >= endAt + BLOCK) {
                    endComplete = true;
                }
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            // Read rather than skip, so that the watched block is seen.
            long left = n;
            byte[] scratch = new byte[(int) Math.min(BUFFER, Math.max(1, n))];
            while (left > 0) {
                int r = read(scratch, 0, (int) Math.min(scratch.length, left));
                if (r < 0) {
                    break;
                }
                left -= r;
            }
            return n - left;
        }

        @Override
        public boolean markSupported() {
            return false;
        }
    }

    /** An entry's data: at most {@code size} bytes; closing it does nothing (the reader skips the rest). */
    private static final class Content extends BulkInputStream {
        private final InputStream tar;
        private long remaining;

        Content(InputStream tar, long size) {
            this.tar = tar;
            this.remaining = size;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (remaining == 0) {
                return -1;
            }
            if (len == 0) {
                return 0;
            }
            int n = tar.read(b, off, (int) Math.min(len, remaining));
            if (n < 0) {
                throw new IOException("Truncated TAR archive");
            }
            remaining -= n;
            return n;
        }

        @Override
        public int available() throws IOException {
            return (int) Math.min(remaining, tar.available());
        }
    }

    private static long roundUp(long size) {
        long rest = size % BLOCK;
        return rest == 0 ? size : size + BLOCK - rest;
    }

    private static String printable(char c) {
        return c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\x%02x", (int) c);
    }

    private static Instant nowSeconds() {
        return Instant.ofEpochSecond(Instant.now().getEpochSecond());
    }

    /**
     * The canonical form of an entry name: {@code /}-separated segments with no empty or {@code .} segment and no
     * leading or trailing {@code /}; the root directory is {@code ""}. A {@code ..} segment is refused: extracting
     * it would write outside the target directory.
     */
    static String normalise(String raw) {
        if (raw == null) {
            throw new InvalidArgumentException("Invalid tar entry: no name");
        }
        if (raw.indexOf('\0') >= 0) {
            throw new InvalidArgumentException(
                    "Invalid tar entry name \"" + raw.replace('\0', '?') + "\": it contains NUL");
        }
        List<String> segments = new ArrayList<>();
        for (String s : raw.split("/")) {
            if (s.equals("..")) {
                throw new InvalidArgumentException(
                        "Invalid tar entry name \"" + raw + "\": it escapes the archive root");
            }
            if (!s.isEmpty() && !s.equals(".")) {
                segments.add(s);
            }
        }
        return String.join("/", segments);
    }
}
