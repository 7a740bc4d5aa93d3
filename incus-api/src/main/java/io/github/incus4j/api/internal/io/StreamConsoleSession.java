package io.github.incus4j.api.internal.io;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.exec.ConsoleSession;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apiguardian.api.API;

/**
 * A console session over two streams and a completion: what every driver's console hands out the same way. The
 * driver keeps attaching and detaching ({@link #close()}), and completes {@link #disconnected} when the console ends.
 */
@API(status = INTERNAL)
public abstract class StreamConsoleSession implements ConsoleSession {
    /** Completed when the console is detached or goes away. */
    protected final CompletableFuture<Void> disconnected;
    private final InputStream output;
    private final OutputStream input;

    /**
     * @param output what the instance prints on its console
     * @param input keystrokes to the console
     * @param disconnected completed by the driver when the session ends
     */
    protected StreamConsoleSession(InputStream output, OutputStream input, CompletableFuture<Void> disconnected) {
        this.output = Objects.requireNonNull(output, "output");
        this.input = Objects.requireNonNull(input, "input");
        this.disconnected = Objects.requireNonNull(disconnected, "disconnected");
    }

    @Override
    public final InputStream output() {
        return output;
    }

    @Override
    public final OutputStream input() {
        return input;
    }

    @Override
    public final CompletionStage<Void> disconnected() {
        return disconnected;
    }
}
