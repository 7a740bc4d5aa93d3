package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InstanceDriverContract;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The incus driver against the driver contract on a real incusd (.ci/incusd starts one with a {@code busybox} image
 * alias): real Incus is the oracle of the contract. Skipped, with the reason, where no trusted server answers.
 */
class IncusContractTest extends InstanceDriverContract {

    @Override
    protected DriverUnderTest driver() {
        return new Remote();
    }

    /** The incus driver as the contract sees it. */
    static final class Remote implements DriverUnderTest {
        @Override
        public String name() {
            return IncusDriver.NAME;
        }

        @Override
        public Instances open(Path root) {
            Applicability a = new IncusDriver().applicability();
            assumeTrue(a.applicable(), () -> "no trusted incusd here (.ci/incusd start runs one): " + a.reason());
            return new IncusDriver().open(root, IncusDriver.findSocket(), timeout());
        }

        @Override
        public Set<Capability> capabilities() {
            return EnumSet.of(Capability.CONTAINERS, Capability.EXEC, Capability.FREEZE, Capability.FILES,
                    Capability.CONSOLE_LOG, Capability.METRICS, Capability.LIVE_UPDATE);
        }

        @Override
        public InstanceSource source(InstanceType type) {
            // An image alias on the server: .ci/incusd imports busybox under that name.
            return InstanceSource.template("busybox", Map.of());
        }

        @Override
        public SoakLoad soakLoad() {
            return new SoakLoad(3, 20, 3);
        }

        @Override
        public Duration timeout() {
            return Duration.ofSeconds(30);
        }
    }
}
