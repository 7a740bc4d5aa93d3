package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.testkit.contract.Capability;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * What the lxc contract tests declare is pinned, not taken from the driver's own probes: every capability the driver
 * implements, and STATEFUL exactly where the host's CRIU works by an independent check.
 */
class LxcCapabilitiesTest {

    @Test
    void theContractDeclaresEverythingTheDriverImplements() {
        EnumSet<Capability> always = EnumSet.of(Capability.CONTAINERS, Capability.EXEC, Capability.INTERACTIVE_EXEC,
                Capability.FREEZE, Capability.CGROUPS, Capability.LIVE_UPDATE, Capability.METRICS, Capability.FILES,
                Capability.CONSOLE, Capability.CONSOLE_LOG, Capability.EXPORT_IMPORT, Capability.MIGRATION,
                Capability.NIC_DEVICES, Capability.PROXY_DEVICES, Capability.DEVICE_HOTPLUG, Capability.DISK_DEVICES);
        EnumSet<Capability> declared = EnumSet.copyOf(new LxcDriverContractTest.Lxc(false).capabilities());
        declared.remove(Capability.STATEFUL);
        assertEquals(always, declared);
        assertEquals(new LxcDriverContractTest.Lxc(false).capabilities(),
                new LxcDriverContractTest.Lxc(true).capabilities(), "privileged containers declare the same");
        // Containers only: the contract's VM tests are reported skipped for that reason alone (.ci/run allows it).
        assertEquals(Set.of(InstanceType.CONTAINER), new LxcDriverContractTest.Lxc(false).instanceTypes());
        assertEquals(Set.of(InstanceType.CONTAINER), new LxcDriverContractTest.Lxc(true).instanceTypes());
    }

    @Test
    void statefulIsDeclaredExactlyWhereTheHostsCriuWorks() {
        Optional<Boolean> expected = LxcHost.expectedCriu();
        assumeTrue(expected.isPresent(), "INCUS4J_HOST_CRIU is not set (.ci/run sets it from `criu check`)");
        assertEquals(expected.get(), Criu.host().usable(), "the driver's CRIU probe against `criu check`: "
                + Criu.host().reason());
        assertEquals(expected.get(), new LxcDriverContractTest.Lxc(false).capabilities()
                .contains(Capability.STATEFUL));
    }
}
