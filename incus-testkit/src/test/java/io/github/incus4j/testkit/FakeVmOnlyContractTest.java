package io.github.incus4j.testkit;

import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InstanceDriverContract;
import java.util.EnumSet;

/**
 * The contract as a VM-only driver sees it (the fake, declaring everything but containers and their cgroups): tests
 * about containers are reported as skipped, each naming the driver's instance types (the only skips {@code .ci/run}
 * allows in this module), and every VM test still runs.
 */
class FakeVmOnlyContractTest extends InstanceDriverContract {

    @Override
    protected DriverUnderTest driver() {
        return new FakeDriverContractTest.Fake("fake (VMs only)",
                EnumSet.complementOf(EnumSet.of(Capability.CONTAINERS, Capability.CGROUPS)));
    }
}
