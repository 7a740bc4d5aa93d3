package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.MAINTAINED;

import io.github.incus4j.api.Info;
import io.github.incus4j.api.Instances;
import java.nio.file.Path;
import org.apiguardian.api.API;

/**
 * The service a driver module provides, found with {@link java.util.ServiceLoader}: declare the implementation both
 * in {@code META-INF/services/io.github.incus4j.api.spi.InstanceDriver} and with {@code provides} in
 * {@code module-info.java}. Implementations have a public no-argument constructor and do no work in it: probing the
 * host belongs in {@link #applicability()}.
 */
@API(status = MAINTAINED)
public interface InstanceDriver {
    /** The name users select it by: {@code lxc}, {@code qemu}, {@code fake}. */
    String name();

    /** Higher wins when no driver is named; real drivers rank above the fake. */
    int priority();

    /** Whether this host can run the driver; the reason is shown when no driver fits. Must not throw. */
    Applicability applicability();

    /** The driver's {@link Info}: name, version of what it drives, instance type, features, impediment. */
    Info info();

    /** Opens the driver on {@code root}, creating the directory if needed; reopening finds every instance again. */
    Instances open(Path root);
}
