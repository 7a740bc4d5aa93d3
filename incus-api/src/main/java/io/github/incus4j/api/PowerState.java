package io.github.incus4j.api;

/** Values stored in {@code volatile.last_state.power}. */
public final class PowerState {
    /** Recorded when the instance has started ({@code PowerStateRunning}). */
    public static final String RUNNING = "RUNNING";
    /** Recorded when the instance has stopped ({@code PowerStateStopped}). */
    public static final String STOPPED = "STOPPED";

    private PowerState() {
    }
}
