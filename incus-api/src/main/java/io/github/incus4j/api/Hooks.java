package io.github.incus4j.api;

/** Hook names passed to {@link Instance#onHook(String, java.util.Map)}, as liblxc calls them back. */
public final class Hooks {
    /** The instance has started ({@code HookStart}). */
    public static final String START = "onstart";
    /** The instance has stopped but its namespaces still exist ({@code HookStopNS}). */
    public static final String STOP_NS = "onstopns";
    /** The instance has stopped ({@code HookStop}). */
    public static final String STOP = "onstop";

    private Hooks() {
    }
}
