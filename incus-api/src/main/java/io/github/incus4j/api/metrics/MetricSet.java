package io.github.incus4j.api.metrics;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InvalidArgumentException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * A set of samples per metric with set-wide labels ({@code metrics.MetricSet}); instance sets carry {@code project},
 * {@code name} and {@code type}. {@link #toText()} writes the Prometheus/OpenMetrics text exactly as Incus does:
 * HELP and TYPE lines per metric in Incus's order, labels sorted by key, values in Go's shortest {@code 'g'} format,
 * ending with {@code # EOF}. Unlike Incus, label values and HELP text are escaped as the exposition format requires
 * (a {@code "} or {@code \} in a mount point would otherwise make the whole text unreadable). {@link #parse(String)}
 * reads such text back. Not thread-safe while being filled.
 */
@API(status = EXPERIMENTAL)
public final class MetricSet {
    private final Map<String, String> labels;
    private final EnumMap<MetricType, List<Sample>> samples = new EnumMap<>(MetricType.class);

    /** A set whose samples all get {@code labels}. */
    public MetricSet(Map<String, String> labels) {
        this.labels = Map.copyOf(labels);
    }

    /** The labels of an instance's set: {@code project}, {@code name}, {@code type}. */
    public static MetricSet forInstance(String project, String name, String type) {
        return new MetricSet(Map.of("project", project, "name", name, "type", type));
    }

    /** Adds samples, merging the set-wide labels into each ({@code AddSamples}). */
    public MetricSet add(MetricType type, Sample... add) {
        List<Sample> list = samples.computeIfAbsent(type, t -> new ArrayList<>());
        for (Sample s : add) {
            Map<String, String> merged = new HashMap<>(s.labels());
            merged.putAll(labels);
            list.add(new Sample(merged, s.value()));
        }
        return this;
    }

    /** Adds every sample of {@code other} ({@code Merge}); labels of this set are added where missing. */
    public MetricSet merge(MetricSet other) {
        other.samples.forEach((type, list) -> {
            List<Sample> mine = samples.computeIfAbsent(type, t -> new ArrayList<>());
            for (Sample s : list) {
                Map<String, String> merged = new HashMap<>(labels);
                merged.putAll(s.labels());
                mine.add(new Sample(merged, s.value()));
            }
        });
        return this;
    }

    /** The samples of one metric, in insertion order. */
    public List<Sample> samples(MetricType type) {
        return Collections.unmodifiableList(samples.getOrDefault(type, List.of()));
    }

    /** The first sample of {@code type} whose labels include {@code labelPairs}, or {@code null}. */
    public Sample find(MetricType type, String... labelPairs) {
        outer:
        for (Sample s : samples(type)) {
            for (int i = 0; i < labelPairs.length; i += 2) {
                if (!labelPairs[i + 1].equals(s.labels().get(labelPairs[i]))) {
                    continue outer;
                }
            }
            return s;
        }
        return null;
    }

    /** The metrics present, in Incus's order. */
    public List<MetricType> types() {
        return List.copyOf(samples.keySet());
    }

    /** The OpenMetrics text, ending with {@code # EOF}. */
    public String toText() {
        StringBuilder sb = new StringBuilder(4096);
        samples.forEach((type, list) -> {
            if (list.isEmpty()) {
                return;
            }
            sb.append("# HELP ").append(type.metricName()).append(' ').append(escapeHelp(type.help())).append('\n');
            sb.append("# TYPE ").append(type.metricName()).append(' ').append(type.promType()).append('\n');
            for (Sample s : list) {
                sb.append(type.metricName());
                if (!s.labels().isEmpty()) {
                    sb.append('{');
                    boolean first = true;
                    for (Map.Entry<String, String> e : s.labels().entrySet()) {
                        if (!first) {
                            sb.append(',');
                        }
                        first = false;
                        sb.append(e.getKey()).append("=\"").append(escapeLabelValue(e.getValue())).append('"');
                    }
                    sb.append('}');
                }
                sb.append(' ').append(formatValue(s.value())).append('\n');
            }
        });
        sb.append("# EOF\n");
        return sb.toString();
    }

    /** A label value as the exposition format writes it: backslash, double quote and line feed escaped. */
    static String escapeLabelValue(String value) {
        return escape(value, true);
    }

    /** HELP text as the exposition format writes it: backslash and line feed escaped (a quote stays as it is). */
    static String escapeHelp(String help) {
        return escape(help, false);
    }

    private static String escape(String s, boolean quote) {
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            String esc = c == '\\' ? "\\\\" : c == '\n' ? "\\n" : quote && c == '"' ? "\\\"" : null;
            if (esc != null && sb == null) {
                sb = new StringBuilder(s.length() + 8).append(s, 0, i);
            }
            if (sb != null) {
                if (esc != null) {
                    sb.append(esc);
                } else {
                    sb.append(c);
                }
            }
        }
        return sb == null ? s : sb.toString();
    }

    @Override
    public String toString() {
        return toText();
    }

    /**
     * Go's {@code strconv.FormatFloat(v, 'g', -1, 64)}: the shortest decimal that reads back as {@code v}, in
     * exponent form ({@code 1.5e-07}, {@code 1.073741824e+09}) when the decimal exponent is below -4 or at least 6
     * (Go's rule for the shortest precision), else plain ({@code 12.5}, {@code 123456}, {@code 0.0005}).
     */
    static String formatValue(double v) {
        if (Double.isNaN(v)) {
            return "NaN";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "+Inf" : "-Inf";
        }
        if (v == 0) {
            return 1 / v < 0 ? "-0" : "0";
        }
        BigDecimal shortest = shortestDecimal(Math.abs(v));
        String digits = shortest.unscaledValue().toString();
        int nd = digits.length();
        int dp = nd - shortest.scale(); // value = 0.<digits> x 10^dp
        int exp = dp - 1;
        StringBuilder sb = new StringBuilder(24);
        if (v < 0) {
            sb.append('-');
        }
        if (exp < -4 || exp >= 6) {
            sb.append(digits.charAt(0));
            if (nd > 1) {
                sb.append('.').append(digits, 1, nd);
            }
            sb.append('e').append(exp < 0 ? '-' : '+');
            int a = Math.abs(exp);
            if (a < 10) {
                sb.append('0');
            }
            return sb.append(a).toString();
        }
        if (dp <= 0) {
            sb.append("0.");
            sb.append("0".repeat(-dp));
            return sb.append(digits).toString();
        }
        if (dp >= nd) {
            return sb.append(digits).append("0".repeat(dp - nd)).toString();
        }
        return sb.append(digits, 0, dp).append('.').append(digits, dp, nd).toString();
    }

    /**
     * The shortest decimal that rounds to {@code v} (positive, finite), without trailing zeros. The closest decimal of
     * each length is tried in turn: the first that reads back as {@code v} is Go's (and Ryu's) shortest.
     */
    private static BigDecimal shortestDecimal(double v) {
        BigDecimal exact = new BigDecimal(v);
        for (int p = 1; p < 17; p++) {
            BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
            if (r.doubleValue() == v) {
                return r.stripTrailingZeros();
            }
        }
        return exact.round(new MathContext(17, RoundingMode.HALF_EVEN)).stripTrailingZeros();
    }

    /**
     * Parses exposition text written by {@link #toText()} (or by Incus) into a set without set-wide labels. Unknown
     * metric names and malformed lines are refused, naming the line.
     */
    public static MetricSet parse(String text) {
        MetricSet set = new MetricSet(Map.of());
        boolean eof = false;
        for (String line : text.split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            if (line.equals("# EOF")) {
                eof = true;
                continue;
            }
            if (eof) {
                throw new InvalidArgumentException("Content after # EOF: " + line);
            }
            if (line.startsWith("#")) {
                continue;
            }
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            if (space < 0) {
                throw new InvalidArgumentException("Malformed sample line: " + line);
            }
            String name = brace >= 0 ? line.substring(0, brace) : line.substring(0, space);
            MetricType type = MetricType.byName(name);
            if (type == null) {
                throw new InvalidArgumentException("Unknown metric: " + name);
            }
            Map<String, String> lbl = new TreeMap<>();
            if (brace >= 0) {
                int close = line.lastIndexOf('}');
                if (close < brace) {
                    throw new InvalidArgumentException("Malformed labels: " + line);
                }
                parseLabels(line.substring(brace + 1, close), line, lbl);
            }
            String value = line.substring(space + 1);
            double v;
            switch (value) {
                case "+Inf":
                    v = Double.POSITIVE_INFINITY;
                    break;
                case "-Inf":
                    v = Double.NEGATIVE_INFINITY;
                    break;
                default:
                    try {
                        v = Double.parseDouble(value);
                    } catch (NumberFormatException e) {
                        throw new InvalidArgumentException("Malformed value: " + line);
                    }
            }
            set.add(type, new Sample(lbl, v));
        }
        if (!eof) {
            throw new InvalidArgumentException("Missing # EOF");
        }
        return set;
    }

    /**
     * Reads {@code name="value"} pairs separated by commas (a trailing one allowed), undoing the escapes of
     * {@link #escapeLabelValue}. Another backslash sequence is kept as written, as Prometheus's own parsers do, so
     * that Incus's unescaped text (a backslash in a path) still reads.
     */
    private static void parseLabels(String body, String line, Map<String, String> into) {
        int i = 0;
        int n = body.length();
        while (i < n) {
            int eq = body.indexOf("=\"", i);
            if (eq <= i) {
                throw new InvalidArgumentException("Malformed labels: " + line);
            }
            StringBuilder value = new StringBuilder();
            int j = eq + 2;
            for (;; j++) {
                if (j >= n) {
                    throw new InvalidArgumentException("Malformed labels: " + line);
                }
                char c = body.charAt(j);
                if (c == '"') {
                    break;
                }
                if (c == '\\' && j + 1 < n) {
                    char e = body.charAt(++j);
                    switch (e) {
                        case 'n' -> value.append('\n');
                        case '\\', '"' -> value.append(e);
                        default -> value.append('\\').append(e);
                    }
                } else {
                    value.append(c);
                }
            }
            into.put(body.substring(i, eq), value.toString());
            i = j + 1;
            if (i < n) {
                if (body.charAt(i) != ',') {
                    throw new InvalidArgumentException("Malformed labels: " + line);
                }
                i++;
            }
        }
    }
}
