package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.lxc.binding.ffi.LibcNetns;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Runtime;
import org.apiguardian.api.API;

/**
 * Runs a piece of code inside another process's network namespace without forking: a fresh named daemon thread enters
 * it with {@code setns(CLONE_NEWNET)} (which moves only that thread), runs the code and ends, so no JVM thread stays in
 * a foreign namespace. What the code opens (sockets, netlink, {@code ioctl}s) sees that namespace; paths under
 * {@code /proc/self} still show the process's own.
 */
@API(status = INTERNAL)
public final class Netns {
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int O_RDONLY_CLOEXEC = 0x80000;

    private Netns() {
    }

    private static final class Holder {
        static final LibcNetns LIBC;
        static final RuntimeException FAILURE;

        static {
            LibcNetns l = null;
            RuntimeException f = null;
            try {
                l = LibraryLoader.create(LibcNetns.class).failImmediately()
                        .load(Platform.getNativePlatform().getStandardCLibraryName());
            } catch (LinkageError | RuntimeException e) {
                f = new NotSupportedException("Cannot bind libc's setns: " + e, e);
            }
            LIBC = l;
            FAILURE = f;
        }
    }

    /**
     * Calls {@code body} in the network namespace of {@code pid}.
     *
     * @throws NotSupportedException when setns cannot be bound
     * @throws IncusException when the namespace cannot be entered (the process is gone, no permission) or the body
     *     fails
     * @throws OperationTimeoutException when the body has not finished within {@code timeout}
     */
    public static <T> T call(int pid, Duration timeout, Callable<T> body) {
        if (Holder.FAILURE != null) {
            throw Holder.FAILURE;
        }
        LibcNetns libc = Holder.LIBC;
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            byte[] path = ("/proc/" + pid + "/ns/net\0").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            int fd = libc.open(path, O_RDONLY_CLOEXEC);
            if (fd < 0) {
                failure.set(new IncusException("Cannot open the network namespace of process " + pid + " (errno "
                        + LastError.getLastError(Runtime.getRuntime(libc)) + ")"));
                return;
            }
            int rc = libc.setns(fd, CLONE_NEWNET);
            int errno = LastError.getLastError(Runtime.getRuntime(libc));
            libc.close(fd);
            if (rc != 0) {
                failure.set(new IncusException("Cannot enter the network namespace of process " + pid + " (errno "
                        + errno + ")"));
                return;
            }
            try {
                result.set(body.call());
            } catch (Throwable e) {
                failure.set(e);
            }
        }, "incus4j-netns-" + pid);
        t.setDaemon(true);
        t.start();
        try {
            t.join(timeout.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while reading the network namespace of process " + pid, e);
        }
        if (t.isAlive()) {
            throw new OperationTimeoutException("Reading the network namespace of process " + pid
                    + " did not finish within " + timeout.toMillis() + " ms");
        }
        Throwable f = failure.get();
        if (f instanceof IncusException ie) {
            throw ie;
        }
        if (f != null) {
            throw new IncusException("Failed in the network namespace of process " + pid + ": " + f, f);
        }
        return result.get();
    }
}
