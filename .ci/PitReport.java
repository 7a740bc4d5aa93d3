import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Merges PIT's mutations.xml files (one per module; a mutant mutated in several runs counts as killed when any run
 * killed it), subtracts the mutants listed as equivalent, prints the kill rate per package and fails when a package
 * is below its threshold.
 *
 * <pre>java .ci/PitReport.java [--min PERCENT] [--min PACKAGE=PERCENT]... [--equivalents FILE]... mutations.xml...</pre>
 *
 * An equivalents file has one mutant a line, {@code class line mutator reason}, e.g.
 * {@code io.github.incus4j.api.internal.config.NameRules 255 ConditionalsBoundaryMutator the two bounds cannot meet}; the mutator
 * is PIT's class name, simple or qualified; {@code #} starts a comment.
 */
public final class PitReport {
    record Mutant(String clazz, String method, String line, String mutator, String description) {
        String pkg() {
            return clazz.substring(0, clazz.lastIndexOf('.'));
        }

        String outer() {
            int dollar = clazz.indexOf('$');
            return dollar < 0 ? clazz : clazz.substring(0, dollar);
        }
    }

    record Equivalent(String clazz, String line, String mutator, String reason, String where) {
        boolean matches(Mutant m) {
            return (m.clazz().equals(clazz) || m.outer().equals(clazz)) && m.line().equals(line)
                    && (m.mutator().equals(mutator) || m.mutator().endsWith("." + mutator));
        }
    }

    public static void main(String[] args) throws Exception {
        double defaultMin = 0;
        Map<String, Double> mins = new TreeMap<>();
        List<Equivalent> equivalents = new ArrayList<>();
        List<Path> reports = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--min" -> {
                    String v = args[++i];
                    int eq = v.indexOf('=');
                    if (eq < 0) {
                        defaultMin = Double.parseDouble(v);
                    } else {
                        mins.put(v.substring(0, eq), Double.parseDouble(v.substring(eq + 1)));
                    }
                }
                case "--equivalents" -> equivalents.addAll(readEquivalents(Path.of(args[++i])));
                default -> reports.add(Path.of(args[i]));
            }
        }
        if (reports.isEmpty()) {
            System.err.println("usage: java .ci/PitReport.java [--min [PACKAGE=]PERCENT]... [--equivalents FILE]... mutations.xml...");
            System.exit(2);
        }

        // Mutant identity across runs: class, method and descriptor, line, mutator, instruction indexes.
        Map<String, Mutant> mutants = new LinkedHashMap<>();
        Map<String, Boolean> detected = new LinkedHashMap<>();
        for (Path report : reports) {
            if (!Files.isRegularFile(report)) {
                System.out.println("FAILED: no PIT report at " + report + " (did the run finish within its time box?)");
                System.exit(1);
            }
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            NodeList list = f.newDocumentBuilder().parse(report.toFile()).getElementsByTagName("mutation");
            for (int i = 0; i < list.getLength(); i++) {
                Element e = (Element) list.item(i);
                Mutant m = new Mutant(text(e, "mutatedClass"), text(e, "mutatedMethod"), text(e, "lineNumber"),
                        text(e, "mutator"), text(e, "description"));
                String key = String.join("|", m.clazz(), m.method(), text(e, "methodDescription"), m.line(),
                        m.mutator(), text(e, "indexes"));
                mutants.putIfAbsent(key, m);
                detected.merge(key, "true".equals(e.getAttribute("detected")), Boolean::logicalOr);
            }
        }

        Map<String, int[]> perPackage = new TreeMap<>(); // total, killed, equivalent
        Map<String, Integer> survivorsPerClass = new TreeMap<>();
        boolean[] used = new boolean[equivalents.size()];
        for (Map.Entry<String, Mutant> entry : mutants.entrySet()) {
            Mutant m = entry.getValue();
            int[] counts = perPackage.computeIfAbsent(m.pkg(), p -> new int[3]);
            if (detected.get(entry.getKey())) {
                counts[0]++;
                counts[1]++;
                continue;
            }
            int match = -1;
            for (int i = 0; i < equivalents.size() && match < 0; i++) {
                if (equivalents.get(i).matches(m)) {
                    match = i;
                }
            }
            if (match >= 0) {
                used[match] = true;
                counts[2]++;
            } else {
                counts[0]++;
                survivorsPerClass.merge(m.outer(), 1, Integer::sum);
            }
        }

        boolean failed = false;
        int total = 0;
        int killed = 0;
        System.out.printf("%-34s %8s %8s %11s %8s %8s%n", "PIT kill rate", "mutants", "killed", "equivalent", "rate",
                "minimum");
        for (Map.Entry<String, int[]> e : perPackage.entrySet()) {
            int[] c = e.getValue();
            double rate = c[0] == 0 ? 100 : 100.0 * c[1] / c[0];
            double min = mins.getOrDefault(e.getKey(), defaultMin);
            boolean below = rate < min;
            failed |= below;
            total += c[0];
            killed += c[1];
            System.out.printf("%-34s %8d %8d %11d %7.1f%% %7.0f%%%s%n", e.getKey(), c[0], c[1], c[2], rate, min,
                    below ? "  BELOW" : "");
        }
        System.out.printf("%-34s %8d %8d %11s %7.1f%%%n", "all", total, killed, "",
                total == 0 ? 100 : 100.0 * killed / total);
        System.out.println("Surviving (or uncovered) mutants per class, most first:");
        survivorsPerClass.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
                .limit(15).forEach(e -> System.out.printf("  %4d %s%n", e.getValue(), e.getKey()));
        for (int i = 0; i < used.length; i++) {
            if (!used[i]) {
                // A stale entry would hide the next real survivor on that line: it must go.
                Equivalent q = equivalents.get(i);
                System.out.println("FAILED: equivalent entry matches no surviving mutant (" + q.where() + "): "
                        + q.clazz() + " " + q.line() + " " + q.mutator());
                failed = true;
            }
        }
        if (failed) {
            System.out.println("FAILED: mutation testing below its threshold (reports: " + reports + ")");
            System.exit(1);
        }
    }

    private static String text(Element e, String tag) {
        NodeList n = e.getElementsByTagName(tag);
        return n.getLength() == 0 ? "" : n.item(0).getTextContent().trim();
    }

    private static List<Equivalent> readEquivalents(Path file) throws IOException {
        List<Equivalent> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(file);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] parts = line.split("\\s+", 4);
            if (parts.length < 4) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": want class line mutator reason");
            }
            out.add(new Equivalent(parts[0], parts[1], parts[2], parts[3], file + ":" + (i + 1)));
        }
        return out;
    }
}
