package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Info;
import io.github.incus4j.api.InstanceType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The accelerator choice of {@code auto}, on fake {@code /dev/kvm} and {@code /sys/module} trees. */
class QemuHostTest {
    @TempDir
    Path dir;

    private Path sysModule(String... modules) throws IOException {
        Path sys = Files.createDirectories(dir.resolve("module"));
        for (String m : modules) {
            Files.createDirectories(sys.resolve(m));
        }
        return sys;
    }

    private Path dev() throws IOException {
        return Files.writeString(dir.resolve("kvm"), "");
    }

    @Test
    void hardwareModuleAndOpenableDeviceMeanKvm() throws IOException {
        QemuHost.Kvm k = QemuHost.Kvm.probe(dev(), sysModule("kvm", "kvm_amd"));
        assertTrue(k.usable());
        assertEquals("kvm_amd is loaded and " + dir.resolve("kvm") + " opens", k.reason());
    }

    @Test
    void paravirtualKvmMeansTcg() throws IOException {
        QemuHost.Kvm k = QemuHost.Kvm.probe(dev(), sysModule("kvm", "kvm_pvm"));
        assertFalse(k.usable());
        assertEquals("no kvm_intel or kvm_amd module is loaded (kvm_pvm cannot run standard guests)", k.reason());
    }

    @Test
    void missingDeviceMeansTcg() throws IOException {
        QemuHost.Kvm k = QemuHost.Kvm.probe(dir.resolve("none"), sysModule("kvm", "kvm_intel"));
        assertFalse(k.usable());
        assertEquals(dir.resolve("none") + " does not exist", k.reason());
    }

    @Test
    void unopenableDeviceMeansTcg() throws IOException {
        Path notAFile = Files.createDirectories(dir.resolve("kvmdir"));
        QemuHost.Kvm k = QemuHost.Kvm.probe(notAFile, sysModule("kvm_intel"));
        assertFalse(k.usable());
        assertTrue(k.reason().startsWith(notAFile + " cannot be opened"), k.reason());
    }

    @Test
    void settingsOverrideTheReportedAccelerator() {
        Info host = new Info(QemuDriver.NAME, "7.2", null, InstanceType.VM, Map.of("accelerator", "tcg",
                "accelerator_reason", "no kvm_intel or kvm_amd module is loaded"));
        assertEquals(host, QemuDriver.sessionInfo(host, QemuSettings.DEFAULT));
        Info forced = QemuDriver.sessionInfo(host, QemuSettings.DEFAULT.withAccelerator("kvm"));
        assertEquals("kvm", forced.features().get("accelerator"));
        assertEquals("set by the session's settings", forced.features().get("accelerator_reason"));
    }
}
