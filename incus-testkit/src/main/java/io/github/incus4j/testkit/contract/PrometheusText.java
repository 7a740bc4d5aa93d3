package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Reads metrics text with a parser that is not ours: the Prometheus Python client's
 * {@code prometheus_client.parser.text_string_to_metric_families} (Debian: {@code python3-prometheus-client}), run as
 * a process. What our own {@code MetricSet.parse} accepts, a scraper may still refuse; this is the scraper's view.
 * Where Python or the client is missing, {@link #parse} skips the calling test with the reason and
 * {@link #checkIfAvailable} does nothing.
 */
final class PrometheusText {
    private static final long TIMEOUT_SECONDS = 60;

    // Prints each family and sample with every string hex-encoded, so that no value can break the line format.
    private static final String SCRIPT = String.join("\n",
            "import sys",
            "from prometheus_client.parser import text_string_to_metric_families",
            "def h(s):",
            "    return 'x' + s.encode('utf-8').hex()",
            "for fam in text_string_to_metric_families(sys.stdin.read()):",
            "    print('F', h(fam.name), h(fam.type), h(fam.documentation))",
            "    for s in fam.samples:",
            "        print('S', h(s.name), repr(float(s.value)),"
                    + " *(h(k) + ':' + h(v) for k, v in sorted(s.labels.items())))",
            "");

    /** One metric family as the parser read it: its name (a counter's without {@code _total}), type and HELP. */
    record Family(String name, String type, String help, List<ParsedSample> samples) {
    }

    /** One sample as the parser read it. */
    record ParsedSample(String name, Map<String, String> labels, double value) {
    }

    private static Optional<String> python;
    private static String unavailable;

    private PrometheusText() {
    }

    /** Parses {@code text}; fails the test if the parser refuses it, skips it if there is no parser here. */
    static List<Family> parse(String text) {
        String py = python();
        assumeTrue(py != null, () -> unavailable);
        return run(py, text);
    }

    /** Fails the test if the parser refuses {@code text}; does nothing where there is no parser. */
    static void checkIfAvailable(String text) {
        String py = python();
        if (py != null) {
            run(py, text);
        }
    }

    /**
     * The first Python that imports the client: {@code -Dincus4j.python3=<path>}, Debian's {@code /usr/bin/python3}
     * (where the package installs it, ahead of another {@code python3} on the PATH), then {@code python3}.
     */
    private static synchronized String python() {
        if (python == null) {
            List<String> candidates = new ArrayList<>();
            String prop = System.getProperty("incus4j.python3");
            if (prop != null && !prop.isBlank()) {
                candidates.add(prop);
            }
            candidates.add("/usr/bin/python3");
            candidates.add("python3");
            python = Optional.empty();
            StringBuilder why = new StringBuilder();
            for (String c : candidates) {
                if (c.contains("/") && !Files.isExecutable(Path.of(c))) {
                    why.append("; ").append(c).append(" does not exist");
                    continue;
                }
                try {
                    Result r = exec(List.of(c, "-c", "import prometheus_client.parser"), "");
                    if (r.exit() == 0) {
                        python = Optional.of(c);
                        break;
                    }
                    why.append("; ").append(c).append(" cannot import prometheus_client");
                } catch (IOException e) {
                    why.append("; ").append(c).append(": ").append(e.getMessage());
                }
            }
            unavailable = "no Prometheus parser to check metrics text with (install python3-prometheus-client)" + why;
        }
        return python.orElse(null);
    }

    private static List<Family> run(String py, String text) {
        Result r;
        try {
            r = exec(List.of(py, "-c", SCRIPT), text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (r.exit() != 0) {
            fail("The Prometheus parser refuses the metrics text: " + r.err().strip() + "\n--- text ---\n" + text);
        }
        List<Family> families = new ArrayList<>();
        for (String line : r.out().split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split(" ");
            if (f[0].equals("F")) {
                families.add(new Family(unhex(f[1]), unhex(f[2]), unhex(f[3]), new ArrayList<>()));
            } else {
                Map<String, String> labels = new TreeMap<>();
                for (int i = 3; i < f.length; i++) {
                    int colon = f[i].indexOf(':');
                    labels.put(unhex(f[i].substring(0, colon)), unhex(f[i].substring(colon + 1)));
                }
                families.get(families.size() - 1).samples().add(new ParsedSample(unhex(f[1]), labels, value(f[2])));
            }
        }
        return families;
    }

    private static double value(String repr) {
        return switch (repr) {
            case "nan" -> Double.NaN;
            case "inf" -> Double.POSITIVE_INFINITY;
            case "-inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(repr);
        };
    }

    private static String unhex(String s) {
        return new String(HexFormat.of().parseHex(s.substring(1)), StandardCharsets.UTF_8);
    }

    private record Result(int exit, String out, String err) {
    }

    /** Runs {@code command} with {@code input} on stdin, at most {@link #TIMEOUT_SECONDS}. */
    private static Result exec(List<String> command, String input) throws IOException {
        Process p = new ProcessBuilder(command).start();
        try {
            CompletableFuture<String> out = drain(p.getInputStream());
            CompletableFuture<String> err = drain(p.getErrorStream());
            try (OutputStream in = p.getOutputStream()) {
                in.write(input.getBytes(StandardCharsets.UTF_8));
            }
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                throw new IOException(command.get(0) + " did not finish within " + TIMEOUT_SECONDS + " s");
            }
            return new Result(p.exitValue(), out.get(TIMEOUT_SECONDS, TimeUnit.SECONDS),
                    err.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + command.get(0), e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IOException("reading the output of " + command.get(0) + " failed", e);
        } finally {
            p.destroyForcibly();
        }
    }

    private static CompletableFuture<String> drain(InputStream s) {
        CompletableFuture<String> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (s) {
                f.complete(new String(s.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                f.completeExceptionally(e);
            }
        }, "incus4j-prometheus-parser-output");
        t.setDaemon(true);
        t.start();
        return f;
    }
}
