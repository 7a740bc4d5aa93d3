package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apiguardian.api.API;

/**
 * The operations that run liblxc in a small helper process ({@code lxc-start}, {@code lxc-create},
 * {@code lxc-checkpoint}) rather than in the JVM.
 *
 * <p>Why not call {@code start()}/{@code create()} through the binding: liblxc's {@code start()} runs the container's
 * monitor as a {@code fork()} of the caller that never execs, so from a JVM every running container would keep a
 * JVM-sized copy of the heap resident; it also moves the calling process into the container's
 * {@code lxc.monitor.<name>} cgroup in every hierarchy (out of the JVM's own memory cgroup) and leaks one monitor cgroup
 * per start. {@code create()} with a template forks the JVM too, at a cost that grows with its heap. The JDK starts
 * processes with posix_spawn and closes every inherited fd above 2, so spawning the tools costs the same whatever the
 * heap, passes none of the JVM's fds on, and the daemonized monitor becomes a child of {@code lxc-start} (reparented
 * when it exits), never of the JVM.
 */
@API(status = INTERNAL)
public final class LxcTool {
    private static final System.Logger LOG = System.getLogger(LxcTool.class.getName());
    private static final File DEV_NULL = new File("/dev/null");

    private LxcTool() {
    }

    /**
     * Starts a defined container with {@code lxc-start -P lxcpath -n name} (daemonized: it returns once the container
     * is RUNNING).
     *
     * @throws OperationTimeoutException when {@code lxc-start} has not finished within {@code timeout} (it is killed)
     * @throws IncusException with lxc-start's output when it fails
     */
    public static void start(Path lxcpath, String name, Duration timeout) {
        run(List.of("lxc-start", "-P", lxcpath.toAbsolutePath().toString(), "-n", checkName(name)), timeout,
                "start container \"" + name + "\"");
    }

    /**
     * Creates a container from a template with {@code lxc-create -P lxcpath -n name -t template [-- templateArgs]}.
     *
     * @throws OperationTimeoutException when {@code lxc-create} has not finished within {@code timeout} (it is killed)
     * @throws IncusException with lxc-create's output when it fails
     */
    public static void create(Path lxcpath, String name, String template, Duration timeout, String... templateArgs) {
        if (template == null || template.isEmpty() || template.startsWith("-")) {
            throw new InvalidArgumentException("Invalid lxc template \"" + template + "\"");
        }
        List<String> command = new ArrayList<>(List.of("lxc-create", "-P", lxcpath.toAbsolutePath().toString(),
                "-n", checkName(name), "-t", template));
        if (templateArgs.length > 0) {
            command.add("--");
            command.addAll(List.of(templateArgs));
        }
        run(command, timeout, "create container \"" + name + "\"");
    }

    private static String checkName(String name) {
        if (name == null || name.isEmpty() || name.startsWith("-") || name.contains("/")) {
            throw new InvalidArgumentException("Invalid container name \"" + name + "\"");
        }
        return name;
    }

    /**
     * Checkpoints a running container with CRIU through {@code lxc-checkpoint -P lxcpath -n name -D dir} (with
     * {@code -s}: stops it once dumped). CRIU writes its images and {@code dump.log} into {@code dir}.
     *
     * @param environment added to the helper's environment (CRIU reads {@code CRIU_CONFIG_FILE}, the only way to pass
     *     it options through liblxc)
     * @throws IncusException with lxc-checkpoint's output when it fails
     */
    public static void checkpoint(Path lxcpath, String name, Path dir, boolean stop, Duration timeout,
            Map<String, String> environment) {
        List<String> command = new ArrayList<>(List.of("lxc-checkpoint", "-P", lxcpath.toAbsolutePath().toString(),
                "-n", checkName(name), "-D", dir.toAbsolutePath().toString()));
        if (stop) {
            command.add("-s");
        }
        run(command, timeout, "checkpoint container \"" + name + "\"", environment);
    }

    /**
     * One step of an iterative checkpoint (liblxc's {@code MIGRATE_PRE_DUMP} / {@code MIGRATE_DUMP} with
     * {@code predump_dir}): {@code lxc-checkpoint -p} dumps only the memory and leaves the container running, a
     * step without it is the final dump (stopping the container when {@code stop}); {@code predumpDir}, relative to
     * {@code dir} (e.g. {@code ../000}), names the previous pre-dump so that only pages changed since are written.
     *
     * @param predumpDir null for the first step
     */
    public static void checkpoint(Path lxcpath, String name, Path dir, boolean preDump, boolean stop,
            String predumpDir, Duration timeout, Map<String, String> environment) {
        List<String> command = new ArrayList<>(List.of("lxc-checkpoint", "-P", lxcpath.toAbsolutePath().toString(),
                "-n", checkName(name), "-D", dir.toAbsolutePath().toString()));
        if (preDump) {
            command.add("-p");
        } else if (stop) {
            command.add("-s");
        }
        if (predumpDir != null) {
            command.add("--predump-dir=" + predumpDir);
        }
        run(command, timeout, (preDump ? "pre-dump" : "checkpoint") + " container \"" + name + "\"", environment);
    }

    /**
     * Restores a container from CRIU images with {@code lxc-checkpoint -r} (daemonized: the restored container's
     * monitor is the helper's, never the JVM's); CRIU writes {@code restore.log} into {@code dir}.
     *
     * @param environment added to the helper's environment, as for {@link #checkpoint}
     * @throws IncusException with lxc-checkpoint's output when it fails
     */
    public static void restore(Path lxcpath, String name, Path dir, Duration timeout,
            Map<String, String> environment) {
        run(List.of("lxc-checkpoint", "-r", "-d", "-P", lxcpath.toAbsolutePath().toString(), "-n", checkName(name),
                "-D", dir.toAbsolutePath().toString()), timeout, "restore container \"" + name + "\"", environment);
    }

    /** How a helper process ended: its exit status and what it printed (stdout and stderr together). */
    public record Output(int exitCode, String text) {
    }

    private static void run(List<String> command, Duration timeout, String what) {
        run(command, timeout, what, Map.of());
    }

    private static void run(List<String> command, Duration timeout, String what, Map<String, String> environment) {
        Output out = exec(command, timeout, what, environment);
        if (out.exitCode() != 0) {
            throw new IncusException("Failed to " + what + ": " + command.get(0) + " exited with " + out.exitCode()
                    + (out.text().isEmpty() ? "" : ": " + out.text()));
        }
    }

    /**
     * Runs a helper to completion and returns how it ended. Output goes to a temporary file rather than a pipe: a
     * daemonized monitor could keep a pipe's write end open and a reader would then never see end-of-file.
     *
     * @param what what the helper does, for errors ({@code "start container \"c1\""})
     * @throws OperationTimeoutException when it has not finished within {@code timeout} (it is killed)
     * @throws IncusException when it cannot be run
     */
    public static Output exec(List<String> command, Duration timeout, String what) {
        return exec(command, timeout, what, Map.of());
    }

    private static Output exec(List<String> command, Duration timeout, String what, Map<String, String> environment) {
        Path output = null;
        try {
            output = Files.createTempFile("incus4j-lxc-", ".log");
            ProcessBuilder builder = new ProcessBuilder(command);
            builder.environment().putAll(environment);
            Process process = builder
                    .redirectInput(DEV_NULL)
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .start();
            if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
                throw new OperationTimeoutException("Failed to " + what + ": " + command.get(0)
                        + " did not finish within " + timeout.toMillis() + " ms");
            }
            return new Output(process.exitValue(), Files.readString(output, StandardCharsets.UTF_8).strip());
        } catch (IOException e) {
            throw new IncusException("Failed to " + what + ": cannot run " + command.get(0) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while waiting to " + what, e);
        } finally {
            if (output != null) {
                try {
                    Files.deleteIfExists(output);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, "Cannot delete " + output, e);
                }
            }
        }
    }
}
