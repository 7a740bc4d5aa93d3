package io.github.incus4j.lxc;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.testkit.contract.Capability;
import io.github.incus4j.testkit.contract.DriverUnderTest;
import io.github.incus4j.testkit.contract.InstanceDriverContract;
import io.github.incus4j.testkit.contract.MigrationPipe;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The lxc driver against the driver contract on real, unprivileged busybox containers, declaring what the driver
 * implements ({@code STATEFUL} only where CRIU works); any other group is reported as skipped with the missing
 * capability. Skipped entirely (with the reason) where the driver does not apply.
 */
class LxcDriverContractTest extends InstanceDriverContract {

    @Override
    protected DriverUnderTest driver() {
        return new Lxc(false);
    }

    /** The lxc driver as the contract sees it, on unprivileged or (with {@code privileged}) privileged containers. */
    static final class Lxc implements DriverUnderTest {
        private final boolean privileged;

        Lxc(boolean privileged) {
            this.privileged = privileged;
        }

        @Override
        public String name() {
            return privileged ? LxcDriver.NAME + " (privileged)" : LxcDriver.NAME;
        }

        @Override
        public Instances open(Path root) {
            LxcHost.require();
            return new LxcDriver().open(LxcHost.searchable(root), Duration.ofSeconds(30));
        }

        @Override
        public Set<Capability> capabilities() {
            EnumSet<Capability> caps = EnumSet.of(Capability.CONTAINERS, Capability.EXEC,
                    Capability.INTERACTIVE_EXEC, Capability.FREEZE, Capability.CGROUPS, Capability.LIVE_UPDATE,
                    Capability.METRICS, Capability.FILES, Capability.CONSOLE, Capability.CONSOLE_LOG,
                    Capability.EXPORT_IMPORT, Capability.MIGRATION, Capability.NIC_DEVICES,
                    Capability.PROXY_DEVICES, Capability.DEVICE_HOTPLUG, Capability.DISK_DEVICES);
            // CRIU 3.17 cannot run on kernels from 6.13 on (see Criu): the group runs where CRIU works. Where the
            // host's answer is known independently (.ci/run runs `criu check` itself), that answer decides, so a
            // driver probe that wrongly gives up cannot drop the group: LxcCapabilitiesTest pins the two together.
            if (LxcHost.expectedCriu().orElseGet(() -> Criu.host().usable())) {
                caps.add(Capability.STATEFUL);
            }
            return caps;
        }

        @Override
        public MigrationPipe migrationPipe() {
            return MigrationPipe.inMemory();
        }

        @Override
        public Map<String, String> baseConfig(InstanceType type) {
            return privileged ? Map.of("security.privileged", "true") : Map.of();
        }

        @Override
        public InstanceSource source(InstanceType type) {
            return InstanceSource.template("busybox", Map.of());
        }

        /** A p2p NIC: a veth pair whose host end has no address, so nothing of the host's network is touched. */
        @Override
        public Device nicDevice(InstanceType type) {
            return Device.of("type", "nic", "nictype", "p2p");
        }

        /**
         * busybox {@code httpd} on {@code 127.0.0.1:port} inside the container (it daemonizes); the driver brings the
         * container's {@code lo} up at start, so nothing here touches the network.
         */
        @Override
        public void startHttpServer(Instance instance, int port, String body) {
            startBusyboxHttpd(instance, port, body, "", timeout());
        }

        @Override
        public Duration timeout() {
            return Duration.ofSeconds(20);
        }
    }
}
