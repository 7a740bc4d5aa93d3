package io.github.incus4j.lxc;

import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InstanceDriverContract;

/**
 * The driver contract again on privileged containers ({@code security.privileged=true}: no id map, the rootfs owned
 * by host root), the opt-in Incus offers besides its unprivileged default.
 */
class LxcPrivilegedContractTest extends InstanceDriverContract {

    @Override
    protected DriverUnderTest driver() {
        return new LxcDriverContractTest.Lxc(true);
    }
}
