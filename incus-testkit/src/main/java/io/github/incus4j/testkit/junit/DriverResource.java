package io.github.incus4j.testkit.junit;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceDrivers;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.spi.AbstractInstances;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A driver opened by the extension for one test class, on a temporary root it owns. Kept in the class's
 * {@code ExtensionContext.Store}, which closes it after the class: whatever is left in the root is stopped and
 * deleted (so a real driver leaks nothing), the driver is closed, and the root is removed.
 */
final class DriverResource implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(DriverResource.class.getName());

    private final Instances instances;
    private final AtomicLong serial = new AtomicLong();

    private DriverResource(Instances instances) {
        this.instances = instances;
    }

    /** Opens driver {@code name} on a fresh temporary directory, which is removed again if opening fails. */
    static DriverResource open(String name) {
        Path root;
        try {
            root = Files.createTempDirectory("incus4j-junit-");
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create a temporary root for the " + name + " driver", e);
        }
        try {
            return new DriverResource(InstanceDrivers.open(name, root));
        } catch (RuntimeException | Error e) {
            AbstractInstances.deleteTree(root);
            throw e;
        }
    }

    Instances instances() {
        return instances;
    }

    /** The next serial number for generated names; unique for this driver. */
    long nextSerial() {
        return serial.incrementAndGet();
    }

    /**
     * Stops {@code instance} if it runs and deletes it (with its snapshots), overriding delete protection. An
     * instance already gone (deleted by the test, or ephemeral and stopped) is fine.
     */
    void remove(Instance instance) {
        try {
            if (!isCurrent(instance)) {
                return;
            }
            if (instance.isFrozen()) {
                instance.unfreeze();
            }
            if (instance.isRunning()) {
                instance.stop(false);
            }
            // An ephemeral instance deletes itself when it stops.
            if (isCurrent(instance)) {
                instance.delete(true);
            }
        } catch (NotFoundException e) {
            LOG.log(System.Logger.Level.DEBUG, "Instance {0} was already gone", instance.name());
        }
    }

    private boolean isCurrent(Instance instance) {
        return instances.find(instance.project().name(), instance.name()).isPresent();
    }

    @Override
    public void close() {
        Path root = instances.root();
        RuntimeException failure = null;
        try {
            // Instances the test made itself, or whose scoped clean-up failed: the root is ours, nothing may outlive it.
            for (Instance leftover : instances.list()) {
                try {
                    remove(leftover);
                } catch (RuntimeException e) {
                    failure = addTo(failure, e);
                }
            }
            instances.close();
        } catch (RuntimeException e) {
            failure = addTo(failure, e);
        }
        try {
            AbstractInstances.deleteTree(root);
        } catch (RuntimeException e) {
            failure = addTo(failure, e);
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** The first failure, with later ones added as suppressed. */
    static RuntimeException addTo(RuntimeException first, RuntimeException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }
}
