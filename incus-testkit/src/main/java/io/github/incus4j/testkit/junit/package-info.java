/**
 * A JUnit 5 extension for code that drives instances: {@link io.github.incus4j.testkit.junit.IncusTest} gives a test
 * class its own driver on a temporary root, injected as {@code Instances} ({@link io.github.incus4j.testkit.junit.IncusDriver}),
 * and creates, starts and deletes the instances declared with {@link io.github.incus4j.testkit.junit.IncusInstance}.
 */
package io.github.incus4j.testkit.junit;
