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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
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
    private static final Object BRIDGE_LOCK = new Object();
    /** The bridge of {@link #testBridge()}: null until made, "" where none can be made. */
    private static String bridge;

    /**
     * A bridge with no address and no port but the VMs' taps ({@code i4jc} and 6 hex digits), made on first use
     * as root where {@code /dev/net/tun} exists, removed after the class; null elsewhere. Nothing routes to it.
     */
    static String testBridge() {
        synchronized (BRIDGE_LOCK) {
            if (bridge == null) {
                bridge = "";
                if ("root".equals(System.getProperty("user.name")) && Files.exists(Path.of("/dev/net/tun"))) {
                    String name = String.format("i4jc%06x", ThreadLocalRandom.current().nextInt(1 << 24));
                    if (ip("link", "add", name, "type", "bridge") && ip("link", "set", name, "up")) {
                        bridge = name;
                    } else {
                        ip("link", "delete", "dev", name);
                    }
                }
            }
            return bridge.isEmpty() ? null : bridge;
        }
    }

    @AfterAll
    static void removeTestBridge() {
        synchronized (BRIDGE_LOCK) {
            if (bridge != null && !bridge.isEmpty()) {
                ip("link", "delete", "dev", bridge);
            }
            bridge = ""; // not made again: nothing would remove it
        }
    }

    private static boolean ip(String... args) {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

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
                        Capability.PROXY_DEVICES, Capability.DEVICE_HOTPLUG);
            }

            @Override
            public Device nicDevice(InstanceType type) {
                // As root: a bridged NIC (a tap on a bridge of the test's), the NIC Incus hot-plugs into a VM.
                // Elsewhere QEMU user-mode networking, which needs nothing on the host (its hot-plug test is then
                // skipped: Incus cannot hot-plug a p2p NIC into a VM).
                String bridge = testBridge();
                return bridge == null ? Device.of("type", "nic", "nictype", "p2p")
                        : Device.of("type", "nic", "nictype", "bridged", "parent", bridge);
            }

            @Override
            public boolean nicHasHostInterface(InstanceType type) {
                return testBridge() != null; // a tap; user-mode networking runs inside QEMU
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
