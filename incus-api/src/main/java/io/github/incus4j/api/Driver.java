package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.api.spi.InstanceDriver;
import java.nio.file.Path;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * An instance driver as users see it, from {@link InstanceDrivers#select(String)} or
 * {@link InstanceDrivers#available()}: its name, whether it can work on this host, and {@link #open(Path)}. Drivers
 * themselves implement {@link InstanceDriver} (the SPI); this class keeps that interface out of user code, so that it
 * can grow without breaking callers.
 */
@API(status = EXPERIMENTAL)
public final class Driver {
    private final InstanceDriver provider;

    Driver(InstanceDriver provider) {
        this.provider = Objects.requireNonNull(provider, "provider");
    }

    /** The name it is selected by: {@code lxc}, {@code qemu}, {@code fake}. */
    public String name() {
        return provider.name();
    }

    /** Its rank when no driver is named: the applicable driver of highest priority is chosen. */
    public int priority() {
        return provider.priority();
    }

    /** Whether this host can run it (asked again at each call: hosts change). */
    public boolean applicable() {
        return check(provider).applicable();
    }

    /** Why this host cannot run it, or an empty string when it can. */
    public String unusableReason() {
        Applicability a = check(provider);
        return a.applicable() || a.reason() == null ? "" : a.reason();
    }

    /** What it drives: name, version, instance type, features. */
    public Info info() {
        return provider.info();
    }

    /** Opens it on {@code root}, creating the directory if needed; reopening finds every instance again. */
    public Instances open(Path root) {
        Objects.requireNonNull(root, "root");
        return provider.open(root);
    }

    @Override
    public String toString() {
        return "Driver[" + name() + "]";
    }

    /** A driver's applicability; a driver that throws while probing is not applicable, with the failure as reason. */
    static Applicability check(InstanceDriver d) {
        try {
            return d.applicability();
        } catch (RuntimeException | LinkageError e) {
            return Applicability.no("applicability check failed: " + e);
        }
    }
}
