package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.lxc.binding.Liblxc;
import io.github.incus4j.lxc.binding.Pty;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * A command run in a container by an {@code lxc-attach} process (spawned with posix_spawn by the JDK, so its cost does
 * not grow with the heap, and no JVM fd reaches the container), its streams pumped on the driver's daemon threads.
 * lxc-attach runs from the sealed in-memory copy {@link Liblxc#attachProgram()} names, which spares it re-executing
 * itself from a fresh copy every time.
 *
 * <p>{@code lxc-attach} 5.0 has no working-directory option, so the command runs through the container's
 * {@code /bin/sh}: {@code cd -- "$1" && shift && exec "$@"} — the argv itself is never parsed by a shell, and
 * {@code exec} replaces the shell so the command is the attached process. {@link #pid()} is the host pid of
 * {@code lxc-attach}; {@link #signal} goes to the command itself (the descendant of {@code lxc-attach} that entered the
 * container's pid namespace), since {@code lxc-attach} without a pty forwards no signal. {@code lxc-attach} exits
 * with the command's status, {@code 128 + n} after death by signal {@code n}. A command that cannot be found or executed is detected when it
 * ends: the shell's {@code exec} exits 127 or 126, and {@link #waitFor} then throws Incus's
 * {@code Command not found} / {@code Command not executable} (a command that itself exits 127 or 126 is reported the
 * same way).
 *
 * <p>Interactive commands run on a terminal: a {@link Pty} allocated in the JVM whose slave becomes the controlling
 * terminal of {@code lxc-attach} ({@code setsid -c}, which execs it in a new session: lxc-attach proxies a terminal
 * only when it can open {@code /dev/tty}). lxc-attach then allocates a pty inside the container for the command (so
 * {@code tty} there names the container's {@code /dev/pts/N}), copies our terminal's size to it, sets ours raw and
 * relays both ways; a {@link #windowResize} on our master reaches it as {@code SIGWINCH} (it is the foreground
 * process group of our terminal) and it resizes the inner pty. Output and errors share the terminal, as Incus's
 * interactive exec. The caller's input is typed once lxc-attach has set raw mode (it does so with
 * {@code TCSAFLUSH}, which would discard earlier keystrokes), and its end is typed as Ctrl+D.
 */
final class AttachCmd implements Cmd {
    private static final String CWD_WRAPPER = "cd -- \"$1\" || exit 126; shift; exec \"$@\"";
    private static final int NOT_FOUND = 127;
    private static final int NOT_EXECUTABLE = 126;
    private static final byte EOT = 4;
    private static final Duration RAW_MODE_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration COMMAND_START_WAIT = Duration.ofSeconds(10);

    private final Process process;
    private final CountDownLatch pumps;
    private final Pty pty;
    private volatile Integer exit;
    private volatile boolean closed;

    private AttachCmd(Process process, int pumpCount, Pty pty) {
        this.process = process;
        this.pumps = new CountDownLatch(pumpCount);
        this.pty = pty;
    }

    /** The lxc-attach command line that runs {@code argv} as {@link #start} describes. */
    private static List<String> attachCommand(String program, String lxcpath, String name, List<String> argv,
            Map<String, String> env, String cwd, int uid, int gid) {
        List<String> command = new ArrayList<>(List.of(program, "-P", lxcpath, "-n", name, "--clear-env",
                "-u", Integer.toString(uid), "-g", Integer.toString(gid)));
        env.forEach((k, v) -> {
            command.add("-v");
            command.add(k + "=" + v);
        });
        command.addAll(List.of("--", "/bin/sh", "-c", CWD_WRAPPER, "sh", cwd));
        command.addAll(argv);
        return command;
    }

    /**
     * Starts {@code argv} in the container {@code name} of {@code lxcpath} as {@code uid:gid} in {@code cwd} with
     * exactly {@code env}, running lxc-attach as {@code program} ({@link Liblxc#attachProgram()}).
     */
    static AttachCmd start(String program, String lxcpath, String name, List<String> argv, Map<String, String> env,
            String cwd, int uid, int gid, InputStream stdin, OutputStream stdout, OutputStream stderr,
            Executor pumpThreads) {
        ProcessBuilder pb = new ProcessBuilder(attachCommand(program, lxcpath, name, argv, env, cwd, uid, gid));
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
        AttachCmd cmd = new AttachCmd(p, (stdout == null ? 0 : 1) + (stderr == null ? 0 : 1), null);
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

    /**
     * Starts {@code argv} as {@link #start} does, on a terminal of {@code width} x {@code height} (left at 0x0 when
     * either is 0): {@code stdout} receives what the command writes on it, errors included, and {@code stdin} is
     * typed on it.
     */
    static AttachCmd startInteractive(Liblxc liblxc, String lxcpath, String name, List<String> argv,
            Map<String, String> env, String cwd, int uid, int gid, int width, int height, InputStream stdin,
            OutputStream stdout, Executor pumpThreads) {
        Pty pty = liblxc.openPty();
        Process p;
        try {
            if (width > 0 && height > 0) {
                pty.resize(width, height); // before lxc-attach copies it to the container's pty
            }
            List<String> command = new ArrayList<>(List.of("setsid", "-c"));
            command.addAll(attachCommand(liblxc.attachProgram(), lxcpath, name, argv, env, cwd, uid, gid));
            p = pty.spawn(command);
        } catch (RuntimeException e) {
            pty.close();
            throw e;
        } catch (IOException e) {
            pty.close();
            throw new NotSupportedException("Cannot run lxc-attach through setsid (packages lxc, util-linux): "
                    + e.getMessage(), e);
        }
        // lxc-attach holds the slave now: our output ends when it exits and closes it.
        pty.releaseSlave();
        AttachCmd cmd = new AttachCmd(p, 1, pty);
        pumpThreads.execute(() -> cmd.drainTerminal(stdout));
        if (stdin != null) {
            pumpThreads.execute(() -> cmd.type(stdin));
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

    /** Types the caller's input on the terminal once lxc-attach has set it raw, then Ctrl+D. */
    private void type(InputStream in) {
        try {
            if (!pty.awaitRawMode(process, RAW_MODE_TIMEOUT)) {
                return; // lxc-attach failed or ended: nobody reads the terminal any more
            }
            OutputStream terminal = pty.input();
            byte[] buf = new byte[8192];
            int n;
            while (!closed && (n = in.read(buf)) >= 0) {
                if (!closed) {
                    terminal.write(buf, 0, n);
                }
            }
            if (!closed) {
                // A program reading lines takes Ctrl+D on an empty line as the end of its input.
                terminal.write(EOT);
            }
        } catch (IOException | IllegalStateException e) {
            // The command ended (the terminal is gone) or the caller's input failed: nothing more to type.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Copies the terminal's output to {@code out} (or nowhere, still draining it so that the command never blocks)
     * until lxc-attach has exited and its output is read, then closes the pty.
     */
    private void drainTerminal(OutputStream out) {
        OutputStream sink = out;
        Onlcr onlcr = new Onlcr();
        try {
            InputStream in = pty.output();
            byte[] buf = new byte[65536];
            byte[] unmapped = new byte[buf.length + 1];
            int n;
            while ((n = in.read(buf)) >= 0) {
                if (sink == null) {
                    continue;
                }
                try {
                    int m = onlcr.undo(buf, n, unmapped, pty.mapsNewlines());
                    sink.write(unmapped, 0, m);
                    sink.flush();
                } catch (IOException e) {
                    sink = null; // the caller's stream failed: keep draining so that the command can go on
                }
            }
            if (sink != null && onlcr.heldCr) {
                sink.write('\r');
                sink.flush();
            }
        } catch (IOException e) {
            // Reading the terminal failed: the command's status still tells how it ended.
        } finally {
            pty.close();
            pumps.countDown();
        }
    }

    /**
     * Undoes the terminal's {@code ONLCR}: lxc-attach 5.0 leaves it on for our side of the relay, so each LF of the
     * command's output (already CR LF from the container's pty) arrives as CR CR LF. The CR inserted before each LF
     * is dropped (a CR ending a chunk waits for the next byte), so the caller sees what the container's pty wrote.
     */
    private static final class Onlcr {
        private boolean heldCr;

        int undo(byte[] in, int n, byte[] out, boolean mapped) {
            int o = 0;
            for (int i = 0; i < n; i++) {
                byte b = in[i];
                if (heldCr) {
                    heldCr = false;
                    if (b != '\n') {
                        out[o++] = '\r';
                    }
                }
                if (mapped && b == '\r') {
                    heldCr = true;
                } else {
                    out[o++] = b;
                }
            }
            return o;
        }
    }

    @Override
    public int pid() {
        return (int) process.pid();
    }

    /**
     * The command's host pid: the descendant of lxc-attach that entered the container's pid namespace (the wrapper
     * shell, which keeps its pid when it execs the command; not the command's own children), waiting while
     * lxc-attach is still starting it (a host-side helper of lxc-attach must not receive the signal); lxc-attach
     * itself if none appears within the wait; 0 once lxc-attach has ended.
     */
    private long commandPid() {
        String hostNamespace = pidNamespace(ProcessHandle.current().pid());
        long deadline = System.nanoTime() + COMMAND_START_WAIT.toNanos();
        while (process.isAlive()) {
            OptionalLong inside = process.descendants()
                    .filter(p -> isInside(p.pid(), hostNamespace)
                            && p.parent().filter(parent -> !isInside(parent.pid(), hostNamespace)).isPresent())
                    .mapToLong(ProcessHandle::pid).findFirst();
            if (inside.isPresent()) {
                return inside.getAsLong();
            }
            if (System.nanoTime() - deadline > 0) {
                return process.pid();
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted while waiting for the command to start", e);
            }
        }
        return 0;
    }

    private static boolean isInside(long pid, String hostNamespace) {
        String ns = pidNamespace(pid);
        return ns != null && !ns.equals(hostNamespace);
    }

    /** The pid namespace of a process ({@code pid:[inode]}), or null once it is gone. */
    private static String pidNamespace(long pid) {
        try {
            return Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns", "pid")).toString();
        } catch (IOException e) {
            return null;
        }
    }

    @Override
    public void signal(int signal) {
        if (signal <= 0 || signal > 64) {
            throw new InvalidArgumentException("Invalid signal " + signal);
        }
        long target = commandPid();
        if (target == 0) {
            return; // the command has ended
        }
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

    /** Resizes the terminal of an interactive command; a command without one has nothing to resize. */
    @Override
    public void windowResize(int width, int height) {
        if (width <= 0 || height <= 0 || width > 0xffff || height > 0xffff) {
            throw new InvalidArgumentException("Invalid window size: " + width + "x" + height);
        }
        if (pty == null) {
            return;
        }
        try {
            pty.resize(width, height);
        } catch (IllegalStateException e) {
            // The command has ended and its terminal is gone.
        }
    }

    @Override
    public int waitFor(Duration timeout) {
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new OperationTimeoutException(ErrorTexts.commandStillRunning(timeout));
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
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_FOUND);
        }
        if (status == NOT_EXECUTABLE) {
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_EXECUTABLE);
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
     * output pumps end by themselves when the command and its children close their output. For an interactive command,
     * stops typing the caller's input; its terminal is released when it ends.
     */
    @Override
    public void close() {
        closed = true;
        if (pty == null) {
            closeQuietly(process.getOutputStream());
        }
    }

    private static void closeQuietly(OutputStream s) {
        try {
            s.close();
        } catch (IOException e) {
            // Already closed by the feeding thread.
        }
    }
}
