package io.github.incus4j.testkit;

import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InputValidationContract;
import java.util.EnumSet;

/** The fake driver (containers and VMs) against the input fuzz contract. */
class FakeInputValidationTest extends InputValidationContract {

    @Override
    protected DriverUnderTest driver() {
        return new FakeDriverContractTest.Fake("fake", EnumSet.allOf(Capability.class));
    }
}
