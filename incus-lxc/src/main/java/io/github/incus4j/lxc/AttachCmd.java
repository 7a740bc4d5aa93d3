package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.io.Cmd;
import io.github.incus4j.api.spi.Texts;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * A command run in a container by an {@code lxc-attach} process (spawned with posix_spawn by the JDK, so its cost does
 * not grow with the heap, and no JVM fd reaches the container), its streams pumped on the driver's daemon threads.
 *
 * <p>{@code lxc-attach} 5.0 has no working-directory option, so the command runs through the container's
 * {@code /bin/sh}: {@code cd -- "$1" && shift && exec "$@"} — the argv itself is never parsed by a shell, and
 * {@code exec} replaces the shell so the command is the attached process. {@link #pid()} is the host pid of
 * {@code lxc-attach}; {@link #signal} goes to the command itself (the newest descendant of {@code lxc-attach}), since
 * {@code lxc-attach} without a pty forwards no signal. {@code lxc-attach} exits with the command's status,
 * {@code 128 + n} after death by signal {@code n}. A command that cannot be found or executed is detected when it
 * ends: the shell's {@code exec} exits 127 or 126, and {@link #waitFor} then throws Incus's
 * {@code Command not found} / {@code Command not executable} (a command that itself exits 127 or 126 is reported the
 * same way).
 */
final class AttachCmd implements Cmd {
    private static final String CWD_WRAPPER = "cd -- \"$1\" || exit 126; shift; exec \"$@\"";
    private static final int NOT_FOUND = 127;
    private static final int NOT_EXECUTABLE = 126;

    private final Process process;
    private final CountDownLatch pumps;
    private volatile Integer exit;

    private AttachCmd(Process process, int pumpCount) {
        this.process = process;
        this.pumps = new CountDownLatch(pumpCount);
    }

    /**
     * Starts {@code argv} in the container {@code name} of {@code lxcpath} as {@code uid:gid} in {@code cwd} with
     * exactly {@code env}.
     */
    static AttachCmd start(String lxcpath, String name, List<String> argv, Map<String, String> env, String cwd,
            int uid, int gid, InputStream stdin, OutputStream stdout, OutputStream stderr, Executor pumpThreads) {
        List<String> command = new ArrayList<>(List.of("lxc-attach", "-P", lxcpath, "-n", name, "--clear-env",
                "-u", Integer.toString(uid), "-g", Integer.toString(gid)));
        env.forEach((k, v) -> {
            command.add("-v");
            command.add(k + "=" + v);
        });
        command.addAll(List.of("--", "/bin/sh", "-c", CWD_WRAPPER, "sh", cwd));
        command.addAll(argv);
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.redirectInput(stdin == null ? ProcessBuilder.Redirect.from(new File("/dev/null"))
                : ProcessBuilder.Redirect.PIPE);
        pb.redirectOutput(stdout == null ? ProcessBuilder.Redirect.DISCARD : ProcessBuilder.Redirect.PIPE);
        pb.redirectError(stderr == null ? ProcessBuilder.Redirect.DISCARD : ProcessBuilder.Redirect.PIPE);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new NotSupportedException("Cannot run lxc-attach (package lxc): " + e.getMessage(), e);
        }
        AttachCmd cmd = new AttachCmd(p, (stdout == null ? 0 : 1) + (stderr == null ? 0 : 1));
        if (stdin != null) {
            pumpThreads.execute(() -> feed(stdin, p.getOutputStream()));
        }
        if (stdout != null) {
            pumpThreads.execute(() -> cmd.drain(p.getInputStream(), stdout));
        }
        if (stderr != null) {
            pumpThreads.execute(() -> cmd.drain(p.getErrorStream(), stderr));
        }
        return cmd;
    }

    /** Copies the caller's input to the command and closes it at end of input (or when the command is gone). */
    private static void feed(InputStream in, OutputStream toProcess) {
        try (OutputStream out = toProcess) {
            in.transferTo(out);
        } catch (IOException e) {
            // The command stopped reading (ended or closed its stdin): nothing more to deliver.
        }
    }

    private void drain(InputStream fromProcess, OutputStream out) {
        try (InputStream in = fromProcess) {
            byte[] buf = new byte[65536];
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
            }
            out.flush();
        } catch (IOException e) {
            // The caller's stream failed or the pipe closed: the command's status still tells how it ended.
        } finally {
            pumps.countDown();
        }
    }

    @Override
    public int pid() {
        return (int) process.pid();
    }

    @Override
    public void signal(int signal) {
        if (signal <= 0 || signal > 64) {
            throw new InvalidArgumentException("Invalid signal " + signal);
        }
        if (!process.isAlive()) {
            return;
        }
        long target = process.descendants().mapToLong(ProcessHandle::pid).max().orElse(process.pid());
        try {
            Process kill = new ProcessBuilder("kill", "-s", Integer.toString(signal), Long.toString(target))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            kill.waitFor(10, TimeUnit.SECONDS);
        } catch (IOException e) {
            throw new IncusException("Cannot send signal " + signal + " to pid " + target + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while sending signal " + signal, e);
        }
    }

    @Override
    public void windowResize(int width, int height) {
        throw new NotSupportedException("Window resize needs an interactive command, which the lxc driver does not"
                + " run yet");
    }

    @Override
    public int waitFor(Duration timeout) {
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new OperationTimeoutException("The command is still running after " + timeout.toMillis()
                        + " ms");
            }
            // The output is the caller's once waitFor returns: let the pumps finish (they end with the pipes).
            if (!pumps.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                throw new OperationTimeoutException("The command ended but its output was still being copied after "
                        + timeout.toMillis() + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while waiting for a command", e);
        }
        int status = process.exitValue();
        exit = status;
        if (status == NOT_FOUND) {
            throw new InvalidArgumentException(Texts.COMMAND_NOT_FOUND);
        }
        if (status == NOT_EXECUTABLE) {
            throw new InvalidArgumentException(Texts.COMMAND_NOT_EXECUTABLE);
        }
        return status;
    }

    @Override
    public OptionalInt exitCode() {
        Integer e = exit;
        if (e != null) {
            return OptionalInt.of(e);
        }
        return process.isAlive() ? OptionalInt.empty() : OptionalInt.of(process.exitValue());
    }

    /**
     * Closes the command's stdin (a command still reading it sees end of input, and the feeding thread ends); the
     * output pumps end by themselves when the command and its children close their output.
     */
    @Override
    public void close() {
        closeQuietly(process.getOutputStream());
    }

    private static void closeQuietly(OutputStream s) {
        try {
            s.close();
        } catch (IOException e) {
            // Already closed by the feeding thread.
        }
    }
}
