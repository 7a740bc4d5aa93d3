package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apiguardian.api.API;

/**
 * The programs {@code exec} can run in the fake driver's instances, by name: built-ins that behave like their
 * busybox namesakes ({@code true false echo cat env pwd id sh sleep ls mkdir rm touch hostname uname busybox}) and
 * the handlers a test registers. Shared by every instance of one {@link FakeInstances}. Thread-safe.
 *
 * <p>How {@code argv[0]} is resolved, as a kernel would resolve it in the instance: a bare name runs the handler
 * registered under that name, else a file found on {@code PATH} in the instance; a path must exist in the instance
 * ({@code Command not found} otherwise) and be executable ({@code Command not executable} otherwise), and runs the
 * handler registered under its base name ({@code /bin/sh} runs {@code sh}), or, for a {@code #!} script, its
 * interpreter. An existing executable that nothing simulates is {@code Command not executable}.
 *
 * <pre>{@code
 * incus.commands().register("apt-get", p -> {
 *     p.print("Reading package lists... Done\n");
 *     return 0;
 * });
 * }</pre>
 */
@API(status = EXPERIMENTAL)
public final class FakeCommands {
    private final Map<String, FakeCommand> handlers = new ConcurrentHashMap<>();

    FakeCommands() {
        Builtins.registerAll(handlers);
    }

    /**
     * Registers {@code handler} under {@code name} (a base name such as {@code apt-get}), replacing a built-in or
     * earlier handler of that name.
     */
    public FakeCommands register(String name, FakeCommand handler) {
        Objects.requireNonNull(handler, "handler");
        checkName(name);
        handlers.put(name, handler);
        return this;
    }

    /** Removes the handler of {@code name} (built-ins included); unknown names are ignored. */
    public FakeCommands unregister(String name) {
        checkName(name);
        handlers.remove(name);
        return this;
    }

    /** Restores the built-ins and removes every registered handler. */
    public void reset() {
        handlers.clear();
        Builtins.registerAll(handlers);
    }

    /** The handler of {@code name}, if any. */
    public Optional<FakeCommand> find(String name) {
        return Optional.ofNullable(handlers.get(name));
    }

    /** The names with a handler, sorted. */
    public Set<String> names() {
        return new TreeSet<>(handlers.keySet());
    }

    FakeCommand get(String name) {
        return handlers.get(name);
    }

    private static void checkName(String name) {
        if (name == null || name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new InvalidArgumentException("Invalid command name " + ErrorTexts.quote(String.valueOf(name))
                    + ": a base name without \"/\" is expected");
        }
    }
}
