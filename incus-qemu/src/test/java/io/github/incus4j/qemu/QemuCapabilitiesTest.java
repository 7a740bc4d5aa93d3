package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

/**
 * What the qemu contract test declares is pinned, not taken from the driver: every capability the qemu driver
 * implements, VMs as its only instance type (so its container tests are reported skipped for that reason alone, which
 * {@code .ci/run} allows), and nothing about containers. The declaration does not depend on the host; where QEMU is
 * missing the contract is skipped as a whole, naming why, and in CI ({@code INCUS4J_CI}, set by {@code .ci/run},
 * which installs QEMU) the driver must apply so that the contract runs.
 */
class QemuCapabilitiesTest {

    private static DriverUnderTest declared() {
        return new QemuDriverContractTest().driver();
    }

    @Test
    void theContractDeclaresEverythingTheDriverImplements() {
        assertEquals(EnumSet.of(Capability.VIRTUAL_MACHINES, Capability.EXEC, Capability.INTERACTIVE_EXEC,
                Capability.FILES, Capability.CONSOLE, Capability.CONSOLE_LOG, Capability.FREEZE,
                Capability.LIVE_UPDATE, Capability.METRICS, Capability.STATEFUL, Capability.EXPORT_IMPORT,
                Capability.MIGRATION, Capability.NIC_DEVICES, Capability.DISK_DEVICES, Capability.PROXY_DEVICES,
                Capability.DEVICE_HOTPLUG), declared().capabilities());
        assertEquals(Set.of(InstanceType.VM), declared().instanceTypes());
    }

    @Test
    void theContractRunsWhereQemuAppliesAndIsSkippedWithTheReasonElsewhere(@TempDir Path root) {
        Applicability a = new QemuDriver().applicability();
        String ci = System.getenv("INCUS4J_CI");
        if (ci != null && !ci.isEmpty()) {
            assertTrue(a.applicable(), "CI installs QEMU, yet the qemu driver does not apply: " + a.reason());
        }
        if (!a.applicable()) {
            // The same declaration, and every contract test skipped: opening the driver needs the test guest.
            assertEquals(Set.of(InstanceType.VM), declared().instanceTypes());
            TestAbortedException skipped = assertThrows(TestAbortedException.class, () -> declared().open(root));
            assertEquals("Assumption failed: QEMU is not usable here: " + a.reason(), skipped.getMessage());
        }
    }
}
