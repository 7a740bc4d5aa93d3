package io.github.incus4j.qemu;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.Device;
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
                        Capability.INTERACTIVE_EXEC, Capability.NIC_DEVICES, Capability.DISK_DEVICES,
                        Capability.PROXY_DEVICES);
                // No DEVICE_HOTPLUG: Incus hot-plugs bridged NICs into VMs, this driver does not (yet).
            }

            @Override
            public Device nicDevice(InstanceType type) {
                // QEMU user-mode networking: nothing to set up on the host, no root needed.
                return Device.of("type", "nic", "nictype", "p2p");
            }

            @Override
            public boolean nicHasHostInterface(InstanceType type) {
                return false; // user-mode networking runs inside QEMU: no tap
            }

            @Override
            public void startHttpServer(Instance instance, int port, String body) {
                // busybox httpd daemonizes and listens on all addresses: hostfwd reaches the NIC's address.
                try (Cmd c = instance.exec(ExecRequest.of("/bin/sh", "-c", "mkdir -p \"$1\" && printf %s \"$2\""
                        + " > \"$1/index.html\" && httpd -p \"$3\" -h \"$1\" </dev/null >/dev/null 2>&1", "sh",
                        "/tmp/www-" + port, body, Integer.toString(port)), null, null, null)) {
                    int rc = c.waitFor(Duration.ofSeconds(60));
                    if (rc != 0) {
                        throw new IllegalStateException("busybox httpd on port " + port + " exited " + rc);
                    }
                }
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
