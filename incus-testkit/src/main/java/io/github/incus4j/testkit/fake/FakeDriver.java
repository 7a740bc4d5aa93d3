package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Info;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.api.spi.InstanceDriver;
import io.github.incus4j.api.spi.OperationLocks;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * The {@code fake} instance driver: containers and virtual machines simulated in memory, for tests that need
 * instances without a kernel or a hypervisor. It ranks below every real driver ({@link #priority()} -100), so it is
 * used when asked for by name ({@code InstanceDrivers.open("fake", root)}, {@code -Dincus4j.driver=fake}) or when
 * nothing else applies. See {@link FakeInstances} for what it simulates and how.
 */
@API(status = EXPERIMENTAL)
public final class FakeDriver implements InstanceDriver {
    /** The driver's name. */
    public static final String NAME = "fake";
    /** The version {@link Info#version()} reports. */
    public static final String VERSION = "0.1.0";

    static final Info INFO = new Info(NAME, VERSION, null, InstanceType.ANY, Map.of(
            "containers", true,
            "virtual-machines", true,
            "stateful", true,
            "migration", true,
            "console", true,
            "files", true));

    /** The service-loader constructor; does nothing. */
    public FakeDriver() {
        // Nothing to probe: the fake runs everywhere.
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return -100;
    }

    @Override
    public Applicability applicability() {
        return Applicability.yes();
    }

    @Override
    public Info info() {
        return INFO;
    }

    @Override
    public FakeInstances open(Path root) {
        return open(root, OperationLocks.DEFAULT_WAIT);
    }

    /** Opens the fake driver on {@code root}; lock waits (and migration waits) last at most {@code lockWait}. */
    public static FakeInstances open(Path root, Duration lockWait) {
        return open(root, lockWait, Clock.systemUTC());
    }

    /**
     * As {@link #open(Path, Duration)}, with the clock dates and the simulated counters come from: a fixed or
     * hand-advanced clock makes uptime, CPU time and network counters reproducible.
     */
    public static FakeInstances open(Path root, Duration lockWait, Clock clock) {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(clock, "clock");
        if (lockWait == null || lockWait.isNegative()) {
            throw new InvalidArgumentException("The lock wait must not be negative: " + lockWait);
        }
        return new FakeInstances(root, lockWait, clock);
    }
}
