package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The bootable test guest of the VM tests, built once per JVM by {@code guest/build-vm-image.sh} (which runs
 * {@code guest/build-guest.sh}; both cache outside the tree): an Incus VM image tarball whose {@code rootfs.img}
 * boots through SeaBIOS and syslinux into busybox, {@code qemu-ga} and dropbear. Tests needing it are skipped, with
 * the reason, where QEMU is missing or the guest cannot be built.
 *
 * <p>The accelerator is {@code tcg} unless the system property {@code incus4j.qemu.accel} says {@code kvm} or
 * {@code auto}: CI may have no KVM, and the KVM of the project machine (a {@code kvm-pvm} host) does not boot a
 * standard kernel.
 */
final class TestGuest {
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(10);
    private static String skipReason;
    private static Path image;

    private TestGuest() {
    }

    /** Skips the calling test unless QEMU runs here and the guest image exists (building it on first call). */
    static synchronized Path image() {
        if (image == null && skipReason == null) {
            build();
        }
        assumeTrue(skipReason == null, () -> skipReason);
        return image;
    }

    /** The settings VM tests use: 256 MiB guests, the accelerator of {@code incus4j.qemu.accel}. */
    static QemuSettings settings() {
        return QemuSettings.DEFAULT.withDefaultMemory("256MiB")
                .withAccelerator(System.getProperty("incus4j.qemu.accel", "tcg"))
                .withLockWait(Duration.ofMinutes(2));
    }

    private static void build() {
        var applicable = new QemuDriver().applicability();
        if (!applicable.applicable()) {
            skipReason = "QEMU is not usable here: " + applicable.reason();
            return;
        }
        Path script = Path.of("guest", "build-vm-image.sh").toAbsolutePath();
        if (!Files.isExecutable(script) || !Files.isExecutable(script.resolveSibling("build-guest.sh"))) {
            skipReason = "the guest build scripts are missing next to " + script;
            return;
        }
        try {
            Path log = Files.createTempFile("incus4j-build-guest", ".log");
            Process p = new ProcessBuilder(List.of(script.toString())).redirectError(log.toFile()).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(BUILD_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                skipReason = "the test guest did not build within " + BUILD_TIMEOUT;
                return;
            }
            String err = Files.readString(log);
            Files.deleteIfExists(log);
            if (p.exitValue() != 0) {
                skipReason = "the test guest could not be built: " + lastLines(err);
                return;
            }
            Path dir = Path.of(out.substring(out.lastIndexOf('\n') + 1));
            Path tar = dir.resolve("vm-image.tar");
            if (!Files.isRegularFile(tar)) {
                skipReason = "build-vm-image.sh printed " + dir + " but it holds no vm-image.tar";
                return;
            }
            image = tar;
        } catch (IOException e) {
            skipReason = "the test guest could not be built: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            skipReason = "interrupted while building the test guest";
        }
    }

    private static String lastLines(String s) {
        String[] lines = s.strip().split("\n");
        return String.join(" | ", java.util.Arrays.asList(lines).subList(Math.max(0, lines.length - 3),
                lines.length));
    }
}
