package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.Applicability;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/** Test preconditions: the driver applies on this host (root, liblxc, lxc tools) and busybox-static exists. */
final class LxcHost {
    private LxcHost() {
    }

    /**
     * Whether CRIU can checkpoint on this host, as decided outside the driver: {@code INCUS4J_HOST_CRIU} is
     * {@code works} or {@code broken} ({@code .ci/run} sets it from its own {@code criu check}); empty when unset.
     */
    static java.util.Optional<Boolean> expectedCriu() {
        String v = System.getenv("INCUS4J_HOST_CRIU");
        if (v == null || v.isEmpty()) {
            return java.util.Optional.empty();
        }
        if (!v.equals("works") && !v.equals("broken")) {
            throw new IllegalArgumentException("INCUS4J_HOST_CRIU must be works or broken, not " + v);
        }
        return java.util.Optional.of(v.equals("works"));
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

    /** Creates and starts a busybox container named {@code prefix} plus a random suffix. */
    static Instance runningBusybox(LxcInstances lxc, String prefix) {
        Instance c = lxc.create(InstanceArgs.builder(prefix + UUID.randomUUID().toString().substring(0, 8)).build(),
                InstanceSource.template("busybox", Map.of()));
        c.start(false);
        return c;
    }

    /** Stops and deletes every container of {@code lxc}, then closes it (null: nothing to do). */
    static void deleteAll(LxcInstances lxc) {
        if (lxc == null) {
            return;
        }
        for (Instance i : lxc.list()) {
            if (i.isRunning()) {
                i.stop(false);
            }
            i.delete(true);
        }
        lxc.close();
    }

    /** What {@code lxc-info -s -p} says of {@code i} (state and pid), as the lxc tools see the driver's lxcpath. */
    static String lxcInfo(LxcInstances lxc, Instance i) throws IOException, InterruptedException {
        return tool("lxc-info", "-P", lxc.lxcpath().toString(), "-n", i.name(), "-s", "-p");
    }

    /** Runs an lxc tool to completion (at most 30 s) and returns what it printed, stdout and stderr together. */
    static String tool(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", command));
        return out;
    }
}
