package io.github.incus4j.testkit.contract;

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
 * Marks a contract group (a {@code @Nested} class) or a single test as needing capabilities: when the driver under
 * test lacks one, the group or test is reported as skipped, naming the missing capability. Works inside
 * {@link InstanceDriverContract} and its subclasses.
 */
@API(status = EXPERIMENTAL)
@Documented
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD})
@ExtendWith(CapabilityCondition.class)
public @interface RequiresCapability {
    /** Every capability needed. */
    Capability[] value();
}
