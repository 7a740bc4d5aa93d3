package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** Incus's {@code instancetype.Type}: {@code Any = -1}, {@code Container = 0}, {@code VM = 1}. */
@API(status = STABLE)
public enum InstanceType {
    ANY(-1, ""),
    CONTAINER(0, "container"),
    VM(1, "virtual-machine");

    private final int id;
    private final String apiName;

    InstanceType(int id, String apiName) {
        this.id = id;
        this.apiName = apiName;
    }

    /** The database id Incus uses. */
    public int id() {
        return id;
    }

    /** The REST name: {@code "container"} or {@code "virtual-machine"} (empty for {@link #ANY}). */
    public String apiName() {
        return apiName;
    }

    /** Parses a REST name ({@code "container"}, {@code "virtual-machine"}); the empty string means {@link #ANY}. */
    public static InstanceType ofApiName(String name) {
        for (InstanceType t : values()) {
            if (t.apiName.equals(name)) {
                return t;
            }
        }
        throw new InvalidArgumentException("Invalid instance type: " + name);
    }

    @Override
    public String toString() {
        return apiName;
    }
}
