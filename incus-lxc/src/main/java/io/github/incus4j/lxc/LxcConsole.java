package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.io.StreamConsoleSession;
import io.github.incus4j.lxc.binding.Liblxc;
import io.github.incus4j.lxc.binding.Pty;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * A container's console ({@code lxc.tty} 0): an {@code lxc-console} process (spawned by the JDK, never a fork of the
 * JVM) whose stdin, stdout and stderr are the slave of a pty allocated in the JVM; the session's streams are the
 * master. The escape key is disabled ({@code -e -1}: lxc-console's escape becomes a negative character, which it
 * ignores), so every byte typed reaches the container. {@link #attach} returns once lxc-console has taken the
 * terminal, so nothing typed from then on is lost. {@code lxc-console} ends when the container stops (its
 * console peer hangs up) or when the session is closed; either completes {@link #disconnected()}.
 */
final class LxcConsole extends StreamConsoleSession {
    private static final System.Logger LOG = System.getLogger(LxcConsole.class.getName());
    private static final long KILL_WAIT_MS = 2000;
    private static final Duration ATTACH_TIMEOUT = Duration.ofSeconds(10);

    private final Process process;
    private final Pty pty;

    private LxcConsole(Process process, Pty pty) {
        super(pty.output(), pty.input(), new CompletableFuture<>());
        this.process = process;
        this.pty = pty;
    }

    /** Attaches to the console of the running container {@code name} of {@code lxcpath}. */
    static LxcConsole attach(Liblxc liblxc, String lxcpath, String name, Executor threads) {
        Pty pty = liblxc.openPty();
        Process p;
        try {
            p = pty.spawn(List.of("lxc-console", "-P", lxcpath, "-n", name, "-t", "0", "-e", "-1"));
        } catch (IOException e) {
            pty.close();
            throw new NotSupportedException("Cannot run lxc-console (package lxc): " + e.getMessage(), e);
        }
        LxcConsole console = new LxcConsole(p, pty);
        threads.execute(console::awaitExit);
        try {
            console.awaitAttached();
        } catch (RuntimeException e) {
            console.close();
            throw e;
        }
        return console;
    }

    /**
     * Returns once lxc-console holds the container's console and has put the terminal in raw mode: it does so with
     * {@code TCSAFLUSH}, which would discard keystrokes written before.
     */
    private void awaitAttached() {
        try {
            if (pty.awaitRawMode(process, ATTACH_TIMEOUT)) {
                return;
            }
            if (process.isAlive()) {
                throw new OperationTimeoutException("lxc-console did not attach to the console within "
                        + ATTACH_TIMEOUT.toMillis() + " ms");
            }
            process.waitFor();
            pty.endOfOutput();
            String said = new String(pty.output().readAllBytes(), StandardCharsets.UTF_8).strip();
            throw new IncusException("lxc-console ended with status " + process.exitValue()
                    + (said.isEmpty() ? "" : ": " + said));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while attaching to the console", e);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read what lxc-console reported", e);
        }
    }

    private void awaitExit() {
        try {
            int status = process.waitFor();
            LOG.log(System.Logger.Level.DEBUG, "lxc-console {0} ended with status {1}", process.pid(), status);
        } catch (InterruptedException e) {
            // The driver is shutting down: the session is over for us too.
            Thread.currentThread().interrupt();
        } finally {
            pty.endOfOutput();
            disconnected.complete(null);
        }
    }

    /** Ends {@code lxc-console} (SIGTERM, then SIGKILL after 2 s) and closes the pty. */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(KILL_WAIT_MS, TimeUnit.MILLISECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(KILL_WAIT_MS, TimeUnit.MILLISECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        pty.endOfOutput();
        pty.close();
        disconnected.complete(null);
    }
}
