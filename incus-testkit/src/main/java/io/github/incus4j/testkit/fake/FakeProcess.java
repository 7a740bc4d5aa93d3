package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.file.SftpClient;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.apiguardian.api.API;

/**
 * What a {@link FakeCommand} sees of its process: arguments, environment, working directory, ids, standard streams,
 * the instance's files, and the signals sent to it.
 *
 * <p>Signals. A command that never calls {@link #awaitSignal} behaves as a program without handlers: a signal whose
 * default action terminates (most of them) ends it at once with status {@code 128 + n}, and its thread is
 * interrupted. From its first call of {@link #awaitSignal} the command handles signals itself: they are queued for
 * it. {@code SIGKILL} (9) always kills. While the instance is frozen, the command's stream operations block.
 */
@API(status = EXPERIMENTAL)
public interface FakeProcess {
    /** The size of an interactive command's terminal. */
    record WindowSize(int width, int height) {
    }

    /** The arguments, {@code argv[0]} first, as the command was started. */
    List<String> argv();

    /** The environment (unmodifiable). */
    Map<String, String> env();

    /** The working directory (absolute). */
    String cwd();

    int uid();

    int gid();

    /** The process id, as the host sees it. */
    int pid();

    /** The name of the instance the command runs in. */
    String instanceName();

    /** Standard input (empty when the caller gave none). */
    InputStream stdin();

    /** Standard output. */
    OutputStream stdout();

    /** Standard error (the terminal, i.e. standard output, for an interactive command). */
    OutputStream stderr();

    /** The instance's files, relative paths resolved against {@link #cwd()}; new files belong to the process's ids. */
    SftpClient files();

    /** Whether the command runs on a terminal. */
    boolean interactive();

    /** The terminal size: from the request, then from {@code Cmd.windowResize}. */
    WindowSize windowSize();

    /**
     * Waits at most {@code timeout} for a signal and returns it; empty on timeout. Calling this makes the command
     * handle signals (see the class comment).
     *
     * @throws InterruptedException when the command is killed meanwhile
     */
    OptionalInt awaitSignal(Duration timeout) throws InterruptedException;

    /** The last signal delivered to the command (handled or not), if any. */
    OptionalInt lastSignal();

    /**
     * Runs another command in this process's context (environment, directory, ids, streams), resolved as
     * {@code exec} resolves it, and returns its status ({@code 127} when not found, {@code 126} when not executable,
     * with the shell's message on stderr).
     */
    int run(List<String> argv) throws Exception;

    /** Writes {@code text} (UTF-8) to stdout. */
    void print(String text);

    /** Writes {@code text} (UTF-8) to stderr. */
    void printErr(String text);
}
