package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.surface.ExportedSurface;
import io.github.incus4j.api.surface.ExportedSurfaceChecks;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The remote driver's exported surface is the committed {@code exported-surface.txt}; every public type has an
 * {@code @API} status; no signature shows a type of incus-api's internal packages or of the libraries this module
 * uses inside (Jetty, BouncyCastle, Jackson).
 */
class ExportedSurfaceTest extends ExportedSurfaceChecks {
    private static final ExportedSurface SURFACE = ExportedSurface.of(IncusDriver.class);

    ExportedSurfaceTest() {
        super(SURFACE);
    }

    @Test
    void noSignatureMentionsAnInternalOrThirdPartyType() {
        assertEquals(List.of(), SURFACE.leaksInto(ExportedSurface.of(Instance.class).hiddenPackages()));
        assertEquals(List.of(), SURFACE.describe().stream().filter(l -> l.contains("org.eclipse.")
                || l.contains("org.bouncycastle.") || l.contains("com.fasterxml.")).toList());
    }
}
