package io.github.incus4j.testkit.junit;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.apiguardian.api.API;

/**
 * Injects the test class's driver into a field of type {@link io.github.incus4j.api.Instances} (static or not).
 * Parameters of that type need no annotation. The extension owns the driver: do not close it.
 */
@API(status = EXPERIMENTAL)
@Target(ElementType.FIELD)
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface IncusDriver {
}
