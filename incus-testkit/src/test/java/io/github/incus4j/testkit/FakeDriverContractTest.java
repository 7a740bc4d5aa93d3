package io.github.incus4j.testkit;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InstanceDriverContract;
import io.github.incus4j.testkit.contract.MigrationPipe;
import io.github.incus4j.testkit.fake.FakeDriver;
import io.github.incus4j.testkit.fake.FakeInstance;
import io.github.incus4j.testkit.fake.FakeInstances;
import io.github.incus4j.testkit.fake.FakeService;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The fake driver against the whole driver contract: it declares every capability, so no group may be skipped.
 * Migration runs over the contract's in-memory pipe (the fake needs nothing beyond {@code MigrateArgs}).
 */
class FakeDriverContractTest extends InstanceDriverContract {

    @Override
    protected DriverUnderTest driver() {
        return new Fake("fake", EnumSet.allOf(Capability.class));
    }

    /** The fake as the contract sees it, declaring {@code capabilities}. */
    static final class Fake implements DriverUnderTest {
        private final String name;
        private final Set<Capability> capabilities;

        Fake(String name, Set<Capability> capabilities) {
            this.name = name;
            this.capabilities = capabilities;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Instances open(Path root) {
            return new FakeDriver().open(root);
        }

        @Override
        public Set<Capability> capabilities() {
            return capabilities;
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
        public SoakLoad soakLoad() {
            return new SoakLoad(16, 10_000, 20);
        }

        @Override
        public void slowDown(Instances instances, String action, Duration delay) {
            ((FakeInstances) instances).faults().delay(action, delay);
        }

        /** A bridged NIC for VMs, which Incus hot-plugs (a p2p one it does not); the fake needs no real bridge. */
        @Override
        public Device nicDevice(InstanceType type) {
            return type == InstanceType.VM ? Device.of("type", "nic", "nictype", "bridged", "parent", "incusbr0")
                    : DriverUnderTest.super.nicDevice(type);
        }

        @Override
        public void startHttpServer(Instance instance, int port, String body) {
            ((FakeInstance) instance).listen(port, FakeService.http(body));
        }

        @Override
        public MigrationPipe migrationPipe() {
            return MigrationPipe.inMemory();
        }
    }
}
