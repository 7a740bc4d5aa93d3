package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/** How a filesystem can be shifted for a container ({@code idmap.StorageType}). */
@API(status = EXPERIMENTAL)
public enum StorageType {
    /** No kernel-side shifting: files are shifted on disk. */
    NONE("none"),
    /** Idmapped mounts are available. */
    IDMAPPED("idmapped");

    private final String value;

    StorageType(String value) {
        this.value = value;
    }

    public String value() {
        return value;
    }

    @Override
    public String toString() {
        return value;
    }
}
