package io.github.incus4j.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.internal.config.ConfigKeys;
import io.github.incus4j.api.surface.ExportedSurface;
import io.github.incus4j.api.surface.ExportedSurfaceChecks;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * incus-api's exported surface (API and SPI) is the committed {@code exported-surface.txt}; every public type has an
 * {@code @API} status (INTERNAL exactly in the packages users cannot reach); no user-facing signature mentions an
 * internal type.
 */
class ExportedSurfaceTest extends ExportedSurfaceChecks {
    private static final ExportedSurface SURFACE = ExportedSurface.of(Instance.class);

    ExportedSurfaceTest() {
        super(SURFACE);
    }

    @Test
    void noUserFacingSignatureMentionsAnInternalType() {
        assertTrue(SURFACE.hiddenPackages().contains("io.github.incus4j.api.internal.config"), SURFACE.hiddenPackages()
                .toString());
        assertEquals(List.of(), SURFACE.leaksInto(SURFACE.hiddenPackages()));
    }

    @Test
    void internalPackagesGoOnlyToOurModules() {
        List<String> internal = SURFACE.describe().stream().filter(l -> l.startsWith("internal ")).toList();
        assertTrue(internal.size() >= 6, internal.toString());
        for (String line : internal) {
            assertTrue(line.endsWith(" to io.github.incus4j.lxc, io.github.incus4j.qemu, io.github.incus4j.remote, "
                    + "io.github.incus4j.testkit"), line);
        }
    }

    /** The signature scan sees through generics, arrays and throws clauses. */
    @Test
    void theScanFindsMentionsEverywhereInASignature() {
        abstract class Leaky {
            public Map<String, ConfigKeys[]> field;

            public abstract List<? extends ConfigKeys> result();

            protected abstract void take(Map<ConfigKeys, String> in) throws NotFoundException;
        }
        List<String> found = new ArrayList<>();
        ExportedSurface.signatureTypes(Leaky.class, (where, t) -> {
            if (t == ConfigKeys.class) {
                found.add(where);
            }
        });
        assertEquals(3, found.size(), found.toString());
    }
}
