package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * A command run in a VM through {@link AgentCmd#wrapperArgs the exec wrapper} (by the agent or over SSH): its status
 * completes {@link #exit}, and the wrapper's 127/126 become {@code Command not found}/{@code Command not executable}
 * (a command that itself exits 127 or 126 is reported the same way). There is no host-side pid.
 */
abstract class GuestCmd implements Cmd {
    private static final int NOT_FOUND = 127;
    private static final int NOT_EXECUTABLE = 126;

    /** The command's status, once it has ended; failed when the connection to the guest was lost under it. */
    protected final CompletableFuture<Integer> exit = new CompletableFuture<>();

    /**
     * The connection to the guest (agent or SSH) ended before the command's status came. When the driver itself stops
     * the VM, the stop killed the command: 137, as for a container's. Otherwise (QEMU died or was killed, the guest
     * rebooted) nobody knows how the command ended, and a made-up status would be a lie: it fails with {@code why}'s
     * error instead (see {@link Machine#lostCommand()}).
     */
    protected final void lost(Supplier<IncusException> why) {
        IncusException e;
        try {
            e = why.get();
        } catch (RuntimeException unexpected) {
            e = new IncusException("Disconnected: " + unexpected.getMessage(), unexpected);
        }
        if (e == null) {
            exit.complete(Cmd.exitStatusForSignal(9));
        } else {
            exit.completeExceptionally(e);
        }
    }

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
            throw new OperationTimeoutException(ErrorTexts.commandStillRunning(timeout));
        } catch (ExecutionException e) {
            // A fresh exception of the same kind, so that the stack trace shows the caller.
            if (e.getCause() instanceof InstanceStateException s) {
                InstanceStateException fresh = new InstanceStateException(s.getMessage(), s.statusCode());
                fresh.addSuppressed(s); // where it was noticed (it has no cause to carry)
                throw fresh;
            }
            throw new IncusException("The command failed: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while waiting for the command", e);
        }
        if (code == NOT_FOUND) {
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_FOUND);
        }
        if (code == NOT_EXECUTABLE) {
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_EXECUTABLE);
        }
        return code;
    }

    @Override
    public OptionalInt exitCode() {
        if (exit.isCompletedExceptionally()) {
            return OptionalInt.empty(); // lost: waitFor tells why
        }
        Integer c = exit.getNow(null);
        return c == null ? OptionalInt.empty() : OptionalInt.of(c);
    }
}
