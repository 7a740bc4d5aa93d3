package io.github.incus4j.lxc;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.api.spi.InstanceDriver;
import io.github.incus4j.api.spi.OperationLocks;
import io.github.incus4j.lxc.binding.Liblxc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The {@code lxc} instance driver: real containers through liblxc. It applies when liblxc loads, the process runs as
 * root (liblxc's unprivileged-user mode needs delegated cgroups and a user session this driver does not set up) and the
 * lxc tools are installed. Unprivileged containers need a subordinate id range for root in {@code /etc/subuid} and
 * {@code /etc/subgid}; without one only {@code security.privileged=true} containers can be created.
 */
@API(status = EXPERIMENTAL)
public final class LxcDriver implements InstanceDriver {
    /** The driver's name. */
    public static final String NAME = "lxc";

    private static final List<String> TOOLS = List.of("lxc-start", "lxc-attach", "lxc-create");

    /** The service-loader constructor; probes nothing. */
    public LxcDriver() {
        // Probing the host belongs in applicability().
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public Applicability applicability() {
        try {
            Liblxc.load();
        } catch (IncusException | LinkageError e) {
            return Applicability.no("liblxc cannot be used: " + e.getMessage());
        }
        if (!isRoot()) {
            return Applicability.no("the lxc driver needs root (this process runs as uid " + uid() + ")");
        }
        for (String tool : TOOLS) {
            if (!onPath(tool)) {
                return Applicability.no(tool + " is not installed (package lxc)");
            }
        }
        return Applicability.yes();
    }

    @Override
    public Info info() {
        Liblxc lxc;
        try {
            lxc = Liblxc.load();
        } catch (IncusException | LinkageError e) {
            return new Info(NAME, "", e.getMessage(), InstanceType.CONTAINER, Map.of());
        }
        Map<String, Object> features = new TreeMap<>();
        for (String f : lxc.features()) {
            features.put(f, true);
        }
        features.put("cgroup", LxcCgroup.isV1() ? "v1" : "v2");
        features.put("unprivileged", allocation().isPresent());
        // Stateful stop/start/snapshots and live migration need a CRIU that works with this kernel.
        Criu criu = Criu.host();
        features.put("criu", criu.usable());
        if (criu.installed()) {
            features.put("criu.version", criu.version());
        }
        if (!criu.usable()) {
            features.put("criu.error", criu.reason());
        }
        return new Info(NAME, lxc.version(), null, InstanceType.CONTAINER, features);
    }

    @Override
    public LxcInstances open(Path root) {
        return open(root, OperationLocks.DEFAULT_WAIT);
    }

    /** Opens the driver on {@code root}; lock waits last at most {@code lockWait}. */
    public LxcInstances open(Path root, Duration lockWait) {
        Objects.requireNonNull(root, "root");
        if (lockWait == null || lockWait.isNegative()) {
            throw new InvalidArgumentException("The lock wait must not be negative: " + lockWait);
        }
        Applicability a = applicability();
        if (!a.applicable()) {
            throw new io.github.incus4j.api.NotSupportedException("The lxc driver cannot run here: " + a.reason());
        }
        return new LxcInstances(info(), Liblxc.load(), root, lockWait, allocation());
    }

    /** Root's subordinate uid and gid ranges, when both are configured. */
    static Optional<IdmapSet> allocation() {
        List<String> users = List.of("root", "0");
        Optional<IdmapEntry> u = LxcInstances.subordinate(Path.of("/etc/subuid"), users, true);
        Optional<IdmapEntry> g = LxcInstances.subordinate(Path.of("/etc/subgid"), users, false);
        if (u.isEmpty() || g.isEmpty()) {
            return Optional.empty();
        }
        List<IdmapEntry> entries = new ArrayList<>(List.of(u.get(), g.get()));
        return Optional.of(new IdmapSet(entries));
    }

    private static boolean isRoot() {
        return uid().equals("0");
    }

    private static String uid() {
        for (String line : Trees.lines(Path.of("/proc/self/status"))) {
            if (line.startsWith("Uid:")) {
                return line.substring(4).trim().split("\\s+")[1];
            }
        }
        return "unknown";
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }
}
