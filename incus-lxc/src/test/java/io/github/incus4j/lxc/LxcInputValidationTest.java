package io.github.incus4j.lxc;

import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InputValidationContract;

/** The lxc driver (unprivileged containers) against the input fuzz contract. */
class LxcInputValidationTest extends InputValidationContract {

    @Override
    protected DriverUnderTest driver() {
        return new LxcDriverContractTest.Lxc(false);
    }
}
