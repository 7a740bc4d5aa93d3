package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.testkit.contract.ContractSupport.ExecResult;
import java.util.List;

/**
 * The Metrics group of {@link InstanceDriverContract} (its nested {@code Metrics} runs these): openMetrics text of
 * running instances.
 */
abstract class MetricsGroup extends ContractGroup {
    MetricsGroup(ContractSupport contract) {
        super(contract);
    }

    /** The instance's metrics text, checked by Prometheus's own parser where it is installed. */
    private String text(Instance i) {
        String text = i.metrics(List.of()).toText();
        PrometheusText.checkIfAvailable(text);
        return text;
    }

    @ForEachInstanceType
    void textParsesAndEndsWithEof(InstanceType type) {
        String text = text(createRunning(type));
        assertTrue(text.endsWith("# EOF\n"), text);
        assertFalse(MetricSet.parse(text).types().isEmpty());
    }

    /** A scraper reads every sample as the driver made it: names, labels (escaped on the way) and values. */
    @ForEachInstanceType
    void prometheusReadsEverySampleAsWritten(InstanceType type) {
        MetricSet set = createRunning(type).metrics(List.of());
        String text = set.toText();
        List<PrometheusText.Family> families = PrometheusText.parse(text);
        List<MetricType> types = set.types().stream().filter(t -> !set.samples(t).isEmpty()).toList();
        assertEquals(types.size(), families.size(), text);
        for (int k = 0; k < types.size(); k++) {
            MetricType t = types.get(k);
            PrometheusText.Family family = families.get(k);
            assertEquals(t.help(), family.help(), t.metricName());
            assertEquals(t.promType(), family.type(), t.metricName());
            List<Sample> ours = set.samples(t);
            assertEquals(ours.size(), family.samples().size(), t.metricName());
            // The client reports a counter's samples under OpenMetrics names: with _total (boot_time_seconds).
            String name = t.promType().equals("counter") && !t.metricName().endsWith("_total")
                    ? t.metricName() + "_total" : t.metricName();
            for (int j = 0; j < ours.size(); j++) {
                PrometheusText.ParsedSample read = family.samples().get(j);
                assertEquals(name, read.name());
                assertEquals(ours.get(j).labels(), read.labels(), t.metricName());
                assertEquals(ours.get(j).value(), read.value(), t.metricName() + " " + read.labels());
            }
        }
    }

    @ForEachInstanceType
    void hasIncusMetricNames(InstanceType type) {
        MetricSet set = MetricSet.parse(text(createRunning(type)));
        for (MetricType t : List.of(MetricType.CPU_SECONDS_TOTAL, MetricType.MEMORY_MEM_TOTAL_BYTES,
                MetricType.NETWORK_RECEIVE_BYTES_TOTAL, MetricType.PROCS_TOTAL)) {
            // A VM's interfaces come from its guest agent (see stateOfRunningInstanceIsLive): a VM without NICs
            // that has not booted yet has none to count.
            if (t == MetricType.NETWORK_RECEIVE_BYTES_TOTAL && type == InstanceType.VM) {
                continue;
            }
            assertFalse(set.samples(t).isEmpty(), "no " + t.metricName());
        }
    }

    @ForEachInstanceType
    void everySampleIsLabelledWithTheInstance(InstanceType type) {
        Instance i = createRunning(type);
        MetricSet set = MetricSet.parse(text(i));
        for (MetricType t : set.types()) {
            for (Sample s : set.samples(t)) {
                assertEquals("default", s.labels().get("project"), t.metricName());
                assertEquals(i.name(), s.labels().get("name"), t.metricName());
                assertEquals(type.apiName(), s.labels().get("type"), t.metricName());
            }
        }
    }

    @ForEachInstanceType
    void helpAndTypeLines(InstanceType type) {
        String text = text(createRunning(type));
        assertTrue(text.contains("# TYPE incus_cpu_seconds_total counter\n"), text);
        assertTrue(text.contains("# TYPE incus_procs_total gauge\n"), text);
        assertTrue(text.contains("# HELP incus_cpu_seconds_total "), text);
    }

    private double cpuSeconds(Instance i) {
        return MetricSet.parse(text(i)).samples(MetricType.CPU_SECONDS_TOTAL).stream()
                .mapToDouble(Sample::value).sum();
    }

    // Polled until steady: not run through the external parser each time (the text is of the same shape).
    private int procs(Instance i) {
        return (int) MetricSet.parse(i.metrics(List.of()).toText()).samples(MetricType.PROCS_TOTAL).get(0).value();
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void memTotalIsWhatTheGuestHas(InstanceType type) {
        Instance i = createRunning(type);
        double metric = MetricSet.parse(text(i))
                .samples(MetricType.MEMORY_MEM_TOTAL_BYTES).get(0).value();
        assertTrue(metric > 0, "MemTotal " + metric);
        if (type == InstanceType.VM) {
            // The guest's kernel keeps some memory for itself: its MemTotal is at most what the VM has.
            ExecResult r = run(i, "cat", "/proc/meminfo");
            long guestKb = Long.parseLong(r.stdout().lines().filter(l -> l.startsWith("MemTotal:")).findFirst()
                    .orElseThrow().replaceAll("[^0-9]", ""));
            assertTrue(guestKb * 1024 <= metric && metric < guestKb * 1024 * 2,
                    "metric " + metric + " vs the guest's MemTotal " + guestKb + " kB");
        }
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void cpuSecondsGrowWithWorkDone(InstanceType type) {
        Instance i = createRunning(type);
        double before = cpuSeconds(i);
        burnCpu(i);
        double after = cpuSeconds(i);
        assertTrue(after - before >= MIN_BURN_NANOS / 1e9, "cpu seconds " + before + ", then " + after
                + " after copying " + BURN_MIB + " MiB with dd");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.EXEC)
    void procsFollowRunningCommands(InstanceType type) throws InterruptedException {
        Instance i = createRunning(type);
        int before = steady(() -> procs(i));
        assertTrue(before >= 1, "init at least: " + before);
        List<Cmd> sleepers = startSleepers(i, 3);
        try {
            awaitValue(() -> procs(i), n -> n >= before + 3, "procs with 3 more sleep commands than " + before);
        } finally {
            sleepers.forEach(Cmd::close);
        }
    }

    @ForEachInstanceType
    void metricsOfStoppedInstanceAreRefused(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "The instance is already stopped", () -> i.metrics(List.of()));
    }
}
