package io.github.incus4j.lxc;

import io.github.incus4j.api.internal.store.RecordStore;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The files liblxc reads for a container in its directory ({@code lxcpath/<name>}): {@code base.conf}, the settings
 * the root filesystem came with (the template's, or {@link #GENERIC_BASE}), and {@code config}, generated from the
 * instance's definition (name, paths, id map, limits, then at start its NICs and devices, and {@code raw.lxc} last)
 * and replaced whole, because liblxc reads it for every status, from other threads too. A rename or delete removes
 * {@code config} first, so that a reader sees no container rather than one with missing parts.
 */
final class LxcConfigFile {
    private static final int CONSOLE_BUFFER = 256 * 1024;
    /** Settings for a root filesystem that comes without lxc configuration (a rootfs directory). */
    static final List<String> GENERIC_BASE = List.of("lxc.autodev = 1", "lxc.tty.max = 0",
            "lxc.pty.max = 1024", "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
            "lxc.cap.drop = sys_module mac_admin mac_override sys_time");

    /** Whether the kernel has AppArmor enabled, as liblxc itself decides it. */
    private static final boolean APPARMOR = apparmorEnabled();

    private LxcConfigFile() {
    }

    private static boolean apparmorEnabled() {
        try {
            return Files.readString(Path.of("/sys/module/apparmor/parameters/enabled")).strip().equals("Y");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Writes liblxc's {@code config} for the current definition of {@code c}, without network and devices (a start
     * writes them, with their host side prepared).
     */
    static void write(LxcContainerInstance c) {
        write(c, List.of("lxc.net.0.type = empty"), List.of());
    }

    /**
     * Writes liblxc's {@code config} for the current definition of {@code c} with {@code netLines}, the NICs'
     * settings, and {@code deviceLines}, the disk and unix devices' mounts and cgroup rules.
     */
    static void write(LxcContainerInstance c, List<String> netLines, List<String> deviceLines) {
        Path lxcDir = c.lxcDir();
        List<String> lines = new ArrayList<>();
        lines.add("lxc.include = " + lxcDir.resolve("base.conf"));
        lines.add("lxc.uts.name = " + c.name());
        lines.add("lxc.rootfs.path = dir:" + c.rootfsPath());
        lines.addAll(netLines);
        // No ttys besides the console, as Incus: their ptys' masters are the monitor's, which CRIU cannot dump.
        lines.add("lxc.tty.max = 0");
        // Only where AppArmor is on (as Incus): liblxc hands the profile to CRIU's restore, which refuses an AppArmor
        // profile on a kernel without AppArmor.
        if (APPARMOR) {
            lines.add("lxc.apparmor.profile = unconfined");
        }
        lines.add("lxc.console.buffer.size = " + CONSOLE_BUFFER);
        lines.add("lxc.console.logfile = " + c.consoleBufferLogPath());
        for (IdmapEntry e : c.nextIdmap().map(IdmapSet::entries).orElse(List.of())) {
            for (String kind : e.isUid() && e.isGid() ? List.of("u", "g") : List.of(e.isUid() ? "u" : "g")) {
                lines.add("lxc.idmap = " + kind + " " + e.nsId() + " " + e.hostId() + " " + e.mapRange());
            }
        }
        LxcLimits.configLines(c.expandedConfig(), lines);
        lines.addAll(deviceLines);
        // raw.lxc last, as Incus loads it over its generated configuration (validated when it was set).
        String raw = c.expandedConfig().get("raw.lxc");
        if (raw != null && !raw.isEmpty()) {
            lines.add(raw);
        }
        // Replaced whole: liblxc reads it for every status, from other threads too, and must never see half a file.
        RecordStore.writeAtomically(lxcDir.resolve("config"),
                (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8), false);
    }

    /** Removes liblxc's config first, so that readers see no container rather than one with missing parts. */
    static void remove(Path lxcDir) {
        try {
            Files.deleteIfExists(lxcDir.resolve("config"));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot remove the lxc configuration in " + lxcDir, e);
        }
    }
}
