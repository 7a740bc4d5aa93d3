package io.github.incus4j.qemu.qmp;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Not a test: the measurements of {@code benchmarks/qmp.sh}, against the QEMU the script started (monitor socket as
 * first argument), next to a bare Python socket client (the script's Python file as second argument) issuing the same
 * commands on the same QEMU. Prints {@code name value unit} lines on stdout.
 *
 * <p>The two clients take turns (QEMU serves one QMP client at a time) for {@value #ROUNDS} rounds, the first to go
 * alternating, so that both see the same drift of the machine's load. In a round each client does
 * {@value #CONNECTS} connects (greeting and capabilities, then close), {@value #QUERIES} {@code query-status} with
 * the machine paused, then {@code cont} (not measured), {@value #PAIRS} {@code stop}+{@code cont} pairs and
 * {@code stop}, leaving the machine paused for the other. Means and 99th percentiles are over all the rounds' samples:
 * 100 connects, 10,000 queries, 1,000 pairs per client. The JVM is warmed up first with 20 rounds of its sequence.
 */
public final class QmpBench {
    private static final int ROUNDS = 10;
    private static final int CONNECTS = 10;
    private static final int QUERIES = 1_000;
    private static final int PAIRS = 100;

    private QmpBench() {
    }

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        Path python = Path.of(args[1]);
        QmpClient.Options options = QmpClient.Options.defaults(new FakePeer.Threads());
        TestQemu.connectWhenListening(socket, options).close(); // the script waited for the file, not the listen()

        // Warm-up, not reported: until C2 has compiled the paths (some 20,000 calls), the JIT's own threads compete
        // with the measured ones for the CPUs and the figures measure the JIT.
        for (int i = 0; i < 20; i++) {
            java(socket, options, new Samples());
        }
        Samples java = new Samples();
        Samples peer = new Samples();
        for (int r = 0; r < ROUNDS; r++) {
            if (r % 2 == 0) {
                java(socket, options, java);
                python(socket, python, peer);
            } else {
                python(socket, python, peer);
                java(socket, options, java);
            }
        }
        print("qmp_connect_ms", java.mean("connect") / 1e6, "ms");
        print("qmp_query_status_us", java.mean("query_status") / 1e3, "us");
        print("qmp_query_status_us_p99", java.p99("query_status") / 1e3, "us");
        print("qmp_stop_cont_us", java.mean("stop_cont") / 1e3, "us");
        print("qmp_stop_cont_us_p99", java.p99("stop_cont") / 1e3, "us");
        print("peer_python_query_status_us", peer.mean("query_status") / 1e3, "us");
        print("peer_python_query_status_us_p99", peer.p99("query_status") / 1e3, "us");
        print("peer_python_stop_cont_us", peer.mean("stop_cont") / 1e3, "us");
        print("peer_python_connect_ms", peer.mean("connect") / 1e6, "ms");
    }

    /** Nanosecond samples by metric. */
    private static final class Samples {
        private final Map<String, List<Long>> byName = new HashMap<>();

        void add(String name, long ns) {
            byName.computeIfAbsent(name, k -> new ArrayList<>()).add(ns);
        }

        double mean(String name) {
            return byName.get(name).stream().mapToLong(Long::longValue).average().orElseThrow();
        }

        double p99(String name) {
            long[] sorted = byName.get(name).stream().mapToLong(Long::longValue).sorted().toArray();
            return sorted[(int) Math.ceil(sorted.length * 0.99) - 1];
        }
    }

    private static void java(Path socket, QmpClient.Options options, Samples out) {
        for (int i = 0; i < CONNECTS; i++) {
            long t0 = System.nanoTime();
            QmpClient c = QmpClient.connect(socket, options);
            out.add("connect", System.nanoTime() - t0);
            c.close();
            c.disconnected().toCompletableFuture().join();
        }
        try (QmpClient qmp = QmpClient.connect(socket, options)) {
            for (int i = 0; i < QUERIES; i++) {
                long t0 = System.nanoTime();
                qmp.execute("query-status");
                out.add("query_status", System.nanoTime() - t0);
            }
            qmp.execute("cont");
            for (int i = 0; i < PAIRS; i++) {
                long t0 = System.nanoTime();
                qmp.execute("stop");
                qmp.execute("cont");
                out.add("stop_cont", System.nanoTime() - t0);
            }
            qmp.execute("stop");
            qmp.close();
            // QEMU greets the next client once it saw this one go.
            qmp.disconnected().toCompletableFuture().join();
        }
    }

    /** Runs the Python peer; it prints one {@code name nanoseconds} line per sample. */
    private static void python(Path socket, Path script, Samples out) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("python3", script.toString(), socket.toString(), Integer.toString(CONNECTS),
                Integer.toString(QUERIES), Integer.toString(PAIRS)).redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                String[] f = line.trim().split(" ");
                out.add(f[0], Long.parseLong(f[1]));
            }
        }
        if (p.waitFor() != 0) {
            throw new IllegalStateException("the Python peer failed: " + p.exitValue());
        }
    }

    private static void print(String name, double value, String unit) {
        System.out.println(name + " " + String.format(Locale.ROOT, value >= 100 ? "%.0f" : "%.3g", value) + " "
                + unit);
    }
}
