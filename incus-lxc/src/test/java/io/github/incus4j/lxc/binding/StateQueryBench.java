package io.github.incus4j.lxc.binding;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Not a test: prints {@code state_query_ns <mean of 100000 state() calls>} on a running busybox container it creates
 * in a temporary lxcpath and destroys afterwards (run as root). go-lxc measures 66000 ns on the reference machine.
 */
public final class StateQueryBench {
    private static final int WARMUP = 20_000;
    private static final int CALLS = 100_000;

    private StateQueryBench() {
    }

    public static void main(String[] args) throws IOException {
        Liblxc lxc = Liblxc.load();
        Path lxcpath = Files.createTempDirectory("incus4j-bench-");
        String name = TestLxc.uniqueName();
        LxcContainer c = TestLxc.createBusybox(lxc, lxcpath, name);
        try {
            LxcTool.start(lxcpath, name, Duration.ofSeconds(60));
            int running = 0;
            for (int i = 0; i < WARMUP; i++) {
                running += c.state().equals("RUNNING") ? 1 : 0;
            }
            long t0 = System.nanoTime();
            for (int i = 0; i < CALLS; i++) {
                running += c.state().equals("RUNNING") ? 1 : 0;
            }
            long elapsed = System.nanoTime() - t0;
            if (running != WARMUP + CALLS) {
                throw new IllegalStateException("container left RUNNING during the benchmark");
            }
            System.out.println("state_query_ns " + elapsed / CALLS);
        } finally {
            TestLxc.discard(c);
            try (Stream<Path> files = Files.walk(lxcpath)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
