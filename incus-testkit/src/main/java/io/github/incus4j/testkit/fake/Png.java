package io.github.incus4j.testkit.fake;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.DeflaterOutputStream;

/**
 * A small, valid PNG built by hand (signature, {@code IHDR}, one zlib-compressed {@code IDAT}, {@code IEND}, each
 * chunk with its CRC-32): the fake VM's screen, a dark text console whose lines depend on {@code seed}.
 */
final class Png {
    static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private Png() {
    }

    static void write(OutputStream out, int width, int height, long seed) throws IOException {
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        try (DeflaterOutputStream z = new DeflaterOutputStream(raw)) {
            byte[] row = new byte[1 + width * 3];
            for (int y = 0; y < height; y++) {
                int textLine = y / 16;
                boolean text = y % 16 > 3 && y % 16 < 12 && textLine < 12;
                int lineLength = (int) Math.floorMod(seed * 31 + textLine * 97L, width - 16L);
                for (int x = 0; x < width; x++) {
                    boolean lit = text && x >= 8 && x < 8 + lineLength && (x / 6 + textLine) % 7 != 0 && x % 6 < 5;
                    row[1 + x * 3] = (byte) (lit ? 0xc0 : 0x10);
                    row[2 + x * 3] = (byte) (lit ? 0xc0 : 0x10);
                    row[3 + x * 3] = (byte) (lit ? 0xc0 : 0x18);
                }
                z.write(row);
            }
        }
        DataOutputStream d = new DataOutputStream(out);
        d.write(SIGNATURE);
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream h = new DataOutputStream(ihdr);
        h.writeInt(width);
        h.writeInt(height);
        h.writeByte(8); // bit depth
        h.writeByte(2); // colour type: RGB
        h.writeByte(0); // compression: deflate
        h.writeByte(0); // filter method
        h.writeByte(0); // no interlace
        chunk(d, "IHDR", ihdr.toByteArray());
        chunk(d, "IDAT", raw.toByteArray());
        chunk(d, "IEND", new byte[0]);
        d.flush();
    }

    private static void chunk(DataOutputStream d, String type, byte[] data) throws IOException {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt(data.length);
        d.write(t);
        d.write(data);
        d.writeInt((int) crc.getValue());
    }
}
