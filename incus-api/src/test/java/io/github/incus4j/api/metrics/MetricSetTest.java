package io.github.incus4j.api.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The OpenMetrics text Incus's {@code MetricSet.String()} writes, byte for byte, and reading it back. */
class MetricSetTest {
    private static final String L = "name=\"c1\",project=\"default\",type=\"container\"";

    static MetricSet small() {
        MetricSet m = MetricSet.forInstance("default", "c1", "container");
        // Added out of order: the text follows Incus's metric order, samples keep insertion order.
        m.add(MetricType.PROCS_TOTAL, Sample.of(12));
        m.add(MetricType.MEMORY_MEM_TOTAL_BYTES, Sample.of(1073741824));
        m.add(MetricType.CPU_SECONDS_TOTAL,
                Sample.of(12.5, "mode", "system", "cpu", "0"),
                Sample.of(3, "mode", "user", "cpu", "0"));
        m.add(MetricType.CPUS, Sample.of(2));
        m.add(MetricType.NETWORK_RECEIVE_BYTES_TOTAL, Sample.of(314407, "device", "eth0"));
        m.add(MetricType.BOOT_TIME_SECONDS, Sample.of(1724300000));
        return m;
    }

    @Test
    void writesIncusText() {
        String expected = String.join("\n",
                "# HELP incus_cpu_seconds_total The total number of CPU time used in seconds.",
                "# TYPE incus_cpu_seconds_total counter",
                "incus_cpu_seconds_total{cpu=\"0\",mode=\"system\"," + L + "} 12.5",
                "incus_cpu_seconds_total{cpu=\"0\",mode=\"user\"," + L + "} 3",
                "# HELP incus_cpu_effective_total The total number of effective CPUs.",
                "# TYPE incus_cpu_effective_total gauge",
                "incus_cpu_effective_total{" + L + "} 2",
                "# HELP incus_memory_MemTotal_bytes The amount of used memory.",
                "# TYPE incus_memory_MemTotal_bytes gauge",
                "incus_memory_MemTotal_bytes{" + L + "} 1.073741824e+09",
                "# HELP incus_network_receive_bytes_total The amount of received bytes on a given interface.",
                "# TYPE incus_network_receive_bytes_total counter",
                "incus_network_receive_bytes_total{device=\"eth0\"," + L + "} 314407",
                "# HELP incus_procs_total The number of running processes.",
                "# TYPE incus_procs_total gauge",
                "incus_procs_total{" + L + "} 12",
                "# HELP incus_boot_time_seconds " + MetricType.BOOT_TIME_SECONDS.help(),
                "# TYPE incus_boot_time_seconds counter",
                "incus_boot_time_seconds{" + L + "} 1.7243e+09",
                "# EOF",
                "");
        assertEquals(expected, small().toText());
        assertEquals(expected, small().toString());
    }

    @Test
    void typeLinesFollowIncusRule() {
        for (MetricType t : MetricType.values()) {
            String n = t.metricName();
            String want = t == MetricType.CPUS || t == MetricType.PROCS_TOTAL ? "gauge"
                    : n.endsWith("_total") || n.endsWith("_seconds") ? "counter"
                    : n.endsWith("_bytes") ? "gauge" : "";
            assertEquals(want, t.promType(), n);
        }
        assertEquals("counter", MetricType.TIME_SECONDS.promType(), "_seconds is a counter, even a clock");
        assertEquals("counter", MetricType.MEMORY_OOM_KILLS_TOTAL.promType());
        assertEquals("gauge", MetricType.MEMORY_SWAP_BYTES.promType());
        assertEquals("gauge", MetricType.CPUS.promType(), "incus_cpu_effective_total is a gauge despite _total");
    }

    @Test
    void helpTextsAreIncus() {
        assertEquals("The amount of cached filesystem data that is swap-backed.",
                MetricType.MEMORY_SHMEM_BYTES.help());
        assertEquals("The number of out of memory kills.", MetricType.MEMORY_OOM_KILLS_TOTAL.help());
        assertEquals("The amount of used memory.", MetricType.MEMORY_MEM_TOTAL_BYTES.help());
    }

    @Test
    void labelsAreSortedByKey() {
        MetricSet m = new MetricSet(Map.of("zone", "z", "a", "1"));
        m.add(MetricType.DISK_READ_BYTES_TOTAL, Sample.of(1, "name2", "x", "name", "y", "device", "sda"));
        String line = m.toText().lines().filter(s -> s.startsWith("incus_disk_read")).findFirst().orElseThrow();
        assertEquals("incus_disk_read_bytes_total{a=\"1\",device=\"sda\",name=\"y\",name2=\"x\",zone=\"z\"} 1", line);
    }

    @Test
    void emptySetIsJustEof() {
        assertEquals("# EOF\n", new MetricSet(Map.of()).toText());
        MetricSet noLabels = new MetricSet(Map.of());
        noLabels.add(MetricType.PROCS_TOTAL, Sample.of(4));
        assertTrue(noLabels.toText().contains("\nincus_procs_total 4\n"), noLabels.toText());
        assertTrue(noLabels.toText().endsWith("# EOF\n"));
    }

    @Test
    void valuesAreGoShortestG() {
        // strconv.FormatFloat(v, 'g', -1, 64)
        Object[][] cases = {
            {0.0, "0"}, {-0.0, "-0"}, {1.0, "1"}, {12.0, "12"}, {-3.0, "-3"}, {12.5, "12.5"},
            {0.1, "0.1"}, {3.248833, "3.248833"}, {160645.95, "160645.95"}, {123456.0, "123456"},
            {999999.0, "999999"}, {1e6, "1e+06"}, {1215709.0, "1.215709e+06"}, {1234567.5, "1.2345675e+06"},
            {1073741824.0, "1.073741824e+09"}, {4.123549696e9, "4.123549696e+09"}, {1e21, "1e+21"},
            {1.5e-7, "1.5e-07"}, {0.0001, "0.0001"}, {0.00012, "0.00012"}, {0.00001, "1e-05"},
            {1e-300, "1e-300"}, {1.7976931348623157e308, "1.7976931348623157e+308"}, {5e-324, "5e-324"},
            {0.30000000000000004, "0.30000000000000004"}, {2e-3, "0.002"}, {100.0, "100"},
            {Double.NaN, "NaN"}, {Double.POSITIVE_INFINITY, "+Inf"}, {Double.NEGATIVE_INFINITY, "-Inf"},
        };
        for (Object[] c : cases) {
            double v = (Double) c[0];
            assertEquals(c[1], MetricSet.formatValue(v), "FormatFloat(" + v + ")");
            if (!Double.isNaN(v)) {
                assertEquals(v, Double.parseDouble(((String) c[1]).replace("+Inf", "Infinity")
                        .replace("-Inf", "-Infinity")), "reads back: " + c[1]);
            }
        }
        // Shortest round-trip digits, also where Java 17's Double.toString is not the shortest.
        assertEquals("2e+23", MetricSet.formatValue(2e23));
        assertEquals("1e+23", MetricSet.formatValue(1e23));
    }

    @Test
    void parseReadsBackWhatIsWritten() {
        MetricSet m = small();
        MetricSet back = MetricSet.parse(m.toText());
        assertEquals(m.toText(), back.toText());
        assertEquals(m.types(), back.types());
        Sample s = back.find(MetricType.CPU_SECONDS_TOTAL, "mode", "system");
        assertNotNull(s);
        assertEquals(12.5, s.value());
        assertEquals(Map.of("cpu", "0", "mode", "system", "name", "c1", "project", "default", "type", "container"),
                s.labels());
        assertEquals(1073741824.0, back.find(MetricType.MEMORY_MEM_TOTAL_BYTES).value());
    }

    @Test
    void parseReadsIncusOutputWithExponents() {
        String text = String.join("\n",
                "# HELP incus_memory_MemFree_bytes The amount of free memory.",
                "# TYPE incus_memory_MemFree_bytes gauge",
                "incus_memory_MemFree_bytes{name=\"v1\",project=\"default\",type=\"virtual-machine\"} 4.859904e+07",
                "incus_memory_MemFree_bytes{name=\"v2\",project=\"default\",type=\"virtual-machine\"} 1.5e-07",
                "# EOF", "");
        MetricSet m = MetricSet.parse(text);
        List<Sample> samples = m.samples(MetricType.MEMORY_MEM_FREE_BYTES);
        assertEquals(2, samples.size());
        assertEquals(48599040.0, samples.get(0).value());
        assertEquals(1.5e-7, samples.get(1).value());
        assertEquals(text, m.toText());
    }

    @Test
    void labelValuesAreEscapedAndReadBack() {
        String tricky = "/mnt/a \"b\" \\c\nd}, e=\"f";
        MetricSet m = MetricSet.forInstance("default", "c1", "container")
                .add(MetricType.FILESYSTEM_SIZE_BYTES, Sample.of(5, "mountpoint", tricky));
        String text = m.toText();
        assertTrue(text.contains("{mountpoint=\"/mnt/a \\\"b\\\" \\\\c\\nd}, e=\\\"f\",name=\"c1\""), text);
        assertEquals(1, text.lines().filter(l -> l.startsWith("incus_filesystem_size_bytes{")).count(), text);
        Sample back = MetricSet.parse(text).find(MetricType.FILESYSTEM_SIZE_BYTES);
        assertEquals(tricky, back.labels().get("mountpoint"));
        assertEquals("c1", back.labels().get("name"));
        assertEquals(text, MetricSet.parse(text).toText());
    }

    @Test
    void helpTextIsEscapedButKeepsQuotes() {
        assertEquals("a \\\\ b\\nc \"d\"", MetricSet.escapeHelp("a \\ b\nc \"d\""));
        assertEquals("plain", MetricSet.escapeHelp("plain"));
        assertEquals("q\\\"\\\\\\n", MetricSet.escapeLabelValue("q\"\\\n"));
    }

    @Test
    void unknownEscapesAndTrailingCommasReadAsPrometheusReadsThem() {
        // Incus does not escape: a backslash in its text stays as written unless it starts one of the three escapes.
        Sample s = MetricSet.parse("incus_procs_total{mountpoint=\"C:\\x\",name=\"c1\",} 3\n# EOF\n")
                .find(MetricType.PROCS_TOTAL);
        assertEquals(Map.of("mountpoint", "C:\\x", "name", "c1"), s.labels());
        assertThrows(InvalidArgumentException.class,
                () -> MetricSet.parse("incus_procs_total{a=\"1\"b=\"2\"} 1\n# EOF\n"), "no comma between labels");
        assertThrows(InvalidArgumentException.class,
                () -> MetricSet.parse("incus_procs_total{a=\"1\\\"} 1\n# EOF\n"), "escaped closing quote");
    }

    @Test
    void malformedTextIsRefused() {
        assertThrows(InvalidArgumentException.class, () -> MetricSet.parse("incus_procs_total 1\n"), "no EOF");
        InvalidArgumentException unknown = assertThrows(InvalidArgumentException.class,
                () -> MetricSet.parse("incus_bogus_total 1\n# EOF\n"));
        assertTrue(unknown.getMessage().contains("incus_bogus_total"), unknown.getMessage());
        InvalidArgumentException value = assertThrows(InvalidArgumentException.class,
                () -> MetricSet.parse("incus_procs_total{name=\"c1\"} lots\n# EOF\n"));
        assertTrue(value.getMessage().contains("lots"), value.getMessage());
        assertThrows(InvalidArgumentException.class, () -> MetricSet.parse("incus_procs_total{name=\"c1\" 1\n# EOF\n"));
        assertThrows(InvalidArgumentException.class, () -> MetricSet.parse("incus_procs_total{name} 1\n# EOF\n"));
        assertThrows(InvalidArgumentException.class, () -> MetricSet.parse("incus_procs_total\n# EOF\n"));
        assertThrows(InvalidArgumentException.class,
                () -> MetricSet.parse("# EOF\nincus_procs_total 1\n"), "content after EOF");
    }
}
