package io.github.incus4j.lxc;

import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InputValidationContract;

/** The lxc driver on privileged containers against the input fuzz contract. */
class LxcPrivilegedInputValidationTest extends InputValidationContract {

    @Override
    protected DriverUnderTest driver() {
        return new LxcDriverContractTest.Lxc(true);
    }
}
