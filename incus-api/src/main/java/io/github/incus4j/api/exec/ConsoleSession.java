package io.github.incus4j.api.exec;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.CompletionStage;
import org.apiguardian.api.API;

/**
 * An attached console ({@code Console()} returns the pty master and a disconnect channel in Go). Read what the
 * instance prints from {@link #output()}, type into {@link #input()}; {@link #disconnected()} completes (normally or
 * with the error) when the console goes away. Closing detaches.
 */
@API(status = EXPERIMENTAL)
public interface ConsoleSession extends AutoCloseable {
    /** What the instance writes on its console. */
    InputStream output();

    /** Keystrokes to the instance's console. */
    OutputStream input();

    /** Completes when the console is detached or the instance stops. */
    CompletionStage<Void> disconnected();

    @Override
    void close();
}
