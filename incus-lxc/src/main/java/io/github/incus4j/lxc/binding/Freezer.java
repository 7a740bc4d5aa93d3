package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.OperationTimeoutException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import org.apiguardian.api.API;

/**
 * Freezes and thaws a running container through the cgroup filesystem directly: {@code freezer.state} of the
 * container's freezer cgroup on cgroup v1, {@code cgroup.freeze} and {@code cgroup.events} on cgroup v2.
 *
 * <p>Why not liblxc's {@code freeze()}: on v1 it writes {@code FROZEN}, reads the state once and sleeps a whole second
 * whenever the kernel still says {@code FREEZING} (1 to 4 cycles in 50 here), and a freeze that catches busybox init in
 * {@code vfork} stays {@code FREEZING} until {@code FROZEN} is written again. This class polls with sleeps growing
 * from 20 µs to 1 ms and writes the request again every {@value #REWRITE_MS} ms while it is not done, so a freeze takes
 * a few milliseconds at worst, and it gives up (thawing again) at a caller-given deadline.
 */
@API(status = INTERNAL)
public final class Freezer {
    private static final long REWRITE_MS = 2;
    private static final long FIRST_PAUSE_NS = 20_000;
    private static final long MAX_PAUSE_NS = 1_000_000;

    private final Path directory;
    private final boolean v2;
    private final String name;

    private Freezer(Path directory, boolean v2, String name) {
        this.directory = directory;
        this.v2 = v2;
        this.name = name;
    }

    /**
     * The freezer of a running container, found from its init's {@code /proc/<pid>/cgroup}: the v1 freezer hierarchy
     * when mounted, the unified hierarchy otherwise. When init sits below the container's own cgroup
     * ({@code lxc.payload.<name>}, as with a nested cgroup layout inside), the container's cgroup is used, so that every
     * process of the container freezes.
     *
     * @throws NotFoundException when the process or its freezer cgroup does not exist
     */
    public static Freezer of(int initPid, String containerName) {
        if (initPid <= 0) {
            throw new InvalidArgumentException("Invalid init pid " + initPid + " for container \"" + containerName
                    + "\": is it running?");
        }
        List<String> cgroups = lines(Path.of("/proc", Integer.toString(initPid), "cgroup"));
        List<Mount> mounts = Mount.all();
        String unified = null;
        for (String line : cgroups) {
            // hierarchy-id:controller-list:path
            String[] parts = line.split(":", 3);
            if (parts.length < 3) {
                continue;
            }
            if (List.of(parts[1].split(",")).contains("freezer")) {
                for (Mount m : mounts) {
                    if (!m.v2 && m.options.contains("freezer")) {
                        return new Freezer(m.resolve(containerCgroup(parts[2], containerName)), false, containerName);
                    }
                }
            } else if (parts[0].equals("0") && parts[1].isEmpty()) {
                unified = parts[2];
            }
        }
        if (unified != null) {
            for (Mount m : mounts) {
                Path dir = m.v2 ? m.resolve(containerCgroup(unified, containerName)) : null;
                if (dir != null && Files.exists(dir.resolve("cgroup.freeze"))) {
                    return new Freezer(dir, true, containerName);
                }
            }
        }
        throw new NotFoundException("No freezer cgroup found for container \"" + containerName + "\" (pid "
                + initPid + ")");
    }

    /** Cuts a cgroup path after the container's own {@code lxc.payload.<name>} component, if it has one. */
    static String containerCgroup(String path, String containerName) {
        String component = "lxc.payload." + containerName;
        int at = path.indexOf("/" + component + "/");
        return at < 0 ? path : path.substring(0, at + 1 + component.length());
    }

    /** The cgroup directory this freezer writes. */
    public Path directory() {
        return directory;
    }

    /** Whether this is the cgroup v2 freezer ({@code cgroup.freeze}). */
    public boolean isV2() {
        return v2;
    }

    /** {@code FROZEN}, {@code FREEZING} or {@code THAWED}, as cgroup v1 names them (v2 states are mapped). */
    public String state() {
        if (!v2) {
            return read("freezer.state");
        }
        if (frozenV2()) {
            return "FROZEN";
        }
        return read("cgroup.freeze").equals("1") ? "FREEZING" : "THAWED";
    }

    /**
     * Freezes every process of the container.
     *
     * @throws OperationTimeoutException when it is not frozen within {@code timeout} (it is thawed again)
     */
    public void freeze(Duration timeout) {
        boolean done = drive(true, timeout);
        if (!done) {
            drive(false, timeout);
            throw new OperationTimeoutException("Failed to freeze container \"" + name + "\": still freezing after "
                    + timeout.toMillis() + " ms");
        }
    }

    /**
     * Thaws the container.
     *
     * @throws OperationTimeoutException when it is not thawed within {@code timeout}
     */
    public void unfreeze(Duration timeout) {
        if (!drive(false, timeout)) {
            throw new OperationTimeoutException("Failed to unfreeze container \"" + name + "\": still frozen after "
                    + timeout.toMillis() + " ms");
        }
    }

    /** Requests a state, re-requesting it while the kernel has not got there, until done or the deadline. */
    private boolean drive(boolean frozen, Duration timeout) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        long lastWrite = start;
        long pause = FIRST_PAUSE_NS;
        request(frozen);
        while (true) {
            if (reached(frozen)) {
                return true;
            }
            long now = System.nanoTime();
            if (now - deadline >= 0) {
                return false;
            }
            if (now - lastWrite >= REWRITE_MS * 1_000_000) {
                request(frozen);
                lastWrite = now;
            }
            LockSupport.parkNanos(Math.min(pause, deadline - now));
            pause = Math.min(pause * 2, MAX_PAUSE_NS);
        }
    }

    private void request(boolean frozen) {
        if (v2) {
            write("cgroup.freeze", frozen ? "1" : "0");
        } else {
            write("freezer.state", frozen ? "FROZEN" : "THAWED");
        }
    }

    private boolean reached(boolean frozen) {
        if (v2) {
            return frozenV2() == frozen;
        }
        return read("freezer.state").equals(frozen ? "FROZEN" : "THAWED");
    }

    private boolean frozenV2() {
        for (String line : read("cgroup.events").split("\n")) {
            if (line.startsWith("frozen ")) {
                return line.endsWith(" 1");
            }
        }
        return false;
    }

    private String read(String file) {
        try {
            return new String(Files.readAllBytes(directory.resolve(file)), StandardCharsets.US_ASCII).strip();
        } catch (NoSuchFileException e) {
            throw new NotFoundException("Container \"" + name + "\" has no cgroup " + directory + ": is it running?",
                    e);
        } catch (IOException e) {
            throw new IncusException("Failed to read " + directory.resolve(file) + ": " + e.getMessage(), e);
        }
    }

    private void write(String file, String value) {
        try {
            Files.write(directory.resolve(file), value.getBytes(StandardCharsets.US_ASCII), StandardOpenOption.WRITE);
        } catch (NoSuchFileException e) {
            throw new NotFoundException("Container \"" + name + "\" has no cgroup " + directory + ": is it running?",
                    e);
        } catch (IOException e) {
            throw new IncusException("Failed to write " + value + " to " + directory.resolve(file) + ": "
                    + e.getMessage(), e);
        }
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new NotFoundException("No such process: " + file.getParent().getFileName(), e);
        } catch (IOException e) {
            throw new IncusException("Failed to read " + file + ": " + e.getMessage(), e);
        }
    }

    /** A cgroup mount from {@code /proc/self/mountinfo}. */
    private record Mount(String root, Path mountPoint, boolean v2, List<String> options) {
        static List<Mount> all() {
            return lines(Path.of("/proc/self/mountinfo")).stream().map(Mount::parse)
                    .filter(m -> m != null).toList();
        }

        /** {@code id parent major:minor root mount-point options [optional...] - fstype source super-options}. */
        static Mount parse(String line) {
            String[] fields = line.split(" ");
            int dash = List.of(fields).indexOf("-");
            if (dash < 5 || dash + 3 >= fields.length) {
                return null;
            }
            String type = fields[dash + 1];
            if (!type.equals("cgroup") && !type.equals("cgroup2")) {
                return null;
            }
            return new Mount(unescape(fields[3]), Path.of(unescape(fields[4])), type.equals("cgroup2"),
                    List.of(fields[dash + 3].split(",")));
        }

        /** The directory of a cgroup path (as /proc/pid/cgroup gives it) under this mount. */
        Path resolve(String cgroupPath) {
            String relative = cgroupPath;
            if (!root.equals("/") && (relative.equals(root) || relative.startsWith(root + "/"))) {
                relative = relative.substring(root.length());
            }
            while (relative.startsWith("/")) {
                relative = relative.substring(1);
            }
            return relative.isEmpty() ? mountPoint : mountPoint.resolve(relative);
        }

        /** mountinfo escapes space, tab, newline and backslash as octal. */
        private static String unescape(String s) {
            if (s.indexOf('\\') < 0) {
                return s;
            }
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '\\' && i + 3 < s.length()) {
                    b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                    i += 3;
                } else {
                    b.append(c);
                }
            }
            return b.toString();
        }
    }
}
