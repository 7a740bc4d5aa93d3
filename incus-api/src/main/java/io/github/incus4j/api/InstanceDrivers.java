package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.api.spi.InstanceDriver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import org.apiguardian.api.API;

/**
 * The entry point: chooses an instance driver and opens it on a root directory.
 *
 * <p>Selection, in order: the name passed in; else the system property {@value #DRIVER_PROPERTY}; else the
 * applicable driver of highest {@link Driver#priority()}. When nothing fits, one {@link NoDriverException}
 * lists every provider tried and why it was refused.
 *
 * <pre>{@code
 * try (Instances incus = InstanceDrivers.open()) {
 *     Instance c1 = incus.create(InstanceArgs.builder("c1").build(), InstanceSource.template("busybox", Map.of()));
 *     c1.start(false);
 * }
 * }</pre>
 */
@API(status = STABLE)
public final class InstanceDrivers {
    /** The system property naming the driver to use when none is passed: {@code -Dincus4j.driver=lxc}. */
    public static final String DRIVER_PROPERTY = "incus4j.driver";
    /** The system property overriding the default root directory. */
    public static final String ROOT_PROPERTY = "incus4j.root";

    private static final System.Logger LOG = System.getLogger(InstanceDrivers.class.getName());

    private InstanceDrivers() {
    }

    /** Every driver on the class path or module path, highest priority first (broken providers are skipped). */
    public static List<Driver> available() {
        return load(new ArrayList<>()).stream().map(Driver::new).toList();
    }

    /** The driver chosen by the property {@value #DRIVER_PROPERTY}, else the best applicable one. */
    public static Driver select() {
        return select(null);
    }

    /**
     * The driver named {@code name}; when {@code name} is {@code null} or empty, the one named by
     * {@value #DRIVER_PROPERTY}, else the best applicable one.
     *
     * @throws NoDriverException listing every provider tried and why it was refused
     */
    public static Driver select(String name) {
        return new Driver(provider(name));
    }

    private static InstanceDriver provider(String name) {
        List<NoDriverException.Attempt> attempts = new ArrayList<>();
        List<InstanceDriver> drivers = load(attempts);
        String wanted = name == null || name.isBlank() ? System.getProperty(DRIVER_PROPERTY, "").trim() : name.trim();
        if (!wanted.isEmpty()) {
            for (InstanceDriver d : drivers) {
                if (d.name().equals(wanted)) {
                    Applicability a = applicability(d);
                    if (a.applicable()) {
                        LOG.log(System.Logger.Level.DEBUG, "Using instance driver {0} (requested)", wanted);
                        return d;
                    }
                    attempts.add(new NoDriverException.Attempt(d.name(), a.reason()));
                    throw new NoDriverException("Instance driver \"" + wanted + "\" is not usable on this host:",
                            attempts);
                }
            }
            for (InstanceDriver d : drivers) {
                attempts.add(new NoDriverException.Attempt(d.name(), "not the requested driver"));
            }
            throw new NoDriverException("No instance driver named \"" + wanted + "\"; tried:", attempts);
        }
        for (InstanceDriver d : drivers) {
            Applicability a = applicability(d);
            if (a.applicable()) {
                LOG.log(System.Logger.Level.DEBUG, "Using instance driver {0} (priority {1})", d.name(), d.priority());
                return d;
            }
            attempts.add(new NoDriverException.Attempt(d.name(), a.reason()));
        }
        throw new NoDriverException("No applicable instance driver; tried:", attempts);
    }

    /** Opens the selected driver ({@link #select()}) on the {@linkplain #defaultRoot() default root}. */
    public static Instances open() {
        return select().open(defaultRoot());
    }

    /** Opens the driver {@code name} (see {@link #select(String)}) on {@code root}. */
    public static Instances open(String name, Path root) {
        return select(name).open(root);
    }

    /**
     * The default root: the property {@value #ROOT_PROPERTY} if set; {@code /var/lib/incus4j} for root; else
     * {@code $XDG_DATA_HOME/incus4j} or {@code ~/.local/share/incus4j}.
     */
    public static Path defaultRoot() {
        String prop = System.getProperty(ROOT_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        if ("root".equals(System.getProperty("user.name"))) {
            return Path.of("/var/lib/incus4j");
        }
        String xdg = System.getenv("XDG_DATA_HOME");
        Path base = xdg != null && !xdg.isBlank()
                ? Path.of(xdg)
                : Path.of(System.getProperty("user.home"), ".local", "share");
        return base.resolve("incus4j");
    }

    private static Applicability applicability(InstanceDriver d) {
        return Driver.check(d);
    }

    private static List<InstanceDriver> load(List<NoDriverException.Attempt> failures) {
        List<InstanceDriver> out = new ArrayList<>();
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        ServiceLoader<InstanceDriver> loader = ServiceLoader.load(InstanceDriver.class,
                cl != null ? cl : InstanceDrivers.class.getClassLoader());
        Iterator<InstanceDriver> it = loader.iterator();
        while (true) {
            try {
                if (!it.hasNext()) {
                    break;
                }
                InstanceDriver d = it.next();
                if (out.stream().noneMatch(o -> o.name().equals(d.name()))) {
                    out.add(d);
                }
            } catch (ServiceConfigurationError e) {
                LOG.log(System.Logger.Level.WARNING, "Skipping a broken instance driver provider", e);
                failures.add(new NoDriverException.Attempt("(provider)", "could not be loaded: " + e.getMessage()));
            }
        }
        out.sort(Comparator.comparingInt(InstanceDriver::priority).reversed()
                .thenComparing(d -> d.name().toLowerCase(Locale.ROOT)));
        return out;
    }
}
