package io.github.incus4j.testkit.contract;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ArgumentsSource;

/**
 * Runs a contract test once per instance type the driver supports ({@link DriverUnderTest#instanceTypes()}); the
 * test takes the {@link io.github.incus4j.api.InstanceType} as its parameter and the report names the type.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
@ParameterizedTest(name = "{0}")
@ArgumentsSource(InstanceTypesProvider.class)
@interface ForEachInstanceType {
}
