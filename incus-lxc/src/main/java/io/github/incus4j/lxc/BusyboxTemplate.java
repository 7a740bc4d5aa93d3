package io.github.incus4j.lxc;

import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.lxc.binding.LxcTool;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * The {@code busybox} template: lxc's own {@code lxc-busybox} script run once per JVM through {@code lxc-create}
 * (about 2 s), kept in a private temporary directory, then copied for each new container (tens of milliseconds). The
 * script's configuration lines, minus the keys the driver sets itself, become each container's base configuration.
 */
final class BusyboxTemplate {
    private static final Duration CREATE_TIMEOUT = Duration.ofMinutes(2);
    /** Keys the driver writes itself: the template's values name its own paths, a network or AppArmor. */
    private static final List<String> DRIVER_KEYS = List.of("lxc.rootfs.path", "lxc.uts.name", "lxc.net.",
            "lxc.apparmor.", "lxc.idmap", "lxc.console.");

    /**
     * The script's read-only binds of the host's library directories, for a dynamically linked busybox: the static
     * one needs none, and CRIU 4.1 cannot restore them ({@code move_mount} of the host's {@code /lib}, a symlink to
     * {@code usr/lib}: EINVAL), as Incus's containers have no such binds.
     */
    private static final Pattern HOST_BIND = Pattern.compile("lxc\\.mount\\.entry\\s*=\\s*/\\S+\\s.*\\bbind\\b.*");

    private static BusyboxTemplate instance;

    private final Path rootfs;
    private final List<String> config;

    private BusyboxTemplate(Path rootfs, List<String> config) {
        this.rootfs = rootfs;
        this.config = List.copyOf(config);
    }

    /** The template, made on first use. */
    static synchronized BusyboxTemplate get() {
        if (instance == null) {
            instance = make();
        }
        return instance;
    }

    private static BusyboxTemplate make() {
        Path dir;
        try {
            dir = Files.createTempDirectory("incus4j-lxc-busybox-");
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create a directory for the busybox template", e);
        }
        Thread cleanup = new Thread(() -> AbstractInstances.deleteTree(dir), "incus4j-lxc-template-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        String name = "i4j-busybox-" + UUID.randomUUID().toString().substring(0, 8);
        LxcTool.create(dir, name, "busybox", CREATE_TIMEOUT);
        List<String> lines = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(dir.resolve(name).resolve("config"), StandardCharsets.UTF_8)) {
                String t = line.strip();
                if (t.isEmpty() || t.startsWith("#") || DRIVER_KEYS.stream().anyMatch(t::startsWith)
                        || HOST_BIND.matcher(t).matches()) {
                    continue;
                }
                lines.add(t);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the busybox template's configuration", e);
        }
        Path rootfs = dir.resolve(name).resolve("rootfs");
        withoutTtyGettys(rootfs.resolve("etc/inittab"));
        return new BusyboxTemplate(rootfs, lines);
    }

    /**
     * Drops the inittab's gettys on {@code ttyN}: the driver gives containers no ttys but the console (as Incus), and
     * busybox's init would respawn a getty that cannot open its tty without pause.
     */
    private static void withoutTtyGettys(Path inittab) {
        try {
            if (Files.isRegularFile(inittab)) {
                List<String> kept = Files.readAllLines(inittab, StandardCharsets.UTF_8).stream()
                        .filter(l -> !l.startsWith("tty"))
                        .toList();
                Files.write(inittab, kept, StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot edit the busybox template's " + inittab, e);
        }
    }

    /** The template's root filesystem, owned by host root (privileged ids). */
    Path rootfs() {
        return rootfs;
    }

    /** The template's configuration lines that the driver keeps. */
    List<String> config() {
        return config;
    }
}
