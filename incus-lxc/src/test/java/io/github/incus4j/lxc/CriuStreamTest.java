package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The live migration's state stream without CRIU: image directories, chunks, the manifest, CRIU's dump stats. */
class CriuStreamTest {
    @TempDir
    Path dir;

    private static DataInputStream in(ByteArrayOutputStream bytes) {
        return new DataInputStream(new ByteArrayInputStream(bytes.toByteArray()));
    }

    @Test
    void preDumpChainArrivesWithItsParentLinkRewrittenHere() throws IOException {
        Path src = dir.resolve("src");
        Files.createDirectories(src.resolve("000"));
        Files.write(src.resolve("000/pages-1.img"), new byte[70_000]);
        Files.createDirectories(src.resolve("final"));
        Files.writeString(src.resolve("final/inventory.img"), "inv");
        Files.createSymbolicLink(src.resolve("final/parent"), Path.of("/somewhere/on/the/source/000"));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        CriuStream.writeDir(out, src.resolve("000"));
        CriuStream.writeDir(out, src.resolve("final"));
        DataInputStream in = in(bytes);
        Path dst = dir.resolve("dst");
        assertEquals(CriuStream.DIR, in.read());
        assertEquals("000", CriuStream.readDir(in, dst));
        assertEquals(CriuStream.DIR, in.read());
        assertEquals("final", CriuStream.readDir(in, dst));
        assertEquals(-1, in.read());
        assertEquals(Path.of("../000"), Files.readSymbolicLink(dst.resolve("final/parent")));
        assertArrayEquals(new byte[70_000], Files.readAllBytes(dst.resolve("final/parent/pages-1.img")));
        assertEquals("inv", Files.readString(dst.resolve("final/inventory.img")));
    }

    @Test
    void badNamesAndAParentNotReceivedAreRefused() throws IOException {
        for (String[] bad : new String[][] {{"../x", "", "f"}, {"final", "../../etc", "f"}, {"final", "007", "f"},
                {"final", "", "../f"}, {"final", "", "parent"}}) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeUTF(bad[0]);
            out.writeUTF(bad[1]);
            out.writeInt(1);
            out.writeUTF(bad[2]);
            out.writeLong(1);
            out.write('x');
            Path root = dir.resolve("r" + bad.hashCode());
            assertThrows(InvalidArgumentException.class, () -> CriuStream.readDir(in(bytes), root),
                    String.join(" ", bad));
            assertTrue(!Files.exists(root.getParent().resolve("f")) && !Files.exists(dir.resolve("etc")));
        }
    }

    @Test
    void chunksEndAtTheEmptyOneAndTheManifestRoundTrips() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        try (OutputStream chunks = CriuStream.chunked(out)) {
            chunks.write(new byte[100_000]);
            chunks.write(7);
        }
        CriuStream.writeManifest(out, List.of("bin", "bin/sh", "etc/hosts"));
        DataInputStream in = in(bytes);
        assertEquals(100_001, CriuStream.unchunked(in).readAllBytes().length);
        assertEquals(CriuStream.MANIFEST, in.read());
        assertEquals(List.of("bin", "bin/sh", "etc/hosts"), CriuStream.readManifest(in));
    }

    @Test
    void dumpStatsGiveThePagesWrittenAndSkipped() throws IOException {
        // DumpStatsEntry: freezing_time (1) = 5, pages_skipped_parent (6) = 300, pages_written (7) = 42.
        byte[] dump = {0x08, 0x05, 0x30, (byte) 0xac, 0x02, 0x38, 0x2a};
        ByteArrayOutputStream entry = new ByteArrayOutputStream();
        entry.write(0x0a); // StatsEntry.dump, length-delimited
        entry.write(dump.length);
        entry.write(dump);
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.write(new byte[8]); // the two magics
        int n = entry.size();
        file.write(new byte[] {(byte) n, 0, 0, 0});
        file.write(entry.toByteArray());
        Path d = dir.resolve("img");
        Files.createDirectories(d);
        Files.write(d.resolve("stats-dump"), file.toByteArray());
        assertArrayEquals(new long[] {42, 300}, CriuStream.pagesWrittenSkipped(d));
        Files.write(d.resolve("stats-dump"), new byte[] {1, 2, 3});
        assertNull(CriuStream.pagesWrittenSkipped(d));
    }
}
