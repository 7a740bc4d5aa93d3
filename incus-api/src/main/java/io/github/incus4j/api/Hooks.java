package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/** Hook names passed to {@link Instance#onHook(String, java.util.Map)}, as liblxc calls them back. */
@API(status = EXPERIMENTAL)
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
