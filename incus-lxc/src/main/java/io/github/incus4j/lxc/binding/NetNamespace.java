package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.lxc.binding.ffi.NamespaceApi;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeoutException;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Runtime;
import org.apiguardian.api.API;

/**
 * Runs code (socket creation, interface queries) inside another process's network namespace without forking: one dedicated daemon thread
 * {@code setns(2)}s into {@code /proc/<pid>/ns/net}, runs the task (a socket keeps the namespace it was created in for
 * its whole life, whichever thread uses it later) and {@code setns}s back to the namespace it started in. A network
 * namespace switch moves only the calling thread, so the rest of the JVM never sees it. Should the way back fail, the
 * thread is retired (it never runs another task) and the next call gets a fresh one.
 */
@API(status = INTERNAL)
public final class NetNamespace {
    private static final System.Logger LOG = System.getLogger(NetNamespace.class.getName());
    private static final int CLONE_NEWNET = 0x40000000;
    private static final int O_RDONLY_CLOEXEC = 02000000;
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    /** A task run inside the namespace. */
    @FunctionalInterface
    public interface Task<T> {
        T run() throws IOException;
    }

    private static final class Holder {
        static final NamespaceApi LIBC;
        static final RuntimeException FAILURE;

        static {
            NamespaceApi libc = null;
            RuntimeException failure = null;
            try {
                libc = LibraryLoader.create(NamespaceApi.class).failImmediately()
                        .load(Platform.getNativePlatform().getStandardCLibraryName());
                // The JDK probes IPv6 support with a socket once per JVM: let that happen in the host's namespace.
                SocketChannel.open().close();
            } catch (LinkageError | RuntimeException | IOException e) {
                failure = new NotSupportedException("Cannot bind libc's setns(2): " + e, e);
            }
            LIBC = libc;
            FAILURE = failure;
        }
    }

    private static ExecutorService executor = newExecutor();

    private NetNamespace() {
    }

    static NamespaceApi libc() {
        if (Holder.FAILURE != null) {
            throw Holder.FAILURE;
        }
        return Holder.LIBC;
    }

    private static ExecutorService newExecutor() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "incus4j-lxc-netns");
            t.setDaemon(true);
            return t;
        });
    }

    /** Runs {@code task} in the network namespace of process {@code pid}; its IOException comes back as is. */
    public static <T> T run(int pid, Task<T> task) throws IOException {
        NamespaceApi libc = libc();
        ExecutorService exec;
        synchronized (NetNamespace.class) {
            exec = executor;
        }
        Future<T> f = exec.submit(() -> inNamespace(libc, exec, pid, task));
        try {
            return f.get(TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.cancel(true);
            throw new IncusException("Interrupted while opening a socket in the namespace of pid " + pid, e);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new OperationTimeoutException("Opening a socket in the network namespace of pid " + pid
                    + " did not finish within " + TIMEOUT.toSeconds() + " s");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IOException io) {
                throw io;
            }
            if (c instanceof RuntimeException r) {
                throw r;
            }
            throw new IncusException("Cannot open a socket in the namespace of pid " + pid + ": " + c, c);
        }
    }

    private static <T> T inNamespace(NamespaceApi libc, ExecutorService exec, int pid, Task<T> task)
            throws IOException {
        Runtime rt = Runtime.getRuntime(libc);
        int home = libc.open(FdCalls.c("/proc/thread-self/ns/net"), O_RDONLY_CLOEXEC);
        if (home < 0) {
            throw new IncusException("Cannot open this thread's network namespace, errno "
                    + LastError.getLastError(rt));
        }
        try {
            int target = libc.open(FdCalls.c("/proc/" + pid + "/ns/net"), O_RDONLY_CLOEXEC);
            if (target < 0) {
                throw new IncusException("Cannot open the network namespace of pid " + pid + ", errno "
                        + LastError.getLastError(rt) + " (has the instance stopped?)");
            }
            try {
                if (libc.setns(target, CLONE_NEWNET) != 0) {
                    throw new IncusException("Cannot enter the network namespace of pid " + pid + ", errno "
                            + LastError.getLastError(rt));
                }
            } finally {
                libc.close(target);
            }
            try {
                return task.run();
            } finally {
                if (libc.setns(home, CLONE_NEWNET) != 0) {
                    // Never run another task on a thread stuck in a container's namespace.
                    LOG.log(System.Logger.Level.ERROR, "Cannot return to the host network namespace (errno {0});"
                            + " retiring the thread", LastError.getLastError(rt));
                    synchronized (NetNamespace.class) {
                        if (executor == exec) {
                            executor = newExecutor();
                        }
                    }
                    exec.shutdownNow();
                }
            }
        } finally {
            libc.close(home);
        }
    }
}
