package io.github.incus4j.api.surface;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;

/** How a changed surface is reported: the lines removed and added, under the package they belong to. */
class SurfaceDiffTest {
    private static final List<String> BEFORE = List.of("# header", "", "package a", "  A STABLE", "  B STABLE", "",
            "package b", "  C EXPERIMENTAL");

    @Test
    void showsRemovedAndAddedLinesUnderTheirPackage() {
        List<String> after = List.of("# header", "", "package a", "  A STABLE", "  B EXPERIMENTAL", "", "package b",
                "  C EXPERIMENTAL", "  D EXPERIMENTAL");
        assertEquals(List.of("  package a", "-   B STABLE", "+   B EXPERIMENTAL", "  package b",
                "+   D EXPERIMENTAL"), ExportedSurface.diff(BEFORE, after));
    }

    @Test
    void noDifferenceNoLines() {
        assertEquals(List.of(), ExportedSurface.diff(BEFORE, BEFORE));
    }

    @Test
    void aMismatchFailsWithTheDiff(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("surface.txt");
        Files.write(file, BEFORE);
        ExportedSurface.assertMatches(file, BEFORE, false);
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> ExportedSurface.assertMatches(file, List.of("# header", "", "package a", "  A STABLE"), false));
        assertTrue(e.getMessage().contains("-   B STABLE"), e.getMessage());
        assertTrue(e.getMessage().contains("-   C EXPERIMENTAL"), e.getMessage());
        assertTrue(e.getMessage().contains(ExportedSurface.UPDATE_PROPERTY), e.getMessage());
        ExportedSurface.assertMatches(file, List.of("# header"), true);
        assertEquals(List.of("# header"), Files.readAllLines(file), "update rewrites the file");
    }
}
