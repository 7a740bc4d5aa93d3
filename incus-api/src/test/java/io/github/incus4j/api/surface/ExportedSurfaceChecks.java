package io.github.incus4j.api.surface;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The checks every module's {@code ExportedSurfaceTest} runs on its own surface: it matches the module's committed
 * {@code src/test/resources/exported-surface.txt}, and every public type has an {@code @API} status matching its
 * package. A module's test extends this and adds its own checks (what must not leak into its signatures).
 */
public abstract class ExportedSurfaceChecks {
    private final ExportedSurface surface;

    /** @param surface the module's surface, read once by the subclass */
    protected ExportedSurfaceChecks(ExportedSurface surface) {
        this.surface = surface;
    }

    @Test
    public void matchesTheCommittedList() {
        ExportedSurface.assertMatches(Path.of("src/test/resources/exported-surface.txt"), surface.describe());
    }

    @Test
    public void everyPublicTypeHasAMatchingStatus() {
        assertEquals(List.of(), surface.statusProblems());
    }
}
