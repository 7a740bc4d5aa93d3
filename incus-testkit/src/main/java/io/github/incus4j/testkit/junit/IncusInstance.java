package io.github.incus4j.testkit.junit;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InstanceType;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.apiguardian.api.API;

/**
 * Declares an instance that {@link IncusExtension} creates (and by default starts) and deletes afterwards, stopping
 * it first if it runs. On a field of type {@link io.github.incus4j.api.Instance}, {@link io.github.incus4j.api.Container}
 * or {@link io.github.incus4j.api.VM}: an instance field gets a fresh instance before each test, a static field one
 * instance for the whole class. On a parameter of a test, lifecycle method or constructor: a fresh instance that
 * lives as long as what the method belongs to (the test, or the class for {@code @BeforeAll}).
 *
 * <p>The name is generated and unique: the test's (or class's) name and the field's or parameter's name, hyphenated,
 * then a serial number, e.g. {@code answers-requests-web-12}. Read it with {@code instance.name()}.
 */
@API(status = EXPERIMENTAL)
@Target({ElementType.FIELD, ElementType.PARAMETER})
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface IncusInstance {
    /**
     * Container or VM. {@link InstanceType#ANY} (the default) takes it from the declared type ({@code VM},
     * {@code Container}), else from the driver's own type, else a container.
     */
    InstanceType type() default InstanceType.ANY;

    /** Local config as {@code key=value} entries, e.g. {@code "limits.cpu=1"}. */
    String[] config() default {};

    /** Whether to start the instance once created. */
    boolean start() default true;

    /** The driver template the root filesystem is made from; empty for an empty root filesystem. */
    String source() default "busybox";

    /** Create an ephemeral instance (Incus deletes it when it stops). */
    boolean ephemeral() default false;

    /**
     * Ports inside the instance to reach from the test, as Testcontainers' exposed ports: each gets a {@code proxy}
     * device {@code port-<port>} listening on a free host port of {@code 127.0.0.1} and connecting to
     * {@code tcp:127.0.0.1:<port>} in the instance ({@code nat=true} for a VM, as Incus requires). Read the host port
     * with {@link ForwardedPorts#mappedPort}. The driver must apply {@code proxy} devices.
     */
    int[] forwardPorts() default {};

    /** Replaces the generated name's prefix; it is made a valid name the same way and the serial number appended. */
    String prefix() default "";
}
