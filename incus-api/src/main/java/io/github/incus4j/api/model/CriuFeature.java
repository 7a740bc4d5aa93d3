package io.github.incus4j.api.model;

/** CRIU features a migration can ask for ({@code liblxc.CriuFeatures}). */
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
