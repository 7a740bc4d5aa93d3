package io.github.incus4j.testkit.contract;

import io.github.incus4j.api.InstanceType;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ArgumentsSource;

/**
 * A contract test about one instance type: it runs once, with that {@link InstanceType} as its parameter, when the
 * driver runs instances of the type, and is reported as skipped otherwise, naming the type and the driver's types: a
 * driver declaring fewer instance types loses tests visibly, never silently (a test template that runs zero times
 * leaves no trace in test reports). Each real driver's tests pin the types it must declare.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
@ParameterizedTest(name = "{0}")
@ArgumentsSource(OneInstanceTypeProvider.class)
@ExtendWith(InstanceTypeCondition.class)
@interface ForInstanceType {
    /** The type the test is about. */
    InstanceType value();
}
