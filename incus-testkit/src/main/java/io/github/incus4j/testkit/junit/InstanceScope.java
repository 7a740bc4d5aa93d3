package io.github.incus4j.testkit.junit;

import io.github.incus4j.api.Instance;
import java.util.Deque;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * The instances created for one extension context (a test, or a class). Kept in that context's store, which closes
 * it when the context ends, whatever the outcome: the instances are removed newest first.
 */
final class InstanceScope implements AutoCloseable {
    private final DriverResource driver;
    private final Deque<Instance> created = new ConcurrentLinkedDeque<>();

    InstanceScope(DriverResource driver) {
        this.driver = driver;
    }

    /** Registers an instance for removal; done right after creation so a failed start is still cleaned up. */
    void add(Instance instance) {
        created.push(instance);
    }

    @Override
    public void close() {
        RuntimeException failure = null;
        for (Instance i; (i = created.poll()) != null; ) {
            try {
                driver.remove(i);
            } catch (RuntimeException e) {
                failure = DriverResource.addTo(failure, e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
