package io.github.incus4j.api.exec;

import static org.apiguardian.api.API.Status.STABLE;

import java.time.Duration;
import java.util.OptionalInt;
import org.apiguardian.api.API;

/**
 * A command started by {@link io.github.incus4j.api.Instance#exec} (Incus's {@code instance.Cmd}). Close it to
 * release its streams; closing does not kill a command that still runs (send a signal for that).
 */
@API(status = STABLE)
public interface Cmd extends AutoCloseable {
    /** Conventional exit status of a command killed by signal {@code n}: {@code 128 + n}, as shells and Incus report. */
    static int exitStatusForSignal(int signal) {
        return 128 + signal;
    }

    /** The command's PID as seen from the host, or 0 where there is none to tell (a VM's agent). */
    int pid();

    /** Sends a signal (a Linux signal number, e.g. 15 for SIGTERM) to the command. */
    void signal(int signal);

    /** Resizes the pty of an interactive command. */
    void windowResize(int width, int height);

    /**
     * Waits for the command to end and returns its exit status ({@code 128 + n} for death by signal {@code n}).
     *
     * @throws io.github.incus4j.api.OperationTimeoutException if it is still running after {@code timeout}
     */
    int waitFor(Duration timeout);

    /** The exit status if the command has ended. */
    OptionalInt exitCode();

    /** Releases the command's streams and the thread pumping them. */
    @Override
    void close();
}
