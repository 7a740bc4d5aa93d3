package io.github.incus4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The examples show what a user writes: they import incus4j's API and testkit only, never the driver SPI, an internal
 * package of incus-api, or a driver's implementation packages (lxc's binding, qemu's QMP client).
 */
class ExamplesUseOnlyTheApiTest {
    private static final Pattern IMPORT = Pattern.compile("(?m)^import\\s+(?:static\\s+)?(io\\.github\\.incus4j\\.[\\w.]+)");
    private static final Pattern NOT_FOR_USERS = Pattern.compile(
            "io\\.github\\.incus4j\\.(api\\.(spi|internal)\\b|lxc\\.binding\\b|qemu\\.qmp\\b).*");

    @Test
    void noExampleImportsTheSpiOrInternalCode() throws IOException {
        List<String> offending = new ArrayList<>();
        int imports = 0;
        for (Path root : List.of(Path.of("src/main/java"), Path.of("src/test/java"))) {
            try (Stream<Path> files = Files.walk(root)) {
                for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
                    Matcher m = IMPORT.matcher(Files.readString(f));
                    while (m.find()) {
                        imports++;
                        if (NOT_FOR_USERS.matcher(m.group(1)).matches()) {
                            offending.add(root.relativize(f) + ": " + m.group(1));
                        }
                    }
                }
            }
        }
        assertTrue(imports > 10, "found only " + imports + " incus4j imports: run from the examples module");
        assertEquals(List.of(), offending);
    }

    @Test
    void thePatternRecognisesWhatUsersMustNotImport() {
        assertTrue(NOT_FOR_USERS.matcher("io.github.incus4j.api.spi.AbstractInstances").matches());
        assertTrue(NOT_FOR_USERS.matcher("io.github.incus4j.api.internal.image.ImageTar").matches());
        assertTrue(NOT_FOR_USERS.matcher("io.github.incus4j.lxc.binding.Liblxc").matches());
        assertFalse(NOT_FOR_USERS.matcher("io.github.incus4j.api.exec.Cmd").matches());
        assertFalse(NOT_FOR_USERS.matcher("io.github.incus4j.api.Instance").matches());
    }
}
