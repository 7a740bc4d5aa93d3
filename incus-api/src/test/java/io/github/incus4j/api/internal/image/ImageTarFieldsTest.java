package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.image.ImageTar.Entry;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Header fields as other writers produce them, on hand-made headers: GNU base-256 numbers, padded octal, the
 * ustar name prefix (POSIX only), signed checksums and PAX records, each with the archive that must be refused.
 */
class ImageTarFieldsTest {
    private static final byte[] FIVE = "hello".getBytes(UTF_8);

    /** A ustar header for a regular file of {@code size} bytes named {@code name}, checksum left to {@link #sum}. */
    private static byte[] header(String name, long size) {
        byte[] h = new byte[512];
        byte[] n = name.getBytes(UTF_8);
        System.arraycopy(n, 0, h, 0, n.length);
        put(h, 100, "0000644\0");
        put(h, 108, "0001750\0");
        put(h, 116, "0001751\0");
        put(h, 124, String.format("%011o\0", size));
        put(h, 136, "14662412240\0");
        h[156] = '0';
        put(h, 257, "ustar\00000");
        return h;
    }

    private static void put(byte[] h, int off, String s) {
        byte[] b = s.getBytes(UTF_8);
        System.arraycopy(b, 0, h, off, b.length);
    }

    /** Stores the (unsigned, or with {@code signed} the historic signed) checksum. */
    private static byte[] sum(byte[] h, boolean signed) {
        Arrays.fill(h, 148, 156, (byte) ' ');
        long sum = 0;
        for (byte b : h) {
            sum += signed ? b : b & 0xff;
        }
        put(h, 148, String.format("%06o\0 ", sum));
        return h;
    }

    private static byte[] archive(byte[]... headersAndData) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : headersAndData) {
            out.writeBytes(Arrays.copyOf(part, (part.length + 511) / 512 * 512));
        }
        out.writeBytes(new byte[1024]);
        return out.toByteArray();
    }

    private record Read(Entry entry, byte[] content) {
    }

    private static List<Read> read(byte[] tar) {
        List<Read> out = new ArrayList<>();
        ImageTar.read(new ByteArrayInputStream(tar), (e, in) -> out.add(new Read(e, in.readAllBytes())));
        return out;
    }

    /**
     * Refused as a bad archive. The wording below the prefix is Commons Compress's, except where this code adds a
     * check of its own ({@code fragment}, may be null).
     */
    private static void refused(byte[] tar, String fragment) {
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> read(tar));
        assertTrue(e.getMessage().startsWith("Invalid tar archive: "), e.getMessage());
        if (fragment != null) {
            assertTrue(e.getMessage().contains(fragment), e.getMessage());
        }
    }

    @Test
    void octalNumbersMayBePaddedWithSpacesAndNuls() {
        byte[] h = header("f", 5);
        put(h, 124, "      5 \0\0\0 ");
        List<Read> got = read(archive(sum(h, false), FIVE));
        assertEquals(1, got.size());
        assertEquals(5, got.get(0).entry().size());
        assertArrayEquals(FIVE, got.get(0).content());
        assertEquals(0644, got.get(0).entry().mode());
        assertEquals(01750, got.get(0).entry().uid());
        assertEquals(01751, got.get(0).entry().gid());
    }

    @Test
    void badOctalIsRefused() {
        byte[] h = header("f", 5);
        put(h, 124, "0000000008\0\0");
        refused(archive(sum(h, false), FIVE), null);
        byte[] g = header("g", 5);
        put(g, 108, "00 7\0\0\0\0");
        refused(archive(sum(g, false), FIVE), null);
    }

    @Test
    void gnuBase256NumbersAreRead() {
        byte[] h = header("big", 0);
        Arrays.fill(h, 124, 136, (byte) 0);
        h[124] = (byte) 0x80;
        h[134] = 0x01; // 256 + 5 = 261 bytes
        h[135] = 0x05;
        byte[] content = new byte[261];
        Arrays.fill(content, (byte) 'x');
        List<Read> got = read(archive(sum(h, false), content));
        assertEquals(261, got.get(0).entry().size());
        assertArrayEquals(content, got.get(0).content());
    }

    @Test
    void negativeOrOverlongBase256NumbersAreRefused() {
        byte[] h = header("neg", 0);
        Arrays.fill(h, 124, 136, (byte) 0xff);
        refused(archive(sum(h, false)), null);
        byte[] big = header("huge", 0);
        Arrays.fill(big, 136, 148, (byte) 0x3f);
        big[136] = (byte) 0xbf; // base-256, positive, 94 significant bits: beyond a long
        refused(archive(sum(big, false)), null);
    }

    @Test
    void posixPrefixIsJoinedGnuHeadersHaveNone() {
        byte[] posix = header("name", 5);
        put(posix, 345, "some/dir");
        assertEquals("some/dir/name", read(archive(sum(posix, false), FIVE)).get(0).entry().name());

        byte[] gnu = header("name", 5);
        put(gnu, 257, "ustar  \0");
        put(gnu, 345, "14672357000"); // GNU keeps atime there (octal), no name prefix
        assertEquals("name", read(archive(sum(gnu, false), FIVE)).get(0).entry().name());
        // Headers with another magic (pre-POSIX archives have none) are Commons Compress's to interpret.
    }

    @Test
    void signedAndUnsignedChecksumsAreAcceptedOthersRefused() {
        String name = "caf\u00e9-\u00fc"; // bytes above 0x7f: the signed and the unsigned sums differ
        assertEquals(name, read(archive(sum(header(name, 5), true), FIVE)).get(0).entry().name());
        assertEquals(name, read(archive(sum(header(name, 5), false), FIVE)).get(0).entry().name());
        byte[] h = sum(header(name, 5), false);
        h[0] ^= 1; // one bit off: neither sum matches
        refused(archive(h, FIVE), "bad header checksum at offset 0");
        byte[] k = sum(header("k", 5), false);
        k[300] = 1; // a byte the checksum covers beyond the fields read
        refused(archive(k, FIVE), "bad header checksum at offset 0");
    }

    private static byte[] paxHeader(String body) {
        byte[] data = body.getBytes(UTF_8);
        byte[] h = header("PaxHeaders/f", data.length);
        h[156] = 'x';
        return archive(sum(h, false), data);
    }

    private static byte[] withPax(String body) {
        byte[] pax = paxHeader(body);
        byte[] file = archive(sum(header("f", 5), false), FIVE);
        byte[] out = Arrays.copyOf(pax, pax.length - 1024 + file.length);
        System.arraycopy(file, 0, out, pax.length - 1024, file.length);
        return out;
    }

    @Test
    void extendedHeadersHeldInMemoryAreBounded() {
        // PAX and GNU long-name payloads are read into memory: one of 1 MiB + 1 byte is refused before it is read.
        for (char type : new char[] {'x', 'g', 'L', 'K'}) {
            byte[] h = header("././@LongLink", (1 << 20) + 1);
            h[156] = (byte) type;
            refused(archive(sum(h, false), new byte[1024]), "is too large");
        }
        // At the bound it is read.
        byte[] data = new byte[1 << 20];
        byte[] name = "1048576 path=".getBytes(UTF_8);
        System.arraycopy(name, 0, data, 0, name.length);
        Arrays.fill(data, name.length, data.length - 1, (byte) 'n');
        data[data.length - 1] = '\n';
        byte[] pax = header("PaxHeaders/f", data.length);
        pax[156] = 'x';
        List<Read> got = read(archive(sum(pax, false), data, sum(header("f", 5), false), FIVE));
        assertEquals(data.length - name.length - 1, got.get(0).entry().name().length());
    }

    @Test
    void paxRecordsOverrideTheHeader() {
        List<Read> got = read(withPax("15 path=longer\n12 uid=4242\n"));
        assertEquals("longer", got.get(0).entry().name());
        assertEquals(4242, got.get(0).entry().uid());
        assertArrayEquals(FIVE, got.get(0).content());
        // An empty value deletes the keyword: the header's own value stands.
        List<Read> deleted = read(withPax("7 uid=\n"));
        assertEquals(01750, deleted.get(0).entry().uid());
    }

    @Test
    void malformedPaxRecordsAreRefused() {
        String header = null; // Commons Compress's wording
        refused(withPax("14 path=longer\n"), header); // length one short
        refused(withPax("16 path=longer\n"), header); // length past the data
        refused(withPax("15 path=longerX"), header); // no newline
        refused(withPax("x6 path=longer\n"), header);
        refused(withPax("16path=longerXX\n"), header);
        // "2 \n" (an empty record) Commons Compress skips as a blank line: harmless, so not refused here.
        // A record without a keyword is skipped by Commons Compress; the entry keeps its header's values.
        assertEquals("f", read(withPax("11 noequal\n")).get(0).entry().name());
        assertEquals("f", read(withPax("10 =value\n")).get(0).entry().name());
        refused(withPax("10 uid=-1\n"), null);
    }
}
