package io.github.incus4j.api.internal.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Run in a child JVM by {@link RecordStoreTest}: rewrites {@code args[0]} with the contents of {@code args[1]} and
 * {@code args[2]} in turn until it is killed. Prints {@code writing} once the loop is under way. Loads nothing but
 * {@link RecordStore}, so that it starts fast.
 */
public final class CrashingWriterMain {
    private CrashingWriterMain() {
    }

    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        byte[][] versions = {Files.readAllBytes(Path.of(args[1])), Files.readAllBytes(Path.of(args[2]))};
        long n = 0;
        while (true) {
            RecordStore.writeAtomically(file, versions[(int) (n % 2)]);
            if (n++ == 0) {
                System.out.println("writing");
                System.out.flush();
            }
        }
    }
}
