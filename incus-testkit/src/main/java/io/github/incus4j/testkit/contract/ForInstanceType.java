package io.github.incus4j.testkit.contract;

import io.github.incus4j.api.InstanceType;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ArgumentsSource;

/**
 * A contract test about one instance type: it runs once, with that {@link InstanceType} as its parameter, when the
 * driver runs instances of the type, and not at all otherwise. A container-only driver has no VM tests to report,
 * rather than VM tests reported as skipped, so that a skip always means something the driver should have run.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
@ParameterizedTest(name = "{0}", allowZeroInvocations = true)
@ArgumentsSource(OneInstanceTypeProvider.class)
@interface ForInstanceType {
    /** The type the test is about. */
    InstanceType value();
}
