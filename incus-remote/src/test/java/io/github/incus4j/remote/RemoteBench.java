package io.github.incus4j.remote;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Not a test: the measurements of {@code benchmarks/remote.sh}, the same operations as the Incus Go client's peer
 * ({@code ../shared/peers/incusbench}) in the same order and counts, on one busybox container it creates on the
 * server and deletes. Prints {@code name value unit} lines on stdout: for each timed operation its mean and
 * {@code _p50}/{@code _p99} (the peer's definitions), plus {@code status_cached_ns}. Arguments: the instance name and
 * the image alias (default {@code rdv-bench-j}, {@code busybox}), then optionally the metrics to measure,
 * comma-separated (default all).
 *
 * <p>Unlike the Go program, a JVM runs cold code slowly: each operation is run a few times before it is timed. A
 * session's open is {@code GET /1.0} (the {@code /1.0/events} subscription connects in the background and is in place
 * before the first request that starts an operation). It is measured three ways: {@code connect_cold_ms}, the JVM's
 * first (class loading, the HTTP client's start); {@code connect_alone_ms}, the mean of 10 with no other session open
 * (each starts the JVM's HTTP client for the socket); {@code connect_ms}, the mean of 10 while the benchmark's own
 * session is open (they share its started client).
 */
public final class RemoteBench {
    private static final Duration WAIT = Duration.ofSeconds(60);

    /** The metrics to measure (third argument, comma-separated; default all), for quick A/B checks. */
    private static java.util.Set<String> only = java.util.Set.of();

    private RemoteBench() {
    }

    private static boolean wanted(String metric) {
        return only.isEmpty() || only.contains(metric);
    }

    public static void main(String[] args) throws Exception {
        String name = args.length > 0 ? args[0] : "rdv-bench-j";
        String image = args.length > 1 ? args[1] : "busybox";
        if (args.length > 2) {
            only = java.util.Set.of(args[2].split(","));
        }
        Path root = Files.createTempDirectory("incus4j-remote-bench-");
        Path socket = IncusDriver.findSocket();

        long t0 = System.nanoTime();
        new IncusDriver().open(root, socket, WAIT).close();
        if (wanted("connect_cold_ms")) {
            print("connect_cold_ms", (System.nanoTime() - t0) / 1e6, "ms");
        }
        LongSupplier connect = () -> {
            long t = System.nanoTime();
            try (Instances s = new IncusDriver().open(root, socket, WAIT)) {
                return System.nanoTime() - t;
            }
        };
        // With no other session open: this session starts the JVM's HTTP client for the socket.
        stats("connect_alone_ms", 10, 20, connect, 1e6, "ms");

        try (Instances incus = new IncusDriver().open(root, socket, WAIT)) {
            // With this session open: a new session shares its started client, as sessions of one JVM do.
            stats("connect_ms", 10, 20, connect, 1e6, "ms");
            incus.find("default", name).ifPresent(old -> old.delete(true));
            Instance c = incus.create(InstanceArgs.builder(name).build(), InstanceSource.template(image, Map.of()));
            try {
                run(incus, c);
            } finally {
                if (c.statusCode() != StatusCode.STOPPED) {
                    c.stop(false);
                }
                c.delete(true);
            }
        }
        Files.deleteIfExists(root);
    }

    private static void run(Instances incus, Instance c) throws InterruptedException {
        // Snapshots on the stopped instance, as the peer does.
        stats("snapshot_ms", 10, 2, () -> {
            long t = System.nanoTime();
            c.snapshot("s0", null, false);
            incus.delete("default", c.name() + "/s0", false); // by name, as the peer's DeleteInstanceSnapshot
            return System.nanoTime() - t;
        }, 1e6, "ms");
        stats("start_stop_ms", 10, 1, () -> {
            long t = System.nanoTime();
            c.start(false);
            c.stop(false);
            return System.nanoTime() - t;
        }, 1e6, "ms");

        c.start(false);
        Thread.sleep(1000);
        stats("state_query_us", 1000, 100, () -> {
            long t = System.nanoTime();
            String status = c.renderState(List.of()).status();
            if (!"Running".equals(status)) {
                throw new IllegalStateException("not running: " + status);
            }
            return System.nanoTime() - t;
        }, 1e3, "us");
        stats("get_instance_us", 1000, 100, () -> {
            long t = System.nanoTime();
            c.render();
            return System.nanoTime() - t;
        }, 1e3, "us");
        ExecRequest request = ExecRequest.builder("/bin/true").build();
        stats("exec_true_ms", 50, 5, () -> {
            long t = System.nanoTime();
            try (Cmd cmd = c.exec(request, new ByteArrayInputStream(new byte[0]), OutputStream.nullOutputStream(),
                    OutputStream.nullOutputStream())) {
                int status = cmd.waitFor(WAIT);
                if (status != 0) {
                    throw new IllegalStateException("true exited with " + status);
                }
            }
            return System.nanoTime() - t;
        }, 1e6, "ms");
        byte[] payload = "x".repeat(4096).getBytes(StandardCharsets.US_ASCII);
        // One SFTP session per push + pull: the peer's two calls are two HTTP requests.
        stats("file_push_pull_4k_ms", 100, 10, () -> {
            long t = System.nanoTime();
            try (SftpClient sftp = c.fileSftp()) {
                sftp.write("/tmp/bench.txt", payload);
                byte[] back = sftp.readAllBytes("/tmp/bench.txt");
                if (back.length != payload.length) {
                    throw new IllegalStateException("pulled " + back.length + " bytes");
                }
            }
            return System.nanoTime() - t;
        }, 1e6, "ms");
        stats("freeze_unfreeze_ms", 10, 2, () -> {
            long t = System.nanoTime();
            c.freeze();
            c.unfreeze();
            return System.nanoTime() - t;
        }, 1e6, "ms");
        if (wanted("status_cached_ns")) {
            print("status_cached_ns", statusCached(c), "ns");
        }
        c.stop(false);
    }

    /**
     * Mean of 10,000,000 {@code statusCode()} calls (after 2,000,000 for warm-up): the status the driver's event
     * listener keeps, no round trip.
     */
    private static double statusCached(Instance c) {
        int running = 0;
        int warmup = 2_000_000;
        int calls = 10_000_000;
        for (int i = 0; i < warmup; i++) {
            running += c.statusCode() == StatusCode.RUNNING ? 1 : 0;
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            running += c.statusCode() == StatusCode.RUNNING ? 1 : 0;
        }
        long elapsed = System.nanoTime() - t0;
        if (running != warmup + calls) {
            throw new IllegalStateException("the instance left RUNNING during the benchmark");
        }
        return (double) elapsed / calls;
    }

    /** Runs {@code op} {@code warmup} times untimed, then {@code n} times; prints mean, p50 and p99 as the peer does. */
    private static void stats(String name, int n, int warmup, LongSupplier op, double div, String unit) {
        if (!wanted(name)) {
            return;
        }
        for (int i = 0; i < warmup; i++) {
            op.getAsLong();
        }
        long[] d = new long[n];
        long sum = 0;
        for (int i = 0; i < n; i++) {
            d[i] = op.getAsLong();
            sum += d[i];
        }
        Arrays.sort(d);
        print(name, sum / div / n, unit);
        print(name + "_p50", d[n / 2] / div, unit);
        print(name + "_p99", d[(n * 99 + 99) / 100 - 1] / div, unit);
    }

    private static void print(String name, double value, String unit) {
        System.out.println(name + " " + String.format(Locale.ROOT, "%.1f", value) + " " + unit);
        System.out.flush();
    }
}
