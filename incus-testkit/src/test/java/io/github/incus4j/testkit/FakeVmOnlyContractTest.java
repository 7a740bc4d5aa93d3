package io.github.incus4j.testkit;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InstanceDriverContract;
import io.github.incus4j.testkit.contract.MigrationPipe;
import io.github.incus4j.testkit.fake.FakeDriver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The contract as a VM-only driver sees it (the fake, declaring everything but containers and their cgroups): tests
 * about containers do not run at all, none is reported as skipped, and every VM test still runs.
 */
class FakeVmOnlyContractTest extends InstanceDriverContract {

    @Override
    protected DriverUnderTest driver() {
        return new DriverUnderTest() {
            @Override
            public String name() {
                return "fake (VMs only)";
            }

            @Override
            public Instances open(Path root) {
                return new FakeDriver().open(root);
            }

            @Override
            public Set<Capability> capabilities() {
                return EnumSet.complementOf(EnumSet.of(Capability.CONTAINERS, Capability.CGROUPS));
            }

            @Override
            public InstanceSource source(InstanceType type) {
                return InstanceSource.template("busybox", Map.of());
            }

            @Override
            public Duration timeout() {
                return Duration.ofSeconds(10);
            }

            @Override
            public MigrationPipe migrationPipe() {
                return MigrationPipe.inMemory();
            }
        };
    }
}
