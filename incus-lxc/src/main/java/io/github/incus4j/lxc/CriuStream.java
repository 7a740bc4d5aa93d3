package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.io.BulkInputStream;
import io.github.incus4j.api.internal.io.BulkOutputStream;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The state connection of a live container migration ({@link #FORMAT}): a sequence of frames, each a kind byte then
 * its body. {@link #DIR}: one CRIU image directory (a pre-dump {@code 000}, {@code 001}, ... or the {@code final}
 * dump), its regular files and its {@code parent} link to the previous pre-dump; {@link #TREE}: the root filesystem
 * entries changed since the filesystem pass, as a tar in chunks; {@link #MANIFEST}: the names of every rootfs entry
 * after the final dump (the target deletes the others); {@link #END}. Incus sends the same parts with rsync.
 */
final class CriuStream {
    /** The {@code state} header field of an lxc live migration. */
    static final String FORMAT = "incus4j-criu-iterative";
    static final int DIR = 'D';
    static final int TREE = 'T';
    static final int MANIFEST = 'M';
    static final int END = 'E';
    static final String FINAL = "final";
    private static final String PARENT = "parent";
    private static final Pattern PREDUMP = Pattern.compile("[0-9]{3}");
    private static final Pattern IMAGE_FILE = Pattern.compile("[A-Za-z0-9._-]{1,128}");
    private static final LinkOption[] NOFOLLOW = {LinkOption.NOFOLLOW_LINKS};
    private static final int CHUNK = 1 << 16;

    private CriuStream() {
    }

    /** The directory name of pre-dump {@code i}. */
    static String predump(int i) {
        return String.format("%03d", i);
    }

    /** Writes image directory {@code dir} as a {@link #DIR} frame named by its file name. */
    static void writeDir(DataOutputStream out, Path dir) throws IOException {
        out.writeByte(DIR);
        out.writeUTF(dir.getFileName().toString());
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.sorted().forEach(files::add);
        }
        Path parent = dir.resolve(PARENT);
        String parentName = Files.isSymbolicLink(parent) ? Files.readSymbolicLink(parent).getFileName().toString()
                : "";
        out.writeUTF(parentName);
        List<Path> regular = files.stream().filter(f -> Files.isRegularFile(f, NOFOLLOW)).toList();
        out.writeInt(regular.size());
        for (Path f : regular) {
            out.writeUTF(f.getFileName().toString());
            out.writeLong(Files.size(f));
            try (InputStream in = Files.newInputStream(f)) {
                long n = in.transferTo(out);
                if (n != Files.size(f)) {
                    throw new IncusException("CRIU image " + f + " changed while sent");
                }
            }
        }
        out.flush();
    }

    /**
     * Reads a {@link #DIR} frame (its kind byte already read) into {@code root/<name>}: the name a pre-dump's or
     * {@link #FINAL}, plain file names, the parent link (rewritten here, never taken from the stream) to an earlier
     * pre-dump received before. Returns the directory's name.
     */
    static String readDir(DataInputStream in, Path root) throws IOException {
        String name = in.readUTF();
        if (!PREDUMP.matcher(name).matches() && !name.equals(FINAL)) {
            throw new InvalidArgumentException("Invalid CRIU image directory " + ErrorTexts.quote(name)
                    + " in the migration stream");
        }
        String parent = in.readUTF();
        Path dir = root.resolve(name);
        Files.createDirectories(dir);
        if (!parent.isEmpty()) {
            if (!PREDUMP.matcher(parent).matches() || !Files.isDirectory(root.resolve(parent), NOFOLLOW)) {
                throw new InvalidArgumentException("Invalid CRIU parent image directory " + ErrorTexts.quote(parent)
                        + " of " + ErrorTexts.quote(name) + " in the migration stream");
            }
            Files.createSymbolicLink(dir.resolve(PARENT), Path.of("..", parent));
        }
        int count = in.readInt();
        if (count < 0 || count > 100_000) {
            throw new InvalidArgumentException("Invalid CRIU image count " + count + " in the migration stream");
        }
        for (int i = 0; i < count; i++) {
            String file = in.readUTF();
            long size = in.readLong();
            if (!IMAGE_FILE.matcher(file).matches() || file.equals(PARENT) || file.startsWith("..") || size < 0) {
                throw new InvalidArgumentException("Invalid CRIU image " + ErrorTexts.quote(file) + " in the"
                        + " migration stream");
            }
            try (OutputStream out = Files.newOutputStream(dir.resolve(file))) {
                copy(in, out, size);
            }
        }
        return name;
    }

    private static void copy(InputStream in, OutputStream out, long size) throws IOException {
        byte[] buf = new byte[CHUNK];
        long left = size;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new EOFException("The migration stream ended inside a CRIU image");
            }
            out.write(buf, 0, n);
            left -= n;
        }
    }

    /** Writes the {@link #MANIFEST} frame. */
    static void writeManifest(DataOutputStream out, List<String> names) throws IOException {
        out.writeByte(MANIFEST);
        byte[] bytes = String.join("\n", names).getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
        out.flush();
    }

    /** Reads a {@link #MANIFEST} frame's body. */
    static List<String> readManifest(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > 1 << 28) {
            throw new InvalidArgumentException("Invalid manifest size " + n + " in the migration stream");
        }
        byte[] bytes = in.readNBytes(n);
        if (bytes.length != n) {
            throw new EOFException("The migration stream ended inside the manifest");
        }
        String text = new String(bytes, StandardCharsets.UTF_8);
        return text.isEmpty() ? List.of() : List.of(text.split("\n"));
    }

    /** A stream of chunks ({@code int} length, bytes; length 0 ends it) over {@code out}, which stays open. */
    static OutputStream chunked(DataOutputStream out) {
        return new BulkOutputStream() {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (len > 0) {
                    out.writeInt(len);
                    out.write(b, off, len);
                }
            }

            @Override
            public void close() throws IOException {
                out.writeInt(0);
                out.flush();
            }
        };
    }

    /** The chunks written by {@link #chunked(DataOutputStream)}, ending at the empty chunk. */
    static InputStream unchunked(DataInputStream in) {
        return new BulkInputStream() {
            private int left;
            private boolean done;

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                while (left == 0) {
                    if (done) {
                        return -1;
                    }
                    left = in.readInt();
                    if (left < 0) {
                        throw new InvalidArgumentException("Invalid chunk size " + left + " in the migration stream");
                    }
                    done = left == 0;
                }
                int n = in.read(b, off, Math.min(len, left));
                if (n < 0) {
                    throw new EOFException("The migration stream ended inside a chunk");
                }
                left -= n;
                return n;
            }
        };
    }

    /**
     * How much of the memory a pre-dump wrote and how much it skipped as unchanged since its parent, from CRIU's
     * {@code stats-dump} (a service image: two magics, then one length-prefixed {@code StatsEntry} whose field 1 is
     * the {@code DumpStatsEntry}, pages skipped field 6, written field 7), as Incus reads them to decide whether the
     * pre-dumps converge. Null when the file is missing or unreadable.
     */
    static long[] pagesWrittenSkipped(Path dir) {
        byte[] b;
        try {
            b = Files.readAllBytes(dir.resolve("stats-dump"));
        } catch (IOException e) {
            return null;
        }
        if (b.length < 12) {
            return null;
        }
        int len = (b[8] & 0xff) | (b[9] & 0xff) << 8 | (b[10] & 0xff) << 16 | (b[11] & 0xff) << 24;
        if (len < 0 || 12 + len > b.length) {
            return null;
        }
        int[] pos = {12};
        int end = 12 + len;
        while (pos[0] < end) {
            long key = varint(b, pos);
            if (key == ((1 << 3) | 2)) {
                int n = (int) varint(b, pos);
                return dumpStats(b, pos[0], pos[0] + n);
            }
            if (!skip(b, pos, key)) {
                return null;
            }
        }
        return null;
    }

    private static long[] dumpStats(byte[] b, int from, int end) {
        long written = -1;
        long skipped = 0;
        int[] pos = {from};
        while (pos[0] < end) {
            long key = varint(b, pos);
            int field = (int) (key >>> 3);
            if ((key & 7) == 0) {
                long v = varint(b, pos);
                if (field == 6) {
                    skipped = v;
                } else if (field == 7) {
                    written = v;
                }
            } else if (!skip(b, pos, key)) {
                return null;
            }
        }
        return written < 0 ? null : new long[] {written, skipped};
    }

    private static boolean skip(byte[] b, int[] pos, long key) {
        switch ((int) (key & 7)) {
            case 0 -> varint(b, pos);
            case 1 -> pos[0] += 8;
            case 2 -> pos[0] += (int) varint(b, pos);
            case 5 -> pos[0] += 4;
            default -> {
                return false;
            }
        }
        return true;
    }

    private static long varint(byte[] b, int[] pos) {
        long v = 0;
        for (int shift = 0; shift < 64 && pos[0] < b.length; shift += 7) {
            int x = b[pos[0]++] & 0xff;
            v |= (long) (x & 0x7f) << shift;
            if ((x & 0x80) == 0) {
                break;
            }
        }
        return v;
    }
}
