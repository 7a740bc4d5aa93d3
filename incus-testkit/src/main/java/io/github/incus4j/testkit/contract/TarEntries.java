package io.github.incus4j.testkit.contract;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Reads an image tarball (plain or gzip) into entry name to content, enough for the contract to inspect what
 * {@code export} wrote: ustar headers, GNU long names and PAX {@code path} records. Directory names end with
 * {@code /}; links have empty content.
 */
final class TarEntries {
    private TarEntries() {
    }

    /** The entries of {@code tar}, in order, names without a leading {@code ./}. */
    static Map<String, byte[]> read(byte[] tar) {
        try {
            byte[] data = isGzip(tar) ? gunzip(tar) : tar;
            Map<String, byte[]> out = new LinkedHashMap<>();
            int pos = 0;
            String longName = null;
            while (pos + 512 <= data.length) {
                if (isZeroBlock(data, pos)) {
                    break;
                }
                String name = text(data, pos, 100);
                String prefix = text(data, pos + 345, 155);
                long size = octal(data, pos + 124, 12);
                char kind = (char) data[pos + 156];
                int body = pos + 512;
                if (body + size > data.length) {
                    throw new IllegalStateException("Truncated tar entry " + name);
                }
                byte[] content = new byte[(int) size];
                System.arraycopy(data, body, content, 0, (int) size);
                pos = body + (int) ((size + 511) / 512 * 512);
                if (kind == 'L') {
                    longName = new String(content, StandardCharsets.UTF_8).replace("\0", "");
                    continue;
                }
                if (kind == 'x') {
                    String path = paxPath(content);
                    if (path != null) {
                        longName = path;
                    }
                    continue;
                }
                if (kind == 'g') {
                    continue;
                }
                String full = longName != null ? longName : prefix.isEmpty() ? name : prefix + "/" + name;
                longName = null;
                while (full.startsWith("./")) {
                    full = full.substring(2);
                }
                if (kind == '5' && !full.endsWith("/")) {
                    full = full + "/";
                }
                out.put(full, kind == '0' || kind == '\0' ? content : new byte[0]);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean isGzip(byte[] b) {
        return b.length > 2 && (b[0] & 0xff) == 0x1f && (b[1] & 0xff) == 0x8b;
    }

    private static byte[] gunzip(byte[] b) throws IOException {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(b))) {
            return in.readAllBytes();
        }
    }

    private static boolean isZeroBlock(byte[] data, int pos) {
        for (int i = pos; i < pos + 512; i++) {
            if (data[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static String text(byte[] data, int off, int len) {
        int end = off;
        while (end < off + len && data[end] != 0) {
            end++;
        }
        return new String(data, off, end - off, StandardCharsets.UTF_8);
    }

    private static long octal(byte[] data, int off, int len) {
        String s = text(data, off, len).trim();
        return s.isEmpty() ? 0 : Long.parseLong(s, 8);
    }

    /** The {@code path} record of a PAX header ({@code "<len> path=<value>\n"}), or {@code null}. */
    private static String paxPath(byte[] content) {
        String all = new String(content, StandardCharsets.UTF_8);
        for (String line : all.split("\n")) {
            int sp = line.indexOf(' ');
            if (sp > 0 && line.startsWith("path=", sp + 1)) {
                return line.substring(sp + 1 + "path=".length());
            }
        }
        return null;
    }
}
