package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import org.apiguardian.api.API;

/** Values stored in {@code volatile.last_state.power}. */
@API(status = STABLE)
public final class PowerState {
    /** Recorded when the instance has started ({@code PowerStateRunning}). */
    public static final String RUNNING = "RUNNING";
    /** Recorded when the instance has stopped ({@code PowerStateStopped}). */
    public static final String STOPPED = "STOPPED";

    private PowerState() {
    }
}
