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
 * first argument), next to a bare Python socket client (the script's Python file as second argument) and, when a
 * third argument names it, go-qemu's {@code qmpbench} (the peers' build), issuing the same commands on the same QEMU.
 * Prints a table of medians with ratios to the Python client on stdout.
 *
 * <p>The clients take turns (QEMU serves one QMP client at a time) for {@value #ROUNDS} rounds, the first to go
 * rotating, so that all see the same drift of the machine's load. In a round each client does {@value #CONNECTS}
 * connects (greeting and capabilities, then close), {@value #QUERIES} {@code query-status} with the machine paused,
 * then {@code cont} (not measured), {@value #PAIRS} {@code stop}+{@code cont} pairs and {@code stop}, leaving the
 * machine paused for the next. Each metric is the median over the rounds of the round's mean (or 99th percentile).
 * The JVM is warmed up first with 20 rounds of its sequence.
 */
public final class QmpBench {
    private static final int ROUNDS = 10;
    private static final int CONNECTS = 10;
    private static final int QUERIES = 1_000;
    private static final int PAIRS = 100;
    private static final List<String> METRICS = List.of("qmp_connect_ms", "qmp_query_status_us",
            "qmp_query_status_us_p99", "qmp_stop_cont_us", "qmp_stop_cont_us_p99");

    private QmpBench() {
    }

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(args[0]);
        Path python = Path.of(args[1]);
        Path go = args.length > 2 ? Path.of(args[2]) : null;
        QmpClient.Options options = QmpClient.Options.defaults(new FakePeer.Threads());
        TestQemu.connectWhenListening(socket, options).close(); // the script waited for the file, not the listen()

        // Warm-up, not reported: until C2 has compiled the paths (some 20,000 calls), the JIT's own threads compete
        // with the measured ones for the CPUs and the figures measure the JIT.
        for (int i = 0; i < 20; i++) {
            java(socket, options, new Samples());
        }
        List<String> clients = go == null ? List.of("incus4j", "python") : List.of("incus4j", "python", "go-qemu");
        Map<String, Map<String, List<Double>>> rounds = new HashMap<>();
        for (int r = 0; r < ROUNDS; r++) {
            for (int k = 0; k < clients.size(); k++) {
                String client = clients.get((r + k) % clients.size());
                Map<String, Double> round = switch (client) {
                    case "incus4j" -> {
                        Samples s = new Samples();
                        java(socket, options, s);
                        yield s.summary();
                    }
                    case "python" -> {
                        Samples s = new Samples();
                        python(socket, python, s);
                        yield s.summary();
                    }
                    default -> go(socket, go);
                };
                round.forEach((m, v) -> rounds.computeIfAbsent(client, c -> new HashMap<>())
                        .computeIfAbsent(m, x -> new ArrayList<>()).add(v));
                Thread.sleep(20); // QEMU greets the next client once it saw this one go
            }
        }
        System.out.println();
        System.out.println("| metric | bare Python socket | go-qemu | incus4j | incus4j / Python | go-qemu / Python |");
        System.out.println("|---|---:|---:|---:|---:|---:|");
        for (String m : METRICS) {
            double py = median(rounds, "python", m);
            double gq = median(rounds, "go-qemu", m);
            double ours = median(rounds, "incus4j", m);
            System.out.println("| " + m + " | " + fmt(py) + " | " + fmt(gq) + " | " + fmt(ours) + " | "
                    + String.format(Locale.ROOT, "%.2f", ours / py) + " | "
                    + (Double.isNaN(gq) ? "—" : String.format(Locale.ROOT, "%.2f", gq / py)) + " |");
        }
    }

    private static double median(Map<String, Map<String, List<Double>>> rounds, String client, String metric) {
        List<Double> v = rounds.getOrDefault(client, Map.of()).get(metric);
        if (v == null || v.isEmpty()) {
            return Double.NaN;
        }
        double[] sorted = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "—" : String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.3g", v);
    }

    /** Runs go-qemu's qmpbench on the same QEMU for one round; it prints means and 99th percentiles. */
    private static Map<String, Double> go(Path socket, Path go) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(go.toString(), "-spawn=false", "-sock", socket.toString(),
                "-connect", Integer.toString(CONNECTS), "-query", Integer.toString(QUERIES),
                "-stopcont", Integer.toString(PAIRS)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Map<String, Double> out = new HashMap<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                String[] f = line.trim().split(" ");
                if (f.length >= 2 && METRICS.contains(f[0])) {
                    out.put(f[0], Double.parseDouble(f[1]));
                }
            }
        }
        if (p.waitFor() != 0) {
            throw new IllegalStateException("go-qemu's qmpbench failed: " + p.exitValue());
        }
        return out;
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

        /** The round's figures in the units of {@link #METRICS}. */
        Map<String, Double> summary() {
            return new HashMap<>(Map.of("qmp_connect_ms", mean("connect") / 1e6,
                    "qmp_query_status_us", mean("query_status") / 1e3,
                    "qmp_query_status_us_p99", p99("query_status") / 1e3,
                    "qmp_stop_cont_us", mean("stop_cont") / 1e3,
                    "qmp_stop_cont_us_p99", p99("stop_cont") / 1e3));
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
}
