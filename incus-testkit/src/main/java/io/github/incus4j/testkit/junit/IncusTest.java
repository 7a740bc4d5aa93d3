package io.github.incus4j.testkit.junit;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.apiguardian.api.API;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs a test class with {@link IncusExtension}: the class gets its own instance driver, opened on a temporary root
 * directory that is deleted after the class, and instances declared with {@link IncusInstance}.
 *
 * <pre>{@code
 * @IncusTest
 * class WebServerTest {
 *     @IncusInstance(config = "limits.cpu=1")
 *     Instance web;                       // created and started before each test, deleted after it
 *
 *     @Test
 *     void answers(Instances incus) {    // the driver, for anything else
 *         ...
 *     }
 * }
 * }</pre>
 *
 * <p>Safe under JUnit's parallel execution: every instance gets a unique name, and everything the extension
 * creates is scoped to the test (or the class) that asked for it.
 */
@API(status = EXPERIMENTAL)
@Target({ElementType.TYPE, ElementType.ANNOTATION_TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(IncusExtension.class)
public @interface IncusTest {
    /** The driver name used when {@link #driver()} is empty and nothing else names one. */
    String DEFAULT_DRIVER = "fake";

    /**
     * The driver to open: {@code fake}, {@code lxc}, {@code qemu}. Empty (the default) means the JUnit configuration
     * parameter or system property {@value io.github.incus4j.api.InstanceDrivers#DRIVER_PROPERTY}, else
     * {@value #DEFAULT_DRIVER}; so the same tests run on a real driver with {@code -Dincus4j.driver=lxc}.
     */
    String driver() default "";

    /**
     * Skip (rather than fail) the class when the driver is not usable on this host, with the reason as the skip
     * message. Meant for tests pinned to a real driver.
     */
    boolean disabledWithoutDriver() default false;
}
