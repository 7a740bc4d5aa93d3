package io.github.incus4j.examples;

import io.github.incus4j.api.Driver;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceDrivers;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.NoDriverException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.rest.ApiInstanceState;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A tour of the API on one instance: launch, exec, snapshot, file change, restore, stop, export with progress,
 * metrics, delete. Runs on the in-memory {@code fake} driver by default, or on a real one by name. The instance is
 * made from the busybox template, or from an Incus image tarball given with {@code --image} (a VM driver needs one:
 * {@code incus-qemu/guest/build-vm-image.sh} builds a small bootable one).
 *
 * <pre>
 * java io.github.incus4j.examples.Demo [--driver fake|lxc|qemu|incus] [--root DIR] [--image TARBALL]
 * </pre>
 *
 * Exit status: 0 when every step worked, 1 when a step failed, 2 for bad arguments or an unusable driver.
 */
public final class Demo {
    private static final Duration EXEC_TIMEOUT = Duration.ofSeconds(30);
    private static final String USAGE = "usage: Demo [--driver NAME] [--root DIR] [--image TARBALL]";

    private static final int BAR_WIDTH = 30;
    private static final int TAR_BLOCK = 512;

    private final PrintStream out;
    private final boolean liveProgress;
    private int step;
    private int lastQuarter = -1;

    private Demo(PrintStream out, boolean liveProgress) {
        this.out = out;
        this.liveProgress = liveProgress;
    }

    /** Runs the demo on standard output and exits with {@link #run}'s status when it is not 0. */
    public static void main(String[] args) {
        int status = run(args, System.out);
        if (status != 0) {
            System.exit(status);
        }
    }

    /**
     * Runs the demo, printing each step to {@code out}.
     *
     * @return the exit status: 0 success, 1 a step failed, 2 bad arguments or no usable driver
     */
    public static int run(String[] args, PrintStream out) {
        String driverName = "fake";
        Path root = null;
        Path image = null;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (List.of("--driver", "--root", "--image").contains(arg) && i + 1 == args.length) {
                out.println(arg + " needs a value");
                out.println(USAGE);
                return 2;
            }
            switch (arg) {
                case "--driver" -> driverName = args[++i];
                case "--root" -> root = Path.of(args[++i]);
                case "--image" -> image = Path.of(args[++i]);
                case "--help", "-h" -> {
                    out.println(USAGE);
                    return 0;
                }
                default -> {
                    out.println("unknown argument: " + arg);
                    out.println(USAGE);
                    return 2;
                }
            }
        }
        Driver driver;
        try {
            driver = InstanceDrivers.select(driverName);
        } catch (NoDriverException e) {
            out.println(e.getMessage());
            return 2;
        }
        // A live bar only where a person watches: a console, and the stream is the console's.
        boolean live = System.console() != null && out == System.out;
        Path workDir = null;
        try {
            // Searchable by others (711): an unprivileged container's root, a mapped id, must traverse it.
            workDir = Files.createTempDirectory("incus4j-demo-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
            Path instancesRoot = root != null ? root : workDir.resolve("root");
            try (Instances incus = driver.open(instancesRoot)) {
                new Demo(out, live).tour(incus, image, workDir.resolve("demo-image.tar"));
            }
            return 0;
        } catch (IncusException | IOException | UncheckedIOException e) {
            out.println("FAILED: " + e);
            return 1;
        } finally {
            if (workDir != null) {
                deleteTree(workDir, out);
            }
        }
    }

    /** Deletes the demo's directory, deepest first; {@code Files.walk} does not follow symlinks out of it. */
    private static void deleteTree(Path dir, PrintStream out) {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        } catch (IOException | UncheckedIOException e) {
            out.println("could not remove " + dir + ": " + e);
        }
    }

    private void tour(Instances incus, Path sourceImage, Path imageFile) throws IOException {
        out.println("incus4j demo on the " + incus.info().name() + " driver, root " + incus.root());
        InstanceType type = incus.info().type() == InstanceType.VM ? InstanceType.VM : InstanceType.CONTAINER;

        Instance demo = incus.create(InstanceArgs.builder("demo").type(type).description("incus4j demo").build(),
                sourceImage == null ? InstanceSource.template("busybox", Map.of()) : InstanceSource.image(sourceImage));
        demo.start(false);
        step("launch", "created " + type + " \"" + demo.name() + "\" from " + (sourceImage == null
                ? "the busybox template" : sourceImage.getFileName()) + " and started it: "
                + demo.state());

        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        int exit;
        try (Cmd cmd = demo.exec(ExecRequest.of("echo", "hello from " + demo.name()), null, stdout, null)) {
            exit = cmd.waitFor(EXEC_TIMEOUT);
        }
        step("exec", "echo hello from " + demo.name() + " -> \"" + stdout.toString(StandardCharsets.UTF_8).trim()
                + "\", exit code " + exit);

        demo.snapshot("before-change", null, false);
        step("snapshot", "took \"before-change\"; snapshots: " + demo.snapshots().stream().map(Instance::name).toList());

        String file = "/root/demo.txt";
        try (SftpClient sftp = demo.fileSftp()) {
            sftp.write(file, "written by the incus4j demo\n".getBytes(StandardCharsets.UTF_8));
            step("change a file", "wrote " + file + ": \""
                    + new String(sftp.readAllBytes(file), StandardCharsets.UTF_8).trim() + "\"");
        }

        demo.restore(demo.snapshots().get(0), false);
        try (SftpClient sftp = demo.fileSftp()) {
            step("restore", "back to \"before-change\": " + file + (sftp.exists(file) ? " is still there" : " is gone")
                    + "; state " + demo.state());
        }

        demo.stop(false);
        step("stop", "state " + demo.state());

        ImageMetadata metadata;
        try (OutputStream image = new BufferedOutputStream(Files.newOutputStream(imageFile))) {
            metadata = demo.export(image, null, Map.of("description", "incus4j demo"), null,
                    new ProgressTracker(estimateImageSize(demo), this::progress));
        }
        endProgress(Files.size(imageFile));
        step("export", "wrote a unified image of " + Files.size(imageFile) + " bytes to " + imageFile
                + " (architecture " + metadata.architecture() + ")");

        demo.start(false);
        List<String> metrics = demo.metrics(List.of()).toText().lines().toList();
        step("metrics", "started again; " + metrics.size() + " lines of OpenMetrics text, the first ones:");
        metrics.stream().limit(8).forEach(line -> out.println("     " + line));

        demo.stop(false);
        demo.delete(false);
        step("delete", "stopped and deleted \"demo\"; instances left: " + incus.list().size());
    }

    /**
     * What the export will write, so progress can be shown in percent. A VM's image is its disk. A container's is a
     * tarball of its (stopped) file tree: a 512-byte header per entry, contents padded to 512 bytes.
     */
    private static long estimateImageSize(Instance instance) {
        if (instance.type() == InstanceType.VM) {
            ApiInstanceState.Disk root = instance.renderState(List.of()).disk().get("root");
            return root == null ? 0 : root.usage();
        }
        try (SftpClient sftp = instance.fileSftp()) {
            return tarSize(sftp, "/") + 2 * TAR_BLOCK;
        }
    }

    private static long tarSize(SftpClient sftp, String dir) {
        long total = 0;
        for (SftpClient.Entry e : sftp.list(dir)) {
            total += TAR_BLOCK;
            if (e.attributes().isRegularFile()) {
                total += (e.attributes().size() + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
            } else if (e.attributes().isDirectory()) {
                total += tarSize(sftp, (dir.endsWith("/") ? dir : dir + "/") + e.name());
            }
        }
        return total;
    }

    private void step(String what, String happened) {
        out.println(++step + ". " + what + ": " + happened);
    }

    // ---- export progress ------------------------------------------------------------------------------------------

    /** A live bar on a console; elsewhere a line at each quarter, so logs stay short. */
    private void progress(int percent, long bytesPerSecond, long bytes) {
        String speed = human(bytesPerSecond) + "/s";
        if (liveProgress) {
            String shown = percent < 0 ? human(bytes) : bar(percent) + " " + percent + "%";
            out.print("\r   " + shown + "  " + speed + "   ");
        } else if (percent >= 0 && percent / 25 > lastQuarter) {
            lastQuarter = percent / 25;
            out.println("   export " + percent + "% (" + human(bytes) + ", " + speed + ")");
        }
    }

    /** Completes the bar (or the lines) at 100%: an estimate may have been off either way. */
    private void endProgress(long total) {
        if (liveProgress) {
            out.println("\r   " + bar(100) + " 100%  " + human(total) + "          ");
        } else if (lastQuarter < 4) {
            out.println("   export 100% (" + human(total) + ")");
        }
    }

    private static String bar(int percent) {
        int filled = percent * BAR_WIDTH / 100;
        return "[" + "#".repeat(filled) + " ".repeat(BAR_WIDTH - filled) + "]";
    }

    private static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        double value = bytes;
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        int unit = -1;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return String.format(java.util.Locale.ROOT, "%.1f %s", value, units[unit]);
    }
}
