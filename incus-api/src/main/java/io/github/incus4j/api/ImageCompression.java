package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.Locale;
import org.apiguardian.api.API;

/**
 * The compression of an image tarball, as Incus's {@code compression_algorithm} and {@code incus publish
 * --compression} name them. Reading never needs it: the compression of an image is told by its magic bytes.
 */
@API(status = EXPERIMENTAL)
public enum ImageCompression {
    /** An uncompressed tarball. */
    NONE("none"),
    /** gzip, Incus's default. */
    GZIP("gzip"),
    BZIP2("bzip2"),
    /** The legacy {@code .lzma} format ({@code xz --format=lzma}). */
    LZMA("lzma"),
    XZ("xz"),
    ZSTD("zstd"),
    /**
     * A squashfs image (xz inside) of what would be the tarball, made by {@code tar2sqfs} of squashfs-tools-ng, as
     * {@code incus publish --compression squashfs} makes it. Export only: squashfs images are read as files
     * ({@code unsquashfs}), not as a compressed stream.
     */
    SQUASHFS("squashfs");

    private final String value;

    ImageCompression(String value) {
        this.value = value;
    }

    /** Incus's name, e.g. {@code gzip}. */
    public String value() {
        return value;
    }

    /**
     * The compression named {@code name} as Incus names it ({@code none}, {@code gzip}, {@code bzip2},
     * {@code lzma}, {@code xz}, {@code zstd}, {@code squashfs}; case-insensitive); {@link InvalidArgumentException} naming it otherwise.
     */
    public static ImageCompression of(String name) {
        if (name != null) {
            String n = name.trim().toLowerCase(Locale.ROOT);
            for (ImageCompression c : values()) {
                if (c.value.equals(n)) {
                    return c;
                }
            }
        }
        throw new InvalidArgumentException("Unsupported compression algorithm \"" + name
                + "\": use none, gzip, bzip2, lzma, xz, zstd or squashfs");
    }
}
