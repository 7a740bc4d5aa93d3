package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.image.ImageTar.Entry;
import io.github.incus4j.api.internal.image.ImageTar.Kind;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tar codec: lossless round trips of every kind, refusal of hostile or damaged archives, GNU tar interop. */
class ImageTarTest {
    private static final Instant T0 = Instant.parse("2024-08-22T04:26:40Z");
    private static final String LONG_DIR = "d".repeat(120);
    private static final String LONG_NAME = LONG_DIR + "/" + "f".repeat(79); // 200 characters
    private static final byte[] BIG = randomBytes(10 * 1024 * 1024 + 17);

    /** Entries covering every kind and every field that needs a PAX header, with their contents. */
    private static Map<Entry, byte[]> sample() {
        Map<Entry, byte[]> entries = new LinkedHashMap<>();
        entries.put(new Entry("", Kind.DIRECTORY, 0755, 0, 0, T0, 0, ""), null);
        entries.put(new Entry("etc", Kind.DIRECTORY, 0750, 1000, 1001, T0.plusNanos(123_456_700), 0, ""), null);
        entries.put(file("etc/hostname", 0644, 0, 0, T0, "web1\n".getBytes(UTF_8)), "web1\n".getBytes(UTF_8));
        entries.put(file("etc/empty", 0600, 5, 6, T0, new byte[0]), new byte[0]);
        entries.put(new Entry(LONG_DIR, Kind.DIRECTORY, 0700, 0, 0, T0, 0, ""), null);
        entries.put(file(LONG_NAME, 04755, 2_000_000_000L, 3_000_000_000L, Instant.ofEpochSecond(-86_400, 500),
                "long".getBytes(UTF_8)), "long".getBytes(UTF_8));
        entries.put(file("big.bin", 0640, 100_000, 100_000, T0, BIG), BIG);
        entries.put(file("etc/h\u00e9llo-\u4e16\u754c", 0644, 0, 0, T0, "utf8".getBytes(UTF_8)), "utf8".getBytes(UTF_8));
        entries.put(new Entry("etc/link", Kind.SYMLINK, 0777, 0, 0, T0, 0, "/" + "t".repeat(150)), null);
        entries.put(new Entry("etc/rel", Kind.SYMLINK, 0777, 0, 0, T0, 0, "../etc/hostname"), null);
        entries.put(new Entry("etc/hard", Kind.HARDLINK, 0644, 0, 0, T0, 0, "etc/hostname"), null);
        entries.put(new Entry("etc/hardlong", Kind.HARDLINK, 04755, 0, 0, T0, 0, LONG_NAME), null);
        return entries;
    }

    private static Entry file(String name, int mode, long uid, long gid, Instant t, byte[] content) {
        return new Entry(name, Kind.FILE, mode, uid, gid, t, content.length, "");
    }

    private static byte[] write(Map<Entry, byte[]> entries) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ImageTar.Writer w = ImageTar.writer(out)) {
            entries.forEach((e, content) -> w.add(e, content == null ? null : new ByteArrayInputStream(content)));
        }
        return out.toByteArray();
    }

    private static Map<Entry, byte[]> readAll(InputStream in) {
        Map<Entry, byte[]> read = new LinkedHashMap<>();
        ImageTar.read(in, (e, content) -> read.put(e, e.kind() == Kind.FILE ? content.readAllBytes() : null));
        return read;
    }

    private static void assertSame(Map<Entry, byte[]> expected, Map<Entry, byte[]> actual) {
        assertEquals(new ArrayList<>(expected.keySet()), new ArrayList<>(actual.keySet()));
        for (Entry e : expected.keySet()) {
            assertArrayEquals(expected.get(e), actual.get(e), e.name());
        }
    }

    @Test
    void roundTripKeepsEveryKindAndField() {
        Map<Entry, byte[]> entries = sample();
        byte[] tar = write(entries);
        assertEquals(0, tar.length % 512);
        assertSame(entries, readAll(new ByteArrayInputStream(tar)));
        // The root directory is written as "./", as tar -C dir . writes it.
        assertEquals("./", new String(tar, 0, 2, UTF_8));
    }

    @Test
    void gzipIsDetectedByItsMagicBytes() throws IOException {
        Map<Entry, byte[]> entries = sample();
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(write(entries));
        }
        byte[] compressed = gz.toByteArray();
        assertEquals(0x1f, compressed[0] & 0xff);
        assertSame(entries, readAll(new ByteArrayInputStream(compressed)));
    }

    @Test
    void anUncompressedArchiveIsReadUpToItsEndMarkerOnly() {
        // A migration stream stays open after the archive: reading past its end marker would block there.
        byte[] tar = write(sample());
        InputStream beyond = new InputStream() {
            @Override
            public int read() {
                throw new AssertionError("read past the end-of-archive marker");
            }
        };
        List<String> names = new ArrayList<>();
        ImageTar.read(new java.io.SequenceInputStream(new ByteArrayInputStream(tar), beyond),
                (e, in) -> names.add(e.name()));
        assertEquals(sample().size(), names.size());
    }

    @Test
    void subSecondTimesAreKeptTo100Nanoseconds() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageTar.Writer w = ImageTar.writer(out);
        w.add(new Entry("d", Kind.DIRECTORY, 0755, 0, 0, T0.plusNanos(123_456_789), 0, ""), null);
        w.finish();
        List<Entry> got = new ArrayList<>();
        ImageTar.read(new ByteArrayInputStream(out.toByteArray()), (e, in) -> got.add(e));
        assertEquals(T0.plusNanos(123_456_700), got.get(0).modified());
    }

    @Test
    void unreadContentIsSkippedAndVisitorsSeeExactSizes() {
        List<String> names = new ArrayList<>();
        ImageTar.read(new ByteArrayInputStream(write(sample())), (e, content) -> {
            names.add(e.name());
            if (e.name().equals("big.bin")) {
                assertEquals(BIG[0] & 0xff, content.read()); // read one byte, leave the rest
            }
        });
        assertEquals(12, names.size());
        assertEquals("etc/hard", names.get(10));
    }

    @Test
    void namesAreNormalised() {
        byte[] tar = concat(header("./a/./b//c", '0', 0), header("/abs", '5', 0), header("./", '5', 0),
                header("old-style-dir/", '0', 0), new byte[1024]);
        List<Entry> entries = new ArrayList<>(readAll(new ByteArrayInputStream(tar)).keySet());
        assertEquals(List.of("a/b/c", "abs", "", "old-style-dir"), entries.stream().map(Entry::name).toList());
        assertEquals(Kind.DIRECTORY, entries.get(3).kind());
    }

    @Test
    void entriesEscapingTheRootAreRefused() {
        for (byte[] tar : List.of(
                concat(header("../evil", '0', 0), new byte[1024]),
                concat(header("a/../../evil", '5', 0), new byte[1024]),
                concat(pax("path=x/../../../etc/passwd"), header("harmless", '0', 0), new byte[1024]),
                concat(header("link", '1', 0, "../../etc/shadow"), new byte[1024]))) {
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                    () -> readAll(new ByteArrayInputStream(tar)));
            assertTrue(e.getMessage().contains("escapes the archive root"), e.getMessage());
            assertTrue(e.getMessage().contains(".."), e.getMessage());
        }
        ImageTar.Writer w = ImageTar.writer(new ByteArrayOutputStream());
        assertThrows(InvalidArgumentException.class, () -> w.addFile("../x", new byte[0], 0644));
    }

    @Test
    void truncatedOrCorruptArchivesAreRefused() throws IOException {
        byte[] tar = write(sample());
        int firstDataEnd = 6 * 512; // "./"; PAX header, its data and etc/; etc/hostname and its data: a clean cut
        for (int length : new int[] {0, 100, 700, firstDataEnd, 512 * 1024, tar.length - 1024}) {
            byte[] cut = Arrays.copyOf(tar, length);
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                    () -> readAll(new ByteArrayInputStream(cut)), "length " + length);
            assertTrue(e.getMessage().startsWith("Invalid tar archive"), e.getMessage());
        }
        byte[] corrupt = tar.clone();
        corrupt[0] ^= 1;
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> readAll(new ByteArrayInputStream(corrupt)));
        assertTrue(e.getMessage().contains("checksum"), e.getMessage());

        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(tar);
        }
        byte[] cutGzip = Arrays.copyOf(gz.toByteArray(), gz.size() / 2);
        assertThrows(InvalidArgumentException.class, () -> readAll(new ByteArrayInputStream(cutGzip)));
        byte[] badCrc = gz.toByteArray();
        badCrc[badCrc.length - 6] ^= 1;
        assertThrows(InvalidArgumentException.class, () -> readAll(new ByteArrayInputStream(badCrc)));
    }

    @Test
    void devicesAndFifosAreSkippedSparseFilesRefused() {
        byte[] tar = concat(header("dev/null", '3', 0), header("fifo", '6', 0), header("after", '0', 0),
                new byte[1024]);
        assertEquals(List.of("after"), readAll(new ByteArrayInputStream(tar)).keySet().stream().map(Entry::name).toList());
        byte[] sparse = concat(header("sparse", 'S', 0), new byte[1024]);
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> readAll(new ByteArrayInputStream(sparse)));
        assertTrue(e.getMessage().contains("sparse"), e.getMessage());
    }

    @Test
    void shortContentFailsTheWriterAndLeavesNoEndMarker() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageTar.Writer w = ImageTar.writer(out);
        IncusException e = assertThrows(IncusException.class, () -> w.add(
                new Entry("f", Kind.FILE, 0644, 0, 0, T0, 10, ""), new ByteArrayInputStream(new byte[3])));
        assertTrue(e.getMessage().contains("expected 10 bytes, got 3"), e.getMessage());
        assertThrows(IncusException.class, w::finish);
        w.close();
        assertThrows(InvalidArgumentException.class, () -> readAll(new ByteArrayInputStream(out.toByteArray())));
    }

    @Test
    void badEntriesAreRefusedBeforeAnythingIsWritten() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageTar.Writer w = ImageTar.writer(out);
        assertThrows(InvalidArgumentException.class, () -> w.add(new Entry("f", Kind.FILE, 0100644, 0, 0, T0, 0, ""), null));
        assertThrows(InvalidArgumentException.class, () -> w.add(new Entry("f", Kind.FILE, 0644, -1, 0, T0, 0, ""), null));
        assertThrows(InvalidArgumentException.class, () -> w.add(new Entry("f", Kind.FILE, 0644, 0, 0, null, 0, ""), null));
        assertThrows(InvalidArgumentException.class, () -> w.add(new Entry("", Kind.FILE, 0644, 0, 0, T0, 0, ""), null));
        assertThrows(InvalidArgumentException.class, () -> w.add(new Entry("l", Kind.SYMLINK, 0777, 0, 0, T0, 0, ""), null));
        assertEquals(0, out.size());
    }

    // ---- GNU tar interop --------------------------------------------------------------------------------------

    private static final Path GNU_TAR = Path.of("/usr/bin/tar");

    @Test
    void gnuTarListsAndExtractsWhatWeWrite(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(GNU_TAR), "GNU tar is not installed");
        Map<Entry, byte[]> entries = new LinkedHashMap<>(sample());
        entries.keySet().removeIf(e -> e.name().equals("etc/link")); // a dangling absolute link is fine, but noisy
        Path archive = dir.resolve("ours.tar");
        Files.write(archive, write(entries));

        String listing = run(dir, GNU_TAR.toString(), "--numeric-owner", "-tvf", archive.toString());
        List<String> lines = listing.lines().toList();
        assertEquals(entries.size(), lines.size(), listing);
        assertTrue(lines.get(1).startsWith("drwxr-x--- 1000/1001 "), lines.get(1));
        assertTrue(lines.get(1).endsWith(" etc/"), lines.get(1));
        assertTrue(lines.get(3).startsWith("-rw------- 5/6 "), lines.get(3));
        assertTrue(lines.get(5).startsWith("-rwsr-xr-x 2000000000/3000000000 "), lines.get(5));
        assertTrue(lines.get(5).endsWith(" " + LONG_NAME), lines.get(5));
        assertTrue(lines.get(6).contains(" " + BIG.length + " 2024-08-22 04:26 big.bin"), lines.get(6));
        assertTrue(lines.get(8).endsWith("etc/rel -> ../etc/hostname"), lines.get(8));
        assertTrue(lines.get(9).endsWith("etc/hard link to etc/hostname"), lines.get(9));

        Path out = Files.createDirectory(dir.resolve("x"));
        run(dir, GNU_TAR.toString(), "-xf", archive.toString(), "-C", out.toString());
        assertArrayEquals(BIG, Files.readAllBytes(out.resolve("big.bin")));
        assertEquals("web1\n", Files.readString(out.resolve("etc/hostname")));
        assertEquals("long", Files.readString(out.resolve(LONG_NAME)));
        assertEquals("utf8", Files.readString(out.resolve("etc/h\u00e9llo-\u4e16\u754c")));
        assertEquals(Path.of("../etc/hostname"), Files.readSymbolicLink(out.resolve("etc/rel")));
        assertEquals(Files.getAttribute(out.resolve("etc/hostname"), "unix:ino"),
                Files.getAttribute(out.resolve("etc/hard"), "unix:ino"));
        // A pre-1970 time with nanoseconds travels in a PAX mtime record.
        assertEquals(Instant.ofEpochSecond(-86_400, 500), Files.getLastModifiedTime(out.resolve(LONG_NAME)).toInstant());
        assertEquals(T0, Files.getLastModifiedTime(out.resolve(LONG_DIR)).toInstant());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out.resolve("etc/empty"))));
    }

    @Test
    void weReadWhatGnuTarWrites(@TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(GNU_TAR), "GNU tar is not installed");
        Path src = Files.createDirectory(dir.resolve("src"));
        Path sub = Files.createDirectory(src.resolve("sub"));
        Path file = Files.write(sub.resolve("file.txt"), "hello\n".getBytes(UTF_8));
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r-----"));
        Path longFile = Files.write(sub.resolve("n".repeat(150)), BIG);
        Files.createSymbolicLink(src.resolve("link"), Path.of("sub/file.txt"));
        Files.createLink(src.resolve("hard"), file);
        Files.setLastModifiedTime(file, FileTime.from(T0));

        for (String format : List.of("gnu", "posix", "ustar")) {
            if (format.equals("ustar")) {
                Files.delete(longFile); // ustar cannot hold a 150-character file name
            }
            Path archive = dir.resolve(format + ".tar");
            // Sorted, so that "hard" is archived first and "sub/file.txt" becomes the hard link to it.
            run(dir, GNU_TAR.toString(), "--format=" + format, "--sort=name", "-cf", archive.toString(),
                    "-C", src.toString(), ".");
            Map<String, Entry> byName = new HashMap<>();
            Map<String, byte[]> contents = new HashMap<>();
            ImageTar.read(Files.newInputStream(archive), (e, content) -> {
                byName.put(e.name(), e);
                contents.put(e.name(), content.readAllBytes());
            });
            assertEquals(format.equals("ustar") ? 5 : 6, byName.size(), format + ": " + byName.keySet());
            assertEquals(Kind.DIRECTORY, byName.get("").kind(), format);
            assertEquals(Kind.DIRECTORY, byName.get("sub").kind(), format);
            Entry f = byName.get("hard");
            assertEquals(Kind.FILE, f.kind(), format);
            assertEquals(0640, f.mode(), format);
            assertEquals(6, f.size(), format);
            assertEquals(T0, f.modified(), format);
            assertEquals(((Number) Files.getAttribute(file, "unix:uid")).longValue(), f.uid(), format);
            assertEquals(((Number) Files.getAttribute(file, "unix:gid")).longValue(), f.gid(), format);
            assertEquals("hello\n", new String(contents.get("hard"), UTF_8), format);
            Entry link = byName.get("link");
            assertEquals(new Entry("link", Kind.SYMLINK, 0777, f.uid(), f.gid(), link.modified(), 0, "sub/file.txt"),
                    link, format);
            Entry hard = byName.get("sub/file.txt");
            assertEquals(Kind.HARDLINK, hard.kind(), format);
            assertEquals("hard", hard.linkTarget(), format);
            if (!format.equals("ustar")) {
                assertArrayEquals(BIG, contents.get("sub/" + "n".repeat(150)), format);
            }
        }
        // And gzip as tar -z writes it.
        Path gz = dir.resolve("z.tar.gz");
        run(dir, GNU_TAR.toString(), "-czf", gz.toString(), "-C", src.toString(), ".");
        List<String> names = new ArrayList<>();
        ImageTar.read(Files.newInputStream(gz), (e, content) -> names.add(e.name()));
        assertEquals(5, names.size(), names.toString());
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private static String run(Path dir, String... command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().put("TZ", "UTC");
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "tar timed out");
        assertEquals(0, p.exitValue(), output);
        return output;
    }

    /** A hand-made ustar header, to build archives our writer refuses to produce. */
    private static byte[] header(String name, char type, int size, String link) {
        byte[] h = new byte[512];
        System.arraycopy(name.getBytes(UTF_8), 0, h, 0, name.length());
        octal(h, 100, 8, 0644);
        octal(h, 108, 8, 0);
        octal(h, 116, 8, 0);
        octal(h, 124, 12, size);
        octal(h, 136, 12, T0.getEpochSecond());
        h[156] = (byte) type;
        System.arraycopy(link.getBytes(UTF_8), 0, h, 157, link.length());
        System.arraycopy("ustar\00000".getBytes(UTF_8), 0, h, 257, 8);
        Arrays.fill(h, 148, 156, (byte) ' ');
        int sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        octal(h, 148, 7, sum);
        return h;
    }

    private static byte[] header(String name, char type, int size) {
        return header(name, type, size, "");
    }

    private static byte[] pax(String record) {
        String body = " " + record + "\n";
        String data = (body.length() + 2) + body;
        byte[] bytes = data.getBytes(UTF_8);
        return concat(header("PaxHeaders/x", 'x', bytes.length), Arrays.copyOf(bytes, 512));
    }

    private static void octal(byte[] h, int off, int len, long value) {
        String s = String.format("%0" + (len - 1) + "o", value);
        System.arraycopy(s.getBytes(UTF_8), 0, h, off, len - 1);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        new Random(42).nextBytes(b);
        return b;
    }

    @Test
    void bigContentSurvivesByteForByte() throws Exception {
        byte[][] got = new byte[1][];
        ImageTar.read(new ByteArrayInputStream(write(sample())), (e, content) -> {
            if (e.name().equals("big.bin")) {
                got[0] = content.readAllBytes();
            }
        });
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        assertArrayEquals(sha.digest(BIG), MessageDigest.getInstance("SHA-256").digest(got[0]));
    }
}
