/**
 * The driver contract: the tests every incus4j driver must pass, the way Incus behaves.
 * {@link io.github.incus4j.testkit.contract.InstanceDriverContract} (and
 * {@link io.github.incus4j.testkit.contract.InputValidationContract}) is extended by a driver's test with a
 * {@link io.github.incus4j.testkit.contract.DriverUnderTest}; groups that need an optional
 * {@link io.github.incus4j.testkit.contract.Capability} are reported as skipped, with the reason, where the driver
 * lacks it. {@link io.github.incus4j.testkit.contract.ContractSupport} is the fixture, usable by a driver's own tests.
 */
package io.github.incus4j.testkit.contract;
