package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.io.Cmd;
import io.github.incus4j.api.spi.Texts;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A command run in a VM through {@link AgentCmd#wrapperArgs the exec wrapper} (by the agent or over SSH): its status
 * completes {@link #exit}, and the wrapper's 127/126 become {@code Command not found}/{@code Command not executable}
 * (a command that itself exits 127 or 126 is reported the same way). There is no host-side pid.
 */
abstract class GuestCmd implements Cmd {
    private static final int NOT_FOUND = 127;
    private static final int NOT_EXECUTABLE = 126;

    /** The command's status, once it has ended. */
    protected final CompletableFuture<Integer> exit = new CompletableFuture<>();

    @Override
    public int pid() {
        return 0;
    }

    @Override
    public int waitFor(Duration timeout) {
        int code;
        try {
            code = exit.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new OperationTimeoutException(Texts.commandStillRunning(timeout));
        } catch (ExecutionException e) {
            throw new IncusException("The command failed: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while waiting for the command", e);
        }
        if (code == NOT_FOUND) {
            throw new InvalidArgumentException(Texts.COMMAND_NOT_FOUND);
        }
        if (code == NOT_EXECUTABLE) {
            throw new InvalidArgumentException(Texts.COMMAND_NOT_EXECUTABLE);
        }
        return code;
    }

    @Override
    public OptionalInt exitCode() {
        Integer c = exit.getNow(null);
        return c == null ? OptionalInt.empty() : OptionalInt.of(c);
    }
}
