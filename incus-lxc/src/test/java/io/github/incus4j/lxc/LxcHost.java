package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.spi.Applicability;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/** Test preconditions: the driver applies on this host (root, liblxc, lxc tools) and busybox-static exists. */
final class LxcHost {
    private LxcHost() {
    }

    /** Skips the test, naming why, unless real containers can run here. */
    static void require() {
        Applicability a = new LxcDriver().applicability();
        assumeTrue(a.applicable(), () -> "lxc driver not applicable: " + a.reason());
        assumeTrue(Files.isExecutable(Path.of("/bin/busybox")) || Files.isExecutable(Path.of("/usr/bin/busybox")),
                "busybox is not installed (package busybox-static)");
        assumeTrue(LxcDriver.allocation().isPresent(), "no subordinate ids for root in /etc/subuid and /etc/subgid");
    }

    /**
     * Makes {@code dir} and its parents up to {@code /tmp} searchable by everyone: an unprivileged container's root
     * (a high host uid) must traverse them to reach its root filesystem, and JUnit's temporary directories are 0700.
     */
    static Path searchable(Path dir) {
        try {
            Files.createDirectories(dir);
            for (Path p = dir.toAbsolutePath(); p != null && p.getNameCount() > 1; p = p.getParent()) {
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx--x--x"));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
    }
}
