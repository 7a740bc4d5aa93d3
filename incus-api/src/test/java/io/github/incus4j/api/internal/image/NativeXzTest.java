package io.github.incus4j.api.internal.image;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.ImageCompression;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.image.ImageTar.Entry;
import io.github.incus4j.api.internal.image.ImageTar.Kind;
import io.github.incus4j.api.internal.io.NonClosingOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.SequenceInputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * xz archives read through the xz tool ({@link NativeXz}) read as through XZ for Java: the same entries, and every
 * damaged stream refused as an invalid archive. Needs XZ Utils' xz on the PATH (skipped otherwise).
 */
class NativeXzTest {
    private static final Instant T0 = Instant.parse("2024-08-22T04:26:40Z");
    private static final byte[] BIG = random(3 * 1024 * 1024 + 5);

    @BeforeEach
    void needsTheTool() {
        System.clearProperty(NativeXz.PROPERTY);
        assumeTrue(NativeXz.tool() != null, "xz (XZ Utils) is not on the PATH");
    }

    @AfterEach
    void reset() {
        System.clearProperty(NativeXz.PROPERTY);
    }

    private static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(7).nextBytes(b);
        return b;
    }

    /** An xz-compressed tarball of a directory, a small file and a 3 MB one. */
    private static byte[] xzTarball() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        OutputStream xz = ImageTar.compressing(out, ImageCompression.XZ);
        try (ImageTar.Writer w = ImageTar.writer(xz)) {
            w.add(new Entry("etc", Kind.DIRECTORY, 0755, 0, 0, T0, 0, ""), null);
            byte[] host = "web1\n".getBytes(UTF_8);
            w.add(new Entry("etc/hostname", Kind.FILE, 0644, 0, 0, T0, host.length, ""),
                    new ByteArrayInputStream(host));
            w.add(new Entry("big.bin", Kind.FILE, 0600, 7, 8, T0, BIG.length, ""), new ByteArrayInputStream(BIG));
        }
        return out.toByteArray();
    }

    private static Map<String, byte[]> readAll(InputStream in) {
        Map<String, byte[]> read = new LinkedHashMap<>();
        ImageTar.read(in, (e, content) -> read.put(e.name(), content.readAllBytes()));
        return read;
    }

    /** Runs {@code read} through the tool, then through XZ for Java. */
    private static <T> List<T> bothWays(Supplier<T> read) {
        List<T> results = new ArrayList<>();
        results.add(read.get());
        System.setProperty(NativeXz.PROPERTY, "false");
        results.add(read.get());
        return results;
    }

    @Test
    void theToolAndXzForJavaReadTheSameEntries() {
        byte[] tarball = xzTarball();
        List<Map<String, byte[]>> both = bothWays(() -> readAll(new ByteArrayInputStream(tarball)));
        for (Map<String, byte[]> read : both) {
            assertEquals(List.of("etc", "etc/hostname", "big.bin"), new ArrayList<>(read.keySet()));
            assertArrayEquals("web1\n".getBytes(UTF_8), read.get("etc/hostname"));
            assertArrayEquals(BIG, read.get("big.bin"));
        }
    }

    @Test
    void concatenatedStreamsAreReadWhole() throws IOException {
        // A tarball split across two xz streams, as xz --threads writes none but cat a.xz b.xz makes.
        byte[] tar;
        ByteArrayOutputStream plain = new ByteArrayOutputStream();
        try (ImageTar.Writer w = ImageTar.writer(plain)) {
            w.add(new Entry("big.bin", Kind.FILE, 0600, 0, 0, T0, BIG.length, ""), new ByteArrayInputStream(BIG));
        }
        tar = plain.toByteArray();
        ByteArrayOutputStream two = new ByteArrayOutputStream();
        int half = tar.length / 2;
        for (byte[] part : List.of(java.util.Arrays.copyOf(tar, half),
                java.util.Arrays.copyOfRange(tar, half, tar.length))) {
            try (OutputStream xz = ImageTar.compressing(new NonClosingOutputStream(two), ImageCompression.XZ)) {
                xz.write(part);
            }
        }
        byte[] image = two.toByteArray();
        for (Map<String, byte[]> read : bothWays(() -> readAll(new ByteArrayInputStream(image)))) {
            assertArrayEquals(BIG, read.get("big.bin"));
        }
    }

    @Test
    void aCorruptStreamIsAnInvalidArchiveWithTheToolsMessage() {
        byte[] corrupt = xzTarball();
        corrupt[corrupt.length / 2] ^= 0x55;
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> readAll(new ByteArrayInputStream(corrupt)));
        assertTrue(e.getMessage().startsWith("Invalid tar archive: corrupt xz stream: xz: "), e.getMessage());
        // XZ for Java refuses it too, with its own words.
        System.setProperty(NativeXz.PROPERTY, "false");
        e = assertThrows(InvalidArgumentException.class, () -> readAll(new ByteArrayInputStream(corrupt)));
        assertTrue(e.getMessage().startsWith("Invalid tar archive: corrupt xz stream: "), e.getMessage());
    }

    @Test
    void truncatedStreamsAndTrailingGarbageAreRefused() {
        byte[] whole = xzTarball();
        // Cut inside the last block's data, after its tar end marker was decoded: only the xz check can tell.
        byte[] cut = java.util.Arrays.copyOf(whole, whole.length - 40);
        byte[] garbage = java.util.Arrays.copyOf(whole, whole.length + 8);
        garbage[whole.length] = 1;
        for (byte[] bad : List.of(cut, garbage)) {
            List<String> messages = bothWays(() -> assertThrows(InvalidArgumentException.class,
                    () -> readAll(new ByteArrayInputStream(bad))).getMessage());
            for (String m : messages) {
                assertTrue(m.startsWith("Invalid tar archive: corrupt xz stream: "), m);
            }
        }
    }

    @Test
    void aFailureOfTheCallersStreamIsNotACorruptArchive() {
        byte[] tarball = xzTarball();
        InputStream failing = new SequenceInputStream(new ByteArrayInputStream(tarball, 0, tarball.length / 3),
                new InputStream() {
                    @Override
                    public int read() throws IOException {
                        throw new IOException("disk gone");
                    }

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        throw new IOException("disk gone");
                    }
                });
        IncusException e = assertThrows(IncusException.class, () -> readAll(failing));
        assertFalse(e instanceof InvalidArgumentException, e.toString());
        assertEquals("Failed to read the tar archive: disk gone", e.getMessage());
    }

    @Test
    void aReaderGivingUpEndsTheTool() throws InterruptedException {
        byte[] tarball = xzTarball();
        long before = xzChildren();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ImageTar.read(new ByteArrayInputStream(tarball), (entry, content) -> {
                    throw new IllegalStateException("enough");
                }));
        assertEquals("enough", e.getMessage());
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (xzChildren() > before && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(before, xzChildren(), "the xz child outlived the read");
    }

    private static long xzChildren() {
        return ProcessHandle.current().children()
                .filter(p -> p.isAlive() && p.info().command().map(c -> c.endsWith("/xz")).orElse(false)).count();
    }

    @Test
    void thePropertyTurnsTheToolOff() {
        assertNotNull(NativeXz.tool());
        InputStream tool = NativeXz.decompress(new ByteArrayInputStream(xzTarball()));
        assertTrue(tool instanceof NativeXz);
        System.setProperty(NativeXz.PROPERTY, "false");
        assertNull(NativeXz.tool());
        assertNull(NativeXz.decompress(new ByteArrayInputStream(new byte[0])));
    }

    @Test
    void singleBytesAndEmptyReads() throws IOException {
        byte[] tarball = xzTarball();
        try (InputStream in = NativeXz.decompress(new ByteArrayInputStream(tarball))) {
            assertEquals(0, in.read(new byte[1], 0, 0));
            int first = in.read();
            assertEquals('e', first); // the first header's name, "etc/"
            byte[] rest = in.readAllBytes();
            assertTrue(rest.length > BIG.length, "the whole archive");
            assertEquals(-1, in.read());
            assertEquals(-1, in.read(new byte[8], 0, 8));
        }
    }
}
