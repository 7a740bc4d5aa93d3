package io.github.incus4j.qemu;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InstanceDriverContract;
import io.github.incus4j.testkit.contract.MigrationPipe;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;

/**
 * The qemu driver against the driver contract on real VMs booted from the test guest's image tarball (so that
 * creation from an Incus VM image is exercised by every test), declaring what the driver implements; the other
 * groups are reported skipped with the missing capability. Skipped entirely, with the reason, where QEMU or the
 * guest is missing.
 */
class QemuDriverContractTest extends InstanceDriverContract {

    @Override
    protected DriverUnderTest driver() {
        return new DriverUnderTest() {
            @Override
            public String name() {
                return QemuDriver.NAME;
            }

            @Override
            public Instances open(Path root) {
                TestGuest.image();
                return new QemuDriver().open(root, TestGuest.settings());
            }

            @Override
            public Set<Capability> capabilities() {
                return EnumSet.of(Capability.VIRTUAL_MACHINES, Capability.FREEZE, Capability.CONSOLE_LOG,
                        Capability.EXPORT_IMPORT, Capability.METRICS, Capability.LIVE_UPDATE, Capability.EXEC,
                        Capability.FILES, Capability.CONSOLE, Capability.STATEFUL, Capability.MIGRATION,
                        Capability.INTERACTIVE_EXEC);
            }

            @Override
            public MigrationPipe migrationPipe() {
                return MigrationPipe.inMemory();
            }

            @Override
            public InstanceSource source(InstanceType type) {
                return InstanceSource.image(TestGuest.image());
            }

            @Override
            public Duration timeout() {
                return Duration.ofSeconds(60);
            }

            @Override
            public SoakLoad soakLoad() {
                // A TCG boot takes seconds and every create copies the guest's disk: a small load, still racing.
                return new SoakLoad(3, 25, 2);
            }
        };
    }
}
