package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/** CRIU features a migration can ask for ({@code liblxc.CriuFeatures}). */
@API(status = EXPERIMENTAL)
public enum CriuFeature {
    /** {@code FEATURE_MEM_TRACK}: dirty-memory tracking for iterative pre-dumps. */
    MEM_TRACK(1),
    /** {@code FEATURE_LAZY_PAGES}: post-copy page serving. */
    LAZY_PAGES(2);

    private final int bit;

    CriuFeature(int bit) {
        this.bit = bit;
    }

    /** The bit liblxc uses. */
    public int bit() {
        return bit;
    }
}
