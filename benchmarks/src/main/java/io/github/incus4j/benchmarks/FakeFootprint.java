package io.github.incus4j.benchmarks;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.model.InstanceArgs;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code fake_bytes_per_instance}: the heap an idle stopped instance keeps, measured as the used-heap delta after a
 * full GC across creating {@value #COUNT} instances, divided by the count. Run it alone in its JVM, with a
 * stop-the-world collector so {@link System#gc()} leaves only live objects ({@code -XX:+UseSerialGC}).
 * Prints {@code fake_bytes_per_instance <bytes> B}.
 */
public final class FakeFootprint {
    static final int COUNT = 20_000;

    private FakeFootprint() {
    }

    public static void main(String[] args) throws InterruptedException {
        Instances incus = FakeBenchmarks.openFake();
        try {
            // Load and initialise every class a stopped instance uses, so the baseline includes them.
            for (int i = 0; i < 100; i++) {
                Instance warm = incus.create(InstanceArgs.builder("warm-" + i).build(), FakeBenchmarks.BUSYBOX);
                warm.start(false);
                warm.stop(false);
                warm.delete(false);
            }
            long before = usedAfterGc();
            List<Instance> kept = new ArrayList<>(COUNT);
            for (int i = 0; i < COUNT; i++) {
                kept.add(incus.create(InstanceArgs.builder("idle-" + i).build(), FakeBenchmarks.BUSYBOX));
            }
            long after = usedAfterGc();
            // The handles are the driver's own (it keeps every instance); the list is ours: not counted.
            long listBytes = 16L + 4L * COUNT;
            System.out.println("fake_bytes_per_instance " + Math.round((after - before - listBytes) / (double) COUNT)
                    + " B");
            if (kept.size() != incus.list().size()) {
                throw new IllegalStateException("expected " + kept.size() + " instances, found " + incus.list().size());
            }
        } finally {
            FakeBenchmarks.closeFake(incus);
        }
    }

    private static long usedAfterGc() throws InterruptedException {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long used = Long.MAX_VALUE;
        // Several rounds: finalizers and reference processing can free more on the next one.
        for (int round = 0; round < 5; round++) {
            System.gc();
            Thread.sleep(50);
            used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
        }
        return used;
    }
}
