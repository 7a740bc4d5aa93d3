package io.github.incus4j.lxc.binding;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.NotSupportedException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/** Shared by the tests and the benchmark: preconditions (skipped with a reason when absent) and a busybox container. */
final class TestLxc {
    private TestLxc() {
    }

    static boolean isRoot() {
        return read(Path.of("/proc/self/status")).lines().anyMatch(l -> l.matches("Uid:\\s+0\\s.*"));
    }

    /** liblxc, or the test is skipped naming why. */
    static Liblxc requireLiblxc() {
        try {
            return Liblxc.load();
        } catch (NotSupportedException e) {
            assumeTrue(false, "liblxc unavailable: " + e.getMessage());
            throw e;
        }
    }

    /** Root, liblxc, the lxc tools and busybox-static, or the test is skipped naming what is missing. */
    static Liblxc requireContainerHost() {
        assumeTrue(isRoot(), "creating containers needs root");
        Liblxc lxc = requireLiblxc();
        for (String tool : List.of("lxc-create", "lxc-start", "lxc-info", "busybox")) {
            assumeTrue(onPath(tool), tool + " is not installed (packages lxc, busybox-static)");
        }
        return lxc;
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    /** A unique name: cgroup names do not include the lxcpath. */
    static String uniqueName() {
        return "i4j-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /**
     * Creates a busybox container under {@code lxcpath} with a configuration that starts on this host: no network
     * (default.conf names a bridge that does not exist), no AppArmor profile, a console ring buffer.
     */
    static LxcContainer createBusybox(Liblxc lxc, Path lxcpath, String name) {
        LxcTool.create(lxcpath, name, "busybox", Duration.ofSeconds(120));
        LxcContainer c = lxc.open(name, lxcpath);
        c.setConfigItem("lxc.net.0.type", "empty");
        c.setConfigItem("lxc.apparmor.profile", "unconfined");
        c.setConfigItem("lxc.console.buffer.size", "65536");
        c.saveConfig(null);
        return c;
    }

    /** What {@code lxc-info -P lxcpath -n name -s -p} says: keys {@code State} and (when running) {@code PID}. */
    static Map<String, String> lxcInfo(Path lxcpath, String name) {
        String out = run("lxc-info", "-P", lxcpath.toString(), "-n", name, "-s", "-p");
        Map<String, String> info = new HashMap<>();
        for (String line : out.split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0) {
                info.put(line.substring(0, colon).strip(), line.substring(colon + 1).strip());
            }
        }
        return info;
    }

    static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The SigIgn mask of this process (signals it ignores), from /proc/self/status. */
    static String sigIgn() {
        return read(Path.of("/proc/self/status")).lines().filter(l -> l.startsWith("SigIgn:")).findFirst()
                .orElseThrow();
    }

    static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Stops (if needed) and destroys a container, for cleanup after a failed test. */
    static void discard(LxcContainer c) {
        if (c.isRunning()) {
            c.stop();
        }
        if (c.isDefined()) {
            c.destroy();
        }
        c.close();
    }
}
