package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.util.Locale;
import org.apiguardian.api.API;

/**
 * Incus's {@code osarch} ids, the {@code int} that {@link ConfigReader#architecture()} returns, and their names as they
 * appear in JSON and {@code metadata.yaml} ({@code x86_64}, {@code aarch64}...).
 */
@API(status = EXPERIMENTAL)
public final class Architectures {
    public static final int UNKNOWN = 0;
    public static final int I686 = 1;
    public static final int X86_64 = 2;
    public static final int ARMV7L = 3;
    public static final int AARCH64 = 4;
    public static final int PPC = 5;
    public static final int PPC64 = 6;
    public static final int PPC64LE = 7;
    public static final int S390X = 8;
    public static final int MIPS = 9;
    public static final int MIPS64 = 10;
    public static final int RISCV32 = 11;
    public static final int RISCV64 = 12;
    public static final int LOONGARCH64 = 13;

    private static final String[] NAMES = {
        "unknown", "i686", "x86_64", "armv7l", "aarch64", "ppc", "ppc64", "ppc64le", "s390x", "mips", "mips64",
        "riscv32", "riscv64", "loongarch64"
    };

    private Architectures() {
    }

    /** The name of an architecture id, e.g. {@code 2 -> "x86_64"}. */
    public static String name(int id) {
        if (id < 0 || id >= NAMES.length) {
            throw new InvalidArgumentException("Architecture isn't supported: " + id);
        }
        return NAMES[id];
    }

    /** The id of an architecture name; accepts the usual aliases ({@code amd64}, {@code arm64}). */
    public static int id(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        switch (n) {
            case "amd64":
                return X86_64;
            case "arm64":
                return AARCH64;
            case "i386":
            case "i586":
                return I686;
            default:
                for (int i = 1; i < NAMES.length; i++) {
                    if (NAMES[i].equals(n)) {
                        return i;
                    }
                }
                throw new InvalidArgumentException("Architecture isn't supported: " + name);
        }
    }

    /** The architecture of the running JVM's host. */
    public static int host() {
        String arch = System.getProperty("os.arch", "unknown");
        try {
            return id(arch);
        } catch (InvalidArgumentException e) {
            return UNKNOWN;
        }
    }
}
