package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.DateTimeException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;
import org.apiguardian.api.API;

/**
 * The tar format of Incus images, written and read without a third-party library.
 *
 * <p>Writing produces POSIX ustar headers; whatever ustar cannot hold (names or link targets over 100 bytes or not
 * ASCII, sizes of 8 GiB and more, ids above 2097151, sub-second or pre-1970 times) goes in a PAX extended header
 * ({@code x}) before the entry, as Incus's Go writer and GNU tar {@code --format=posix} do: PAX is the one extension
 * every tar reader understands and it carries exact values, where ustar's name prefix split would still fail on
 * long file names. Output is uncompressed; wrap the stream in a {@code GZIPOutputStream} for a {@code .tar.gz}.
 *
 * <p>Reading accepts ustar, PAX (local and global headers) and GNU archives (long names {@code L}/{@code K}, base-256
 * numbers), gzip-compressed or not (detected by the magic bytes {@code 1f 8b}). Character and block devices and
 * FIFOs are skipped (an image carries no device nodes; sockets cannot be archived at all); GNU sparse files and
 * unknown entry types are refused rather than unpacked wrongly. Every bad archive is an
 * {@link InvalidArgumentException} naming the problem. Not thread-safe.
 */
@API(status = INTERNAL)
public final class ImageTar {
    private static final int BLOCK = 512;
    /** The largest value of a 12-byte octal field (size, mtime): 11 digits. */
    private static final long MAX_OCTAL_12 = 077777777777L;
    /** The largest value of an 8-byte octal field (mode, uid, gid): 7 digits. */
    private static final long MAX_OCTAL_8 = 07777777L;
    /** PAX and GNU long-name payloads are held in memory: a bound keeps a corrupt header from exhausting it. */
    private static final int MAX_META_SIZE = 1 << 20;

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
        private final byte[] buffer = new byte[64 * 1024];
        private boolean finished;
        /** Set when an entry was cut short: the archive is unusable, so no end marker may make it look complete. */
        private boolean broken;

        private Writer(OutputStream out) {
            this.out = out;
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
            String link = e.linkTarget();
            validate(e, name);
            if (e.kind() == Kind.HARDLINK) {
                link = normalise(link);
            }
            long size = e.kind() == Kind.FILE ? e.size() : 0;
            String headerName = name.isEmpty() ? "./" : e.kind() == Kind.DIRECTORY ? name + "/" : name;
            try {
                writeHeaders(headerName, e, size, link);
                if (size > 0) {
                    copy(content, size, name);
                }
                pad(size);
            } catch (IOException ex) {
                broken = true;
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
                out.write(new byte[2 * BLOCK]);
                out.flush();
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
                closeStream();
            }
        }

        private void closeStream() {
            try {
                out.close();
            } catch (IOException e) {
                throw new IncusException("Failed to close the tar archive: " + e.getMessage(), e);
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

        private void writeHeaders(String name, Entry e, long size, String link) throws IOException {
            Instant t = e.modified();
            Map<String, String> pax = new LinkedHashMap<>();
            if (!fitsUstar(name)) {
                pax.put("path", name);
            }
            if (!fitsUstar(link)) {
                pax.put("linkpath", link);
            }
            if (size > MAX_OCTAL_12) {
                pax.put("size", Long.toString(size));
            }
            if (e.uid() > MAX_OCTAL_8) {
                pax.put("uid", Long.toString(e.uid()));
            }
            if (e.gid() > MAX_OCTAL_8) {
                pax.put("gid", Long.toString(e.gid()));
            }
            long seconds = Math.max(0, Math.min(MAX_OCTAL_12, t.getEpochSecond()));
            if (t.getNano() != 0 || seconds != t.getEpochSecond()) {
                pax.put("mtime", formatPaxTime(t));
            }
            if (!pax.isEmpty()) {
                byte[] data = paxData(pax);
                String paxName = "PaxHeaders/" + baseName(name);
                out.write(header(paxName, 'x', 0644, 0, 0, seconds, data.length, ""));
                out.write(data);
                pad(data.length);
            }
            char type = switch (e.kind()) {
                case FILE -> '0';
                case HARDLINK -> '1';
                case SYMLINK -> '2';
                case DIRECTORY -> '5';
            };
            out.write(header(name, type, e.mode(), e.uid(), e.gid(), seconds, size, link));
        }

        private void copy(InputStream content, long size, String name) throws IOException {
            if (content == null) {
                throw new InvalidArgumentException("No content for tar entry " + name + " of " + size + " bytes");
            }
            long left = size;
            while (left > 0) {
                int n;
                try {
                    n = content.read(buffer, 0, (int) Math.min(buffer.length, left));
                } catch (IOException e) {
                    broken = true;
                    throw new IncusException(
                            "Failed to read the content of tar entry " + name + ": " + e.getMessage(), e);
                }
                if (n < 0) {
                    broken = true;
                    throw new IncusException("Short content for tar entry " + name + ": expected " + size
                            + " bytes, got " + (size - left));
                }
                out.write(buffer, 0, n);
                left -= n;
            }
        }

        private void pad(long size) throws IOException {
            int rest = (int) (size % BLOCK);
            if (rest != 0) {
                out.write(new byte[BLOCK - rest]);
            }
        }
    }

    /** Receives each entry; {@code content} holds exactly {@code e.size()} bytes (none for non-files). */
    @FunctionalInterface
    public interface Visitor {
        void entry(Entry e, InputStream content) throws IOException;
    }

    /**
     * Reads every entry of a tar archive (gzip-compressed or not) up to its end-of-archive marker; what the visitor
     * leaves unread of an entry is skipped. Names are normalised (leading {@code ./} and {@code /}, empty and
     * {@code .} segments removed; the root directory has the empty name); an entry whose name, or whose hard link
     * target, escapes the archive root through {@code ..} is refused with an {@link InvalidArgumentException} naming
     * it, as are truncated or corrupt archives. The stream is not closed.
     */
    public static void read(InputStream in, Visitor visitor) {
        if (in == null || visitor == null) {
            throw new InvalidArgumentException("No input stream or visitor for the tar archive");
        }
        try {
            BufferedInputStream buffered = new BufferedInputStream(in, 64 * 1024);
            buffered.mark(2);
            int b1 = buffered.read();
            int b2 = buffered.read();
            buffered.reset();
            if (b1 == 0x1f && b2 == 0x8b) {
                GZIPInputStream gzip = new GZIPInputStream(buffered, 64 * 1024);
                new Reader(gzip).run(visitor);
                // Reading the gzip stream to its end verifies its CRC: corruption inside the tar padding or
                // trailer would otherwise go unnoticed.
                byte[] scratch = new byte[8192];
                while (gzip.read(scratch) >= 0) {
                    // drain
                }
            } else {
                new Reader(buffered).run(visitor);
            }
        } catch (ZipException | EOFException e) {
            throw new InvalidArgumentException("Invalid tar archive: corrupt gzip stream: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new IncusException("Failed to read the tar archive: " + e.getMessage(), e);
        }
    }

    /** One pass over an uncompressed archive. */
    private static final class Reader {
        private final InputStream in;
        private final byte[] scratch = new byte[64 * 1024];
        private long position;

        Reader(InputStream in) {
            this.in = in;
        }

        void run(Visitor visitor) throws IOException {
            byte[] header = new byte[BLOCK];
            Map<String, String> global = new HashMap<>();
            Map<String, String> local = new HashMap<>();
            String longName = null;
            String longLink = null;
            while (true) {
                long at = position;
                if (!readBlock(header)) {
                    throw new InvalidArgumentException(at == 0 ? "Invalid tar archive: it is empty"
                            : "Invalid tar archive: truncated at offset " + at + " (no end-of-archive marker)");
                }
                if (isZero(header)) {
                    return;
                }
                verifyChecksum(header, at);
                char type = (char) header[156];
                String headerName = ustarName(header);
                long size = number(header, 124, 12, "size", headerName);
                switch (type) {
                    case 'x' -> {
                        local.putAll(parsePax(readPayload(size, headerName), headerName));
                        continue;
                    }
                    case 'g' -> {
                        global.putAll(parsePax(readPayload(size, headerName), headerName));
                        continue;
                    }
                    case 'L' -> {
                        longName = cString(readPayload(size, headerName));
                        continue;
                    }
                    case 'K' -> {
                        longLink = cString(readPayload(size, headerName));
                        continue;
                    }
                    default -> {
                        // An actual entry: handled below.
                    }
                }
                Map<String, String> pax = new HashMap<>(global);
                pax.putAll(local);
                local.clear();
                String rawName = firstNonEmpty(paxValue(pax, "path"), longName, headerName);
                String rawLink = firstNonEmpty(paxValue(pax, "linkpath"), longLink, cString(header, 157, 100));
                longName = null;
                longLink = null;
                if (paxValue(pax, "size") != null) {
                    size = paxNumber(paxValue(pax, "size"), "size", rawName);
                }
                Kind kind = kind(type, rawName, pax);
                if (kind == null) {
                    skip(size, rawName);
                    continue;
                }
                String name = normalise(rawName);
                String link = kind == Kind.HARDLINK ? normalise(rawLink)
                        : kind == Kind.SYMLINK ? rawLink : "";
                long uid = paxValue(pax, "uid") != null
                        ? paxNumber(paxValue(pax, "uid"), "uid", name) : number(header, 108, 8, "uid", name);
                long gid = paxValue(pax, "gid") != null
                        ? paxNumber(paxValue(pax, "gid"), "gid", name) : number(header, 116, 8, "gid", name);
                Instant mtime = paxValue(pax, "mtime") != null
                        ? parsePaxTime(paxValue(pax, "mtime"), name)
                        : Instant.ofEpochSecond(number(header, 136, 12, "mtime", name));
                int mode = (int) (number(header, 100, 8, "mode", name) & 07777);
                long contentSize = kind == Kind.FILE ? size : 0;
                Content content = new Content(contentSize, name);
                visitor.entry(new Entry(name, kind, mode, uid, gid, mtime, contentSize, link), content);
                // Non-files normally carry no data, but a header may still declare some: skip it all.
                skip(content.remaining + (size - contentSize), name);
            }
        }

        private Kind kind(char type, String name, Map<String, String> pax) {
            for (String key : pax.keySet()) {
                if (key.startsWith("GNU.sparse.")) {
                    throw new InvalidArgumentException("Unsupported tar entry " + name + ": GNU sparse file");
                }
            }
            return switch (type) {
                // Pre-POSIX archives mark directories with a trailing slash on a regular-file entry.
                case '0', '\0', '7' -> name.endsWith("/") ? Kind.DIRECTORY : Kind.FILE;
                case '1' -> Kind.HARDLINK;
                case '2' -> Kind.SYMLINK;
                case '5', 'D' -> Kind.DIRECTORY;
                case '3', '4', '6', 'V' -> null;
                case 'S' -> throw new InvalidArgumentException("Unsupported tar entry " + name + ": GNU sparse file");
                default -> throw new InvalidArgumentException(
                        "Unsupported tar entry " + name + ": unknown type '" + printable(type) + "'");
            };
        }

        /** Reads one block; false at a clean end of stream, an exception when the stream ends inside it. */
        private boolean readBlock(byte[] block) throws IOException {
            int got = 0;
            while (got < BLOCK) {
                int n = in.read(block, got, BLOCK - got);
                if (n < 0) {
                    if (got == 0) {
                        return false;
                    }
                    throw truncated("a header");
                }
                got += n;
            }
            position += BLOCK;
            return true;
        }

        private byte[] readPayload(long size, String name) throws IOException {
            if (size < 0 || size > MAX_META_SIZE) {
                throw new InvalidArgumentException("Invalid tar archive: extended header of " + size
                        + " bytes before " + name + " is too large");
            }
            byte[] data = new byte[(int) size];
            int got = 0;
            while (got < data.length) {
                int n = in.read(data, got, data.length - got);
                if (n < 0) {
                    throw truncated("the extended header before " + name);
                }
                got += n;
            }
            position += size;
            skip(0, name);
            return data;
        }

        /** Skips {@code n} bytes of entry data and the block padding after it. */
        private void skip(long n, String name) throws IOException {
            // Entry data starts block-aligned; the padding after its last byte rounds up to the next block.
            long left = n + padding(position + n);
            while (left > 0) {
                int r = in.read(scratch, 0, (int) Math.min(scratch.length, left));
                if (r < 0) {
                    throw truncated("the data of " + name);
                }
                left -= r;
                position += r;
            }
        }

        private InvalidArgumentException truncated(String what) {
            return new InvalidArgumentException("Invalid tar archive: truncated in " + what + " at offset " + position);
        }

        /** An entry's data: at most {@code remaining} bytes; closing it does nothing (the reader skips the rest). */
        private final class Content extends InputStream {
            long remaining;
            private final String name;

            Content(long size, String name) {
                this.remaining = size;
                this.name = name;
            }

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (remaining == 0) {
                    return -1;
                }
                if (len == 0) {
                    return 0;
                }
                int n = in.read(b, off, (int) Math.min(len, remaining));
                if (n < 0) {
                    throw truncated("the data of " + name);
                }
                remaining -= n;
                position += n;
                return n;
            }

            @Override
            public int available() throws IOException {
                return (int) Math.min(Math.min(remaining, Integer.MAX_VALUE), in.available());
            }
        }
    }

    // ---- Header encoding --------------------------------------------------------------------------------------

    private static byte[] header(String name, char type, long mode, long uid, long gid, long mtime, long size,
            String link) {
        byte[] h = new byte[BLOCK];
        putString(h, 0, 100, name);
        putOctal(h, 100, 8, mode);
        putOctal(h, 108, 8, Math.min(uid, MAX_OCTAL_8));
        putOctal(h, 116, 8, Math.min(gid, MAX_OCTAL_8));
        putOctal(h, 124, 12, Math.min(size, MAX_OCTAL_12));
        putOctal(h, 136, 12, mtime);
        h[156] = (byte) type;
        putString(h, 157, 100, link);
        System.arraycopy("ustar\0".getBytes(UTF_8), 0, h, 257, 6);
        h[263] = '0';
        h[264] = '0';
        // Devices are never written: devmajor/devminor stay zero like GNU tar leaves them for other types.
        putOctal(h, 329, 8, 0);
        putOctal(h, 337, 8, 0);
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        byte[] digits = String.format("%06o", sum).getBytes(UTF_8);
        System.arraycopy(digits, 0, h, 148, 6);
        h[154] = 0;
        h[155] = ' ';
        return h;
    }

    /** A ustar text field holds the string when it is ASCII and fits (the PAX header carries it otherwise). */
    private static boolean fitsUstar(String s) {
        if (s.length() > 100) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == 0 || c > 0x7e) {
                return false;
            }
        }
        return true;
    }

    /** Writes an ASCII rendering of {@code s}, cut to the field: only a fallback when a PAX record holds the value. */
    private static void putString(byte[] h, int off, int len, String s) {
        for (int i = 0; i < Math.min(len, s.length()); i++) {
            char c = s.charAt(i);
            h[off + i] = (byte) (c > 0 && c <= 0x7e ? c : '_');
        }
    }

    private static void putOctal(byte[] h, int off, int len, long value) {
        String digits = Long.toOctalString(value);
        int width = len - 1;
        for (int i = 0; i < width; i++) {
            int from = digits.length() - width + i;
            h[off + i] = (byte) (from < 0 ? '0' : digits.charAt(from));
        }
        h[off + width] = 0;
    }

    private static byte[] paxData(Map<String, String> records) {
        StringBuilder all = new StringBuilder();
        for (Map.Entry<String, String> r : records.entrySet()) {
            // "<length> <key>=<value>\n" where length counts itself: grow it until the digit count is stable.
            String body = " " + r.getKey() + "=" + r.getValue() + "\n";
            int bodyLength = body.getBytes(UTF_8).length;
            int length = bodyLength + 1;
            while (length != bodyLength + Integer.toString(length).length()) {
                length = bodyLength + Integer.toString(length).length();
            }
            all.append(length).append(body);
        }
        return all.toString().getBytes(UTF_8);
    }

    private static String formatPaxTime(Instant t) {
        return new BigDecimal(t.getEpochSecond()).add(BigDecimal.valueOf(t.getNano(), 9))
                .stripTrailingZeros().toPlainString();
    }

    private static String baseName(String name) {
        String n = name.endsWith("/") ? name.substring(0, name.length() - 1) : name;
        return n.substring(n.lastIndexOf('/') + 1);
    }

    private static Instant nowSeconds() {
        return Instant.ofEpochSecond(Instant.now().getEpochSecond());
    }

    // ---- Header decoding --------------------------------------------------------------------------------------

    private static void verifyChecksum(byte[] h, long at) {
        long stored = number(h, 148, 8, "checksum", "header at offset " + at);
        long unsigned = 0;
        long signed = 0;
        for (int i = 0; i < BLOCK; i++) {
            int b = i >= 148 && i < 156 ? ' ' : h[i];
            unsigned += b & 0xff;
            signed += b;
        }
        // Some historic writers summed signed bytes; both are accepted, as GNU tar does.
        if (stored != unsigned && stored != signed) {
            throw new InvalidArgumentException("Invalid tar archive: bad header checksum at offset " + at);
        }
    }

    private static String ustarName(byte[] h) {
        String name = cString(h, 0, 100);
        // Only POSIX ustar has a name prefix; GNU archives keep other fields at those bytes.
        boolean posix = h[257] == 'u' && h[258] == 's' && h[259] == 't' && h[260] == 'a' && h[261] == 'r'
                && h[262] == 0;
        String prefix = posix ? cString(h, 345, 155) : "";
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    private static String cString(byte[] h, int off, int len) {
        int end = off;
        while (end < off + len && h[end] != 0) {
            end++;
        }
        return new String(h, off, end - off, UTF_8);
    }

    private static String cString(byte[] data) {
        return cString(data, 0, data.length);
    }

    /** A numeric field: octal text (space or NUL padded), or GNU's base-256 when the high bit is set. */
    private static long number(byte[] h, int off, int len, String field, String name) {
        if ((h[off] & 0x80) != 0) {
            if ((h[off] & 0x40) != 0) {
                throw badField(field, name);
            }
            long v = h[off] & 0x3f;
            for (int i = 1; i < len; i++) {
                if ((v >>> 55) != 0) {
                    throw badField(field, name);
                }
                v = (v << 8) | (h[off + i] & 0xff);
            }
            return v;
        }
        int i = off;
        int end = off + len;
        while (i < end && (h[i] == ' ' || h[i] == 0)) {
            i++;
        }
        long v = 0;
        while (i < end && h[i] >= '0' && h[i] <= '7') {
            if ((v >>> 60) != 0) {
                throw badField(field, name);
            }
            v = v * 8 + (h[i] - '0');
            i++;
        }
        while (i < end) {
            if (h[i] != ' ' && h[i] != 0) {
                throw badField(field, name);
            }
            i++;
        }
        return v;
    }

    private static InvalidArgumentException badField(String field, String name) {
        return new InvalidArgumentException("Invalid tar archive: bad " + field + " field in " + name);
    }

    private static Map<String, String> parsePax(byte[] data, String name) {
        Map<String, String> records = new HashMap<>();
        int i = 0;
        while (i < data.length && data[i] != 0) {
            int space = i;
            while (space < data.length && data[space] >= '0' && data[space] <= '9' && space - i < 9) {
                space++;
            }
            int length = space > i && space < data.length && data[space] == ' '
                    ? Integer.parseInt(new String(data, i, space - i, UTF_8)) : -1;
            if (length <= space - i || i + length > data.length || data[i + length - 1] != '\n') {
                throw new InvalidArgumentException("Invalid tar archive: malformed PAX header " + name);
            }
            String record = new String(data, space + 1, i + length - 1 - (space + 1), UTF_8);
            int eq = record.indexOf('=');
            if (eq <= 0) {
                throw new InvalidArgumentException("Invalid tar archive: malformed PAX record in " + name);
            }
            // An empty value deletes the keyword: kept as "" so that it overrides a global value (see paxValue).
            records.put(record.substring(0, eq), record.substring(eq + 1));
            i += length;
        }
        return records;
    }

    /** A PAX record's value; an empty value deletes the keyword (POSIX), so it counts as absent. */
    private static String paxValue(Map<String, String> pax, String key) {
        String v = pax.get(key);
        return v == null || v.isEmpty() ? null : v;
    }

    private static long paxNumber(String value, String field, String name) {
        try {
            long v = Long.parseLong(value);
            if (v >= 0) {
                return v;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new InvalidArgumentException("Invalid tar archive: bad PAX " + field + " \"" + value + "\" for " + name);
    }

    private static Instant parsePaxTime(String value, String name) {
        try {
            BigDecimal t = new BigDecimal(value);
            BigDecimal seconds = t.setScale(0, RoundingMode.FLOOR);
            int nanos = t.subtract(seconds).movePointRight(9).setScale(0, RoundingMode.DOWN).intValueExact();
            return Instant.ofEpochSecond(seconds.longValueExact(), nanos);
        } catch (NumberFormatException | ArithmeticException | DateTimeException e) {
            throw new InvalidArgumentException("Invalid tar archive: bad PAX mtime \"" + value + "\" for " + name, e);
        }
    }

    private static boolean isZero(byte[] block) {
        for (byte b : block) {
            if (b != 0) {
                return false;
            }
        }
        return true;
    }

    private static long padding(long offset) {
        long rest = offset % BLOCK;
        return rest == 0 ? 0 : BLOCK - rest;
    }

    private static String firstNonEmpty(String... values) {
        for (String v : values) {
            if (v != null && !v.isEmpty()) {
                return v;
            }
        }
        return "";
    }

    private static String printable(char c) {
        return c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\x%02x", (int) c);
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
