package io.github.incus4j.qemu;

import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InputValidationContract;

/** The qemu driver against the input fuzz contract (skipped, with the reason, where QEMU or the guest is missing). */
class QemuInputValidationTest extends InputValidationContract {

    @Override
    protected DriverUnderTest driver() {
        return new QemuDriverContractTest().driver();
    }
}
