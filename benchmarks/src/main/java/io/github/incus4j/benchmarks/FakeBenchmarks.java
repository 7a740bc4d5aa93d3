package io.github.incus4j.benchmarks;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceDrivers;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.spi.AbstractInstances;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Throughput and latency of the fake driver, one benchmark per reported metric (the method name is the metric name
 * {@code fake.sh} prints). Single-threaded: these are per-core figures.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class FakeBenchmarks {
    static final InstanceSource BUSYBOX = InstanceSource.template("busybox", Map.of());
    static final Duration EXEC_TIMEOUT = Duration.ofSeconds(10);

    /** A fake driver on a temporary root, removed after the trial. */
    @State(Scope.Thread)
    public static class Driver {
        Instances incus;
        long serial;

        @Setup(Level.Trial)
        public void open() {
            incus = openFake();
        }

        @TearDown(Level.Trial)
        public void close() {
            closeFake(incus);
        }

        String nextName() {
            return "bench-" + ++serial;
        }
    }

    /** One instance on its own driver, stopped or running. One setup method each: JMH does not order inherited ones. */
    public abstract static class OneInstance {
        Instances incus;
        Instance instance;

        void create(boolean running) {
            incus = openFake();
            instance = incus.create(InstanceArgs.builder("bench").build(), BUSYBOX);
            if (running) {
                instance.start(false);
            }
        }

        @TearDown(Level.Trial)
        public void close() {
            closeFake(incus);
        }
    }

    /** One stopped instance. */
    @State(Scope.Thread)
    public static class Stopped extends OneInstance {
        @Setup(Level.Trial)
        public void setUp() {
            create(false);
        }
    }

    /** One running instance. */
    @State(Scope.Thread)
    public static class Running extends OneInstance {
        @Setup(Level.Trial)
        public void setUp() {
            create(true);
        }
    }

    /** 10,000 stopped instances. */
    @State(Scope.Thread)
    public static class TenThousand {
        static final int COUNT = 10_000;
        Instances incus;
        List<Instance> instances;

        @Setup(Level.Trial)
        public void setUp() {
            incus = openFake();
            instances = new ArrayList<>(COUNT);
            for (int i = 0; i < COUNT; i++) {
                instances.add(incus.create(InstanceArgs.builder("bench-" + i).build(), BUSYBOX));
            }
        }

        @TearDown(Level.Trial)
        public void close() {
            closeFake(incus);
        }
    }

    /** create, start, exec {@code true} (and wait for it), stop, delete. */
    @Benchmark
    public int fake_cycles_per_s(Driver d) {
        Instance i = d.incus.create(InstanceArgs.builder(d.nextName()).build(), BUSYBOX);
        i.start(false);
        int exit;
        try (Cmd cmd = i.exec(ExecRequest.of("true"), null, null, null)) {
            exit = cmd.waitFor(EXEC_TIMEOUT);
        }
        i.stop(false);
        i.delete(false);
        return exit;
    }

    /** start then stop of one instance. */
    @Benchmark
    public void fake_start_stop_per_s(Stopped s) {
        s.instance.start(false);
        s.instance.stop(false);
    }

    /** {@code statusCode()} and {@code state()} of a running instance: two queries per invocation. */
    @Benchmark
    @OperationsPerInvocation(2)
    public void fake_state_queries_per_s(Running r, Blackhole bh) {
        bh.consume(r.instance.statusCode());
        bh.consume(r.instance.state());
    }

    /** {@code render()} of 10,000 instances, and their JSON as {@code GET /1.0/instances?recursion=1} sends it. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public int fake_render_10k_ms(TenThousand t) {
        List<Object> rendered = new ArrayList<>(TenThousand.COUNT);
        for (Instance i : t.instances) {
            rendered.add(i.render().value());
        }
        return RestJson.toJson(rendered).length();
    }

    static Instances openFake() {
        try {
            return InstanceDrivers.open("fake", Files.createTempDirectory("incus4j-bench-"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void closeFake(Instances incus) {
        Path root = incus.root();
        incus.close();
        AbstractInstances.deleteTree(root);
    }
}
