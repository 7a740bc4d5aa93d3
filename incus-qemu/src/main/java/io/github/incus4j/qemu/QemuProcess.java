package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A daemonized QEMU: started with {@code -daemonize -pidfile}, so that it outlives neither more nor less than the
 * VM (not the JVM's child: a JVM exit does not stop VMs, as Incus's daemon restart does not). The pid comes from the
 * pidfile and is only trusted while {@code /proc/<pid>/cmdline} still names QEMU and the VM's marker (its UUID).
 */
final class QemuProcess {
    private static final Duration LAUNCH_TIMEOUT = Duration.ofSeconds(60);

    private final int pid;
    private final String marker;

    private QemuProcess(int pid, String marker) {
        this.pid = pid;
        this.marker = marker;
    }

    /**
     * Runs {@code cmd} (which must hold {@code -daemonize -pidfile <pidfile>}) and waits for the foreground process,
     * which exits once the daemon is set up (sockets listening). QEMU's early messages go to {@code earlyLog}.
     *
     * @throws IncusException with QEMU's message when it fails to start
     */
    static QemuProcess launch(List<String> cmd, Path pidfile, Path earlyLog) {
        try {
            Files.deleteIfExists(pidfile);
            PrivateFiles.createDirectories(earlyLog.getParent());
            PrivateFiles.write(earlyLog, new byte[0]); // made 0600 here: the redirect below keeps the mode
            // umask 077 for what QEMU makes before it daemonizes (its log); after, it sets its own umask, 027: what it
            // makes then (sockets, screendumps, the state files of its exec: migrations) is handled where it is made.
            Process p = new ProcessBuilder(PrivateFiles.withPrivateUmask(cmd)).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(earlyLog.toFile()).redirectErrorStream(true).start();
            if (!p.waitFor(LAUNCH_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new OperationTimeoutException("QEMU did not start within " + LAUNCH_TIMEOUT);
            }
            if (p.exitValue() != 0) {
                // The daemonized child reports some errors itself, possibly just after the parent's exit.
                String msg = "";
                for (int i = 0; i < 20 && msg.isEmpty(); i++) {
                    msg = Files.readString(earlyLog, StandardCharsets.UTF_8).trim();
                    if (msg.isEmpty()) {
                        Thread.sleep(10);
                    }
                }
                throw new IncusException("Failed to run: " + cmd.get(0) + ": " + (msg.isEmpty() ? "exit status "
                        + p.exitValue() : msg));
            }
            Optional<Integer> pid = readPid(pidfile);
            if (pid.isEmpty()) {
                throw new IncusException("QEMU started but wrote no pid to " + pidfile);
            }
            return new QemuProcess(pid.get(), markerOf(cmd));
        } catch (IOException e) {
            throw new IncusException("Cannot start QEMU: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while starting QEMU", e);
        }
    }

    /** The process named by {@code pidfile} if it is alive and its command line holds {@code marker}. */
    static Optional<QemuProcess> find(Path pidfile, String marker) {
        return readPid(pidfile).filter(p -> matches(p, marker)).map(p -> new QemuProcess(p, marker));
    }

    private static String markerOf(List<String> cmd) {
        int i = cmd.indexOf("-uuid");
        return i >= 0 && i + 1 < cmd.size() ? cmd.get(i + 1) : "qemu";
    }

    private static Optional<Integer> readPid(Path pidfile) {
        try {
            return Optional.of(Integer.parseInt(Files.readString(pidfile).trim()));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** Incus's check: the command line names {@code qemu-system} and the VM's UUID. */
    private static boolean matches(int pid, String marker) {
        try {
            String cmdline = new String(Files.readAllBytes(Path.of("/proc", Integer.toString(pid), "cmdline")),
                    StandardCharsets.UTF_8);
            return cmdline.contains("qemu-system") && cmdline.contains(marker);
        } catch (IOException e) {
            return false;
        }
    }

    int pid() {
        return pid;
    }

    /** Whether the process still runs (a zombie or a reused pid does not count). */
    boolean isAlive() {
        if (!matches(pid, marker)) {
            return false;
        }
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Waits at most {@code timeout} for the process to end. */
    boolean awaitExit(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        long sleep = 1;
        while (isAlive()) {
            if (System.nanoTime() >= deadline) {
                return false;
            }
            try {
                Thread.sleep(sleep);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return !isAlive();
            }
            sleep = Math.min(20, sleep * 2);
        }
        return true;
    }

    /** SIGKILL, then waits for the process to go. */
    void kill() {
        if (isAlive()) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        if (!awaitExit(Duration.ofSeconds(10))) {
            throw new IncusException("QEMU (pid " + pid + ") did not die after SIGKILL");
        }
    }

    /** The clock tick (since boot) at which the process started, from {@code /proc/<pid>/stat} (field 22). */
    long startTicks() {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[19]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
