package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.lxc.binding.LxcTool;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Whether CRIU can checkpoint containers on this host, found out once per process: the {@code criu} binary on the
 * path, then {@code criu check} (which initialises CRIU's kernel feature detection, the step that fails when the
 * kernel is newer than CRIU knows, e.g. CRIU 3.17 on a kernel with a {@code [vvar_vclock]} mapping).
 *
 * @param installed whether {@code criu} is on the path
 * @param usable whether {@code criu check} passed
 * @param version {@code criu --version}'s version, empty when not installed
 * @param reason why it is not usable (empty when it is)
 */
record Criu(boolean installed, boolean usable, String version, String reason) {
    private static final Duration CHECK_TIMEOUT = Duration.ofSeconds(20);
    private static volatile Criu probed;

    /** The host's CRIU, probed at the first call. */
    static Criu host() {
        Criu c = probed;
        if (c == null) {
            synchronized (Criu.class) {
                c = probed;
                if (c == null) {
                    c = probe();
                    probed = c;
                }
            }
        }
        return c;
    }

    private static Criu probe() {
        if (!LxcDriver.onPath("criu")) {
            return new Criu(false, false, "", "CRIU isn't installed");
        }
        String version = "";
        try {
            LxcTool.Output v = LxcTool.exec(List.of("criu", "--version"), CHECK_TIMEOUT, "ask CRIU its version");
            for (String line : v.text().split("\n")) {
                if (line.startsWith("Version:")) {
                    version = line.substring("Version:".length()).trim();
                }
            }
            LxcTool.Output check = LxcTool.exec(List.of("criu", "check"), CHECK_TIMEOUT, "run criu check");
            if (check.exitCode() == 0) {
                return new Criu(true, true, version, "");
            }
            return new Criu(true, false, version, "criu check failed (CRIU " + version + ", kernel "
                    + System.getProperty("os.version") + "): " + errors(check.text()));
        } catch (IncusException e) {
            return new Criu(true, false, version, e.getMessage());
        }
    }

    private static volatile Boolean dirtyTracking;

    /**
     * Whether CRIU can track the pages a process dirties ({@code criu check --feature mem_dirty_track}, what
     * liblxc's {@code MIGRATE_FEATURE_CHECK} with {@code FEATURE_MEM_TRACK} runs), which pre-dumps need: the
     * kernel's soft-dirty bits ({@code CONFIG_MEM_SOFT_DIRTY}). Incus migrates with a single dump without it.
     */
    boolean dirtyTracking() {
        Boolean d = dirtyTracking;
        if (d == null) {
            d = usable && LxcTool.exec(List.of("criu", "check", "--feature", "mem_dirty_track"), CHECK_TIMEOUT,
                    "ask CRIU whether it tracks dirty memory").exitCode() == 0;
            dirtyTracking = d;
        }
        return d;
    }

    /** The {@code Error} lines of CRIU's output, without their source locations, joined. */
    static String errors(String text) {
        List<String> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            int at = line.indexOf("Error (");
            if (at >= 0) {
                int close = line.indexOf("): ", at);
                String message = close > 0 ? line.substring(close + 3).trim() : line.substring(at).trim();
                // Probes of optional helpers (ip, iptables) that CRIU runs and tolerates.
                if (!message.startsWith("exited, status=")) {
                    out.add(message);
                }
            }
        }
        return out.isEmpty() ? text.strip() : String.join("; ", out);
    }

    /**
     * Throws unless CRIU is usable: {@code "<what>. CRIU isn't installed"} as Incus words it, or
     * {@code "<what>. CRIU cannot checkpoint on this host: <reason>"}.
     */
    void require(String what) {
        if (!installed) {
            throw new NotSupportedException(what + ". CRIU isn't installed");
        }
        if (!usable) {
            throw new NotSupportedException(what + ". CRIU cannot checkpoint on this host: " + reason);
        }
    }

    /**
     * Writes the CRIU options this host needs into {@code dir/criu.conf} and returns the environment that makes the
     * CRIU run by {@code lxc-checkpoint} read them (liblxc passes none of its own for this): {@code network-lock
     * nftables} where {@code iptables-restore} is missing, since CRIU's default lock of the container's network runs
     * it and Debian 12 hosts are nftables-only unless the iptables package is installed. Written before every dump
     * and restore from this host's answer: a state moved from another host is restored with this one's options.
     */
    Map<String, String> options(Path dir) {
        List<String> lines = new ArrayList<>();
        if (!LxcDriver.onPath("iptables-restore")) {
            lines.add("network-lock nftables");
        }
        Path file = dir.resolve("criu.conf");
        try {
            Files.createDirectories(dir);
            Files.write(file, lines, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IncusException("Cannot write CRIU's options to " + file + ": " + e.getMessage(), e);
        }
        return Map.of("CRIU_CONFIG_FILE", file.toAbsolutePath().toString());
    }

    /** A failed dump or restore: lxc-checkpoint's error, with the {@code Error} lines of CRIU's log in {@code dir}. */
    static IncusException failure(IncusException e, Path dir, String log) {
        Path file = dir.resolve(log);
        try {
            if (Files.isReadable(file)) {
                return new IncusException(e.getMessage() + " (" + file + ": " + errors(Files.readString(file)) + ")",
                        e);
            }
        } catch (IOException unreadable) {
            e.addSuppressed(unreadable);
        }
        return e;
    }
}
