package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/** {@link MetricSet}'s text as Prometheus's parser reads it, where escaping matters. */
class PrometheusTextTest {
    @Test
    void labelValuesThatNeedEscapingReadBackUnchanged() {
        String tricky = "/mnt/a \"b\" \\c\nd}, e=\"f";
        MetricSet set = MetricSet.forInstance("default", "c1", "container")
                .add(MetricType.FILESYSTEM_SIZE_BYTES, Sample.of(1.5e-7, "mountpoint", tricky))
                .add(MetricType.CPU_SECONDS_TOTAL, Sample.of(Double.POSITIVE_INFINITY, "cpu", "0"));
        List<PrometheusText.Family> families = PrometheusText.parse(set.toText());
        assertEquals(2, families.size());
        PrometheusText.Family cpu = families.get(0);
        assertEquals("counter", cpu.type());
        assertEquals(MetricType.CPU_SECONDS_TOTAL.help(), cpu.help());
        assertEquals(Double.POSITIVE_INFINITY, cpu.samples().get(0).value());
        PrometheusText.ParsedSample fs = families.get(1).samples().get(0);
        assertEquals("incus_filesystem_size_bytes", fs.name());
        assertEquals(Map.of("mountpoint", tricky, "name", "c1", "project", "default", "type", "container"),
                fs.labels());
        assertEquals(1.5e-7, fs.value());
    }

    @Test
    void unescapedTextIsRefused() {
        // What MetricSet wrote before label values were escaped (and what Incus writes): a scraper refuses all of it.
        String unescaped = "# TYPE incus_procs_total gauge\nincus_procs_total{mountpoint=\"a\"b\"} 1\n# EOF\n";
        PrometheusText.parse("# EOF\n"); // skips here, rather than below, where there is no parser
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> PrometheusText.parse(unescaped));
        assertTrue(e.getMessage().contains("refuses"), e.getMessage());
    }
}
