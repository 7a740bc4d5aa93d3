package io.github.incus4j.testkit.contract;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.TestTemplate;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs a contract test once per instance type, with the {@link io.github.incus4j.api.InstanceType} as its parameter
 * and the report naming the type: run for each type the driver supports ({@link DriverUnderTest#instanceTypes()}),
 * reported as skipped with the reason for each type it does not, so that a driver declaring fewer types loses tests
 * visibly (a parameterized test simply given fewer arguments leaves no trace in test reports).
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
@TestTemplate
@ExtendWith(InstanceTypeInvocations.class)
@interface ForEachInstanceType {
}
