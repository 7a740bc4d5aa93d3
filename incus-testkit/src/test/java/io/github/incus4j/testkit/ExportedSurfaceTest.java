package io.github.incus4j.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.surface.ExportedSurface;
import io.github.incus4j.api.surface.ExportedSurfaceChecks;
import io.github.incus4j.testkit.fake.FakeDriver;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The testkit's exported surface (the fake driver, the contract, the JUnit extension: all user-facing) is the
 * committed {@code exported-surface.txt}; every public type has an {@code @API} status; no user-facing signature
 * mentions a type of incus-api's internal packages.
 */
class ExportedSurfaceTest extends ExportedSurfaceChecks {
    private static final ExportedSurface SURFACE = ExportedSurface.of(FakeDriver.class);

    ExportedSurfaceTest() {
        super(SURFACE);
    }

    @Test
    void noUserFacingSignatureMentionsAnInternalType() {
        Set<String> hidden = new TreeSet<>(SURFACE.hiddenPackages());
        hidden.addAll(ExportedSurface.of(Instance.class).hiddenPackages());
        assertTrue(hidden.contains("io.github.incus4j.api.internal.image"), hidden.toString());
        assertEquals(List.of(), SURFACE.leaksInto(hidden));
    }
}
