package io.github.incus4j.lxc;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.lxc.binding.LxcContainer;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * Not a test: the measurements of {@code benchmarks/lxc.sh} (run as root), on one busybox container it creates in a
 * temporary root and deletes. Prints {@code name value unit} lines on stdout. The first argument is the kind of
 * container, {@code privileged} or {@code unprivileged} (the driver's id map from {@code /etc/subuid}); then
 * <ul>
 * <li>nothing: every metric of one run;</li>
 * <li>{@code exec NAME}: only {@code exec_true_ms}, printed as {@code NAME} (the script runs it again in a JVM with a
 * 4 GB pre-touched heap: spawning must not cost more with a bigger heap);</li>
 * <li>{@code create NAME COUNT METADATA ROOTFS [NAME COUNT METADATA ROOTFS]...}: {@code create()} from each split
 * image (metadata tarball, rootfs tarball), the mean of {@code COUNT} creations printed as {@code NAME}, after one
 * untimed creation from the first image to warm the JVM up; each container is deleted, untimed.</li>
 * </ul>
 *
 * <p>{@code state_query_ns} is liblxc's {@code state()} through the binding, like for like with go-lxc's
 * {@code State()}; {@code state_cached_ns} is {@code statusCode()}, answered from the status the driver's watcher
 * keeps; the rest goes through the driver's public API ({@code Instance}).
 */
public final class LxcBench {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private LxcBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || !(args[0].equals("privileged") || args[0].equals("unprivileged"))) {
            throw new IllegalArgumentException("usage: LxcBench privileged|unprivileged [exec NAME"
                    + " | create NAME COUNT METADATA ROOTFS...]");
        }
        boolean privileged = args[0].equals("privileged");
        String mode = args.length > 1 ? args[1] : "all";
        Path root = Files.createTempDirectory("incus4j-lxc-bench-");
        LxcInstances lxc = new LxcDriver().open(LxcHost.searchable(root.resolve("root")), WAIT);
        Instance c = null;
        try {
            if (mode.equals("create")) {
                lxc.create(args(privileged), image(args, 2)).delete(true); // warm-up
                for (int i = 2; i + 3 < args.length; i += 4) {
                    createFromImage(lxc, privileged, image(args, i), args[i], Integer.parseInt(args[i + 1]));
                }
                return;
            }
            c = lxc.create(args(privileged), InstanceSource.template("busybox", Map.of()));
            c.start(false);
            if (mode.equals("exec")) {
                print(args[2], execTrue(c), "ms");
                return;
            }
            print("state_query_ns", stateQuery(lxc, (LxcContainerInstance) c), "ns");
            print("state_cached_ns", stateCached(c), "ns");
            double[] cycles = freezeCycles(c);
            print("freeze_unfreeze_p50_ms", cycles[cycles.length / 2], "ms");
            print("freeze_unfreeze_max_ms", cycles[cycles.length - 1], "ms");
            print("exec_true_ms", execTrue(c), "ms");
            print("start_stop_ms", startStop(c), "ms");
            print("snapshot_ms", snapshot(c), "ms");
        } finally {
            if (c != null) {
                if (c.isRunning()) {
                    c.stop(false);
                }
                c.delete(true);
            }
            lxc.close();
            try (Stream<Path> files = Files.walk(root)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static InstanceArgs args(boolean privileged) {
        InstanceArgs.Builder b = InstanceArgs.builder("bench-" + UUID.randomUUID().toString().substring(0, 8));
        return privileged ? b.config("security.privileged", "true").build() : b.build();
    }

    private static InstanceSource image(String[] args, int group) {
        return InstanceSource.image(Path.of(args[group + 2]), Path.of(args[group + 3]));
    }

    /** Prints the mean of {@code count} creations from {@code image}, in ms; deletion not timed. */
    private static void createFromImage(LxcInstances lxc, boolean privileged, InstanceSource image, String name,
            int count) {
        long total = 0;
        for (int i = 0; i < count; i++) {
            long t0 = System.nanoTime();
            Instance c = lxc.create(args(privileged), image);
            total += System.nanoTime() - t0;
            c.delete(true);
        }
        print(name, total / 1e6 / count, "ms");
    }

    private static void print(String name, double value, String unit) {
        System.out.println(name + " " + String.format(Locale.ROOT, value >= 100 ? "%.0f" : "%.3g", value) + " "
                + unit);
    }

    /** Mean of 100,000 {@code state()} calls after 20,000 for warm-up. */
    private static double stateQuery(LxcInstances lxc, LxcContainerInstance c) {
        try (LxcContainer handle = lxc.liblxc().open(c.lxcName(), lxc.lxcpath())) {
            return meanNanos(20_000, 100_000, () -> handle.state().equals("RUNNING"));
        }
    }

    /**
     * Mean of 10,000,000 {@code statusCode()} calls through the public API (after 2,000,000 for warm-up): the status
     * the driver's watcher keeps, no round trip.
     */
    private static double stateCached(Instance c) {
        return meanNanos(2_000_000, 10_000_000, () -> c.statusCode() == StatusCode.RUNNING);
    }

    /** Mean time of {@code calls} calls of {@code running} after {@code warmup} untimed; each must answer true. */
    private static double meanNanos(int warmup, int calls, BooleanSupplier running) {
        int seen = 0;
        for (int i = 0; i < warmup; i++) {
            seen += running.getAsBoolean() ? 1 : 0;
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            seen += running.getAsBoolean() ? 1 : 0;
        }
        long elapsed = System.nanoTime() - t0;
        if (seen != warmup + calls) {
            throw new IllegalStateException("the container left RUNNING during the benchmark");
        }
        return (double) elapsed / calls;
    }

    /** 50 freeze + unfreeze cycles (after 5 for warm-up), sorted, in ms. */
    private static double[] freezeCycles(Instance c) {
        for (int i = 0; i < 5; i++) {
            c.freeze();
            c.unfreeze();
        }
        double[] ms = new double[50];
        for (int i = 0; i < ms.length; i++) {
            long t0 = System.nanoTime();
            c.freeze();
            c.unfreeze();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        if (c.statusCode() != StatusCode.RUNNING) {
            throw new IllegalStateException("not running after the freeze cycles: " + c.statusCode());
        }
        Arrays.sort(ms);
        return ms;
    }

    /** Mean of 50 {@code exec true} to exit status (after 5 for warm-up), in ms. */
    private static double execTrue(Instance c) {
        ExecRequest request = ExecRequest.builder("true").build();
        for (int i = 0; i < 5; i++) {
            runTrue(c, request);
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < 50; i++) {
            runTrue(c, request);
        }
        return (System.nanoTime() - t0) / 1e6 / 50;
    }

    private static void runTrue(Instance c, ExecRequest request) {
        try (Cmd cmd = c.exec(request, null, OutputStream.nullOutputStream(), OutputStream.nullOutputStream())) {
            int status = cmd.waitFor(WAIT);
            if (status != 0) {
                throw new IllegalStateException("true exited with " + status);
            }
        }
    }

    /** Mean of 10 start (to RUNNING) + stop (to STOPPED), in ms; leaves the container stopped. */
    private static double startStop(Instance c) {
        c.stop(false);
        long total = 0;
        for (int i = 0; i < 10; i++) {
            long t0 = System.nanoTime();
            c.start(false);
            require(c, StatusCode.RUNNING);
            c.stop(false);
            require(c, StatusCode.STOPPED);
            total += System.nanoTime() - t0;
        }
        return total / 1e6 / 10;
    }

    /** Mean of 10 snapshot creations + deletions on the stopped container, in ms. */
    private static double snapshot(Instance c) {
        require(c, StatusCode.STOPPED);
        long total = 0;
        for (int i = 0; i < 10; i++) {
            long t0 = System.nanoTime();
            c.snapshot("s" + i, null, false);
            Instance s = c.snapshots().get(0);
            s.delete(false);
            total += System.nanoTime() - t0;
            if (!c.snapshots().isEmpty()) {
                throw new IllegalStateException("snapshot s" + i + " was not deleted");
            }
        }
        return total / 1e6 / 10;
    }

    private static void require(Instance c, StatusCode expected) {
        if (c.statusCode() != expected) {
            throw new IllegalStateException("expected " + expected + ", is " + c.statusCode());
        }
    }
}
