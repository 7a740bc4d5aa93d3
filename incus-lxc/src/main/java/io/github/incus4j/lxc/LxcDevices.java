package io.github.incus4j.lxc;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.spi.FileBackend;
import io.github.incus4j.lxc.binding.DeviceNodes;
import io.github.incus4j.lxc.binding.MountInjector;
import io.github.incus4j.lxc.binding.RootDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The container side of {@code disk} (beyond the root), {@code unix-char} and {@code unix-block} devices, turned into
 * liblxc configuration at start as Incus does it ({@code internal/server/device/disk.go}, {@code unix_common.go}):
 * a host path bind-mounted ({@code lxc.mount.entry}) at the device's {@code path}, read-only on request, through an
 * idmapped mount ({@code idmap=container}) when {@code shift=true} in an unprivileged container; a device node made
 * in the instance's {@code devices} directory on the host (owner shifted into the container), bind-mounted in its place
 * and allowed by a cgroup device rule. Mount targets are checked and created inside the root filesystem through
 * {@link RootDirectory}, so a symbolic link in the container cannot send a mount outside it. {@code none} devices (the
 * masks of profile devices) and the types other helpers handle ({@code nic}, {@code proxy}) are left alone; the rest
 * are refused by name.
 */
final class LxcDevices {
    /** Device types the lxc driver cannot apply (yet): refused at start rather than silently dropped. */
    private static final Set<String> UNSUPPORTED = Set.of("unix-hotplug", "usb", "gpu", "infiniband", "tpm", "pci");
    private static final Set<String> DISK_KEYS = Set.of("type", "path", "source", "readonly", "required", "optional",
            "shift", "recursive", "propagation", "size");
    private static final Set<String> UNIX_KEYS = Set.of("type", "path", "source", "major", "minor", "uid", "gid",
            "mode", "required");
    private static final int S_IFMT = 0170000;
    private static final int S_IFLNK = 0120000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFBLK = 0060000;

    private final String instance;
    private final Path rootfs;
    private final Path devicesDir;
    private final IdmapSet idmap;

    /**
     * @param instance the instance name, for messages
     * @param rootfs the container's root filesystem
     * @param devicesDir the host directory the instance's device nodes are made in (Incus's {@code DevicesPath})
     * @param idmap the id map the container starts with, null when privileged
     */
    LxcDevices(String instance, Path rootfs, Path devicesDir, IdmapSet idmap) {
        this.instance = instance;
        this.rootfs = rootfs;
        this.devicesDir = devicesDir;
        this.idmap = idmap;
    }

    /**
     * The liblxc configuration lines of {@code devices} (the expanded devices), preparing what they need on the host
     * (mount points in the root filesystem, device nodes). Called before every start, with the config written.
     *
     * @throws InvalidArgumentException for a missing required source or a target path that is not acceptable
     * @throws NotSupportedException for a device type or key this driver cannot apply
     */
    List<String> configLines(Map<String, Device> devices) {
        resetDevicesDir();
        List<String> lines = new ArrayList<>();
        for (Map.Entry<String, Device> e : devices.entrySet()) {
            String name = e.getKey();
            Device d = e.getValue();
            switch (d.type()) {
                case "disk" -> disk(name, d, lines);
                case "unix-char", "unix-block" -> unix(name, d, lines);
                default -> {
                    if (UNSUPPORTED.contains(d.type())) {
                        throw new NotSupportedException("Failed to start device " + ErrorTexts.quote(name)
                                + ": devices of type " + ErrorTexts.quote(d.type())
                                + " are not supported by the lxc driver");
                    }
                }
            }
        }
        return lines;
    }

    /** The options applied for devices of {@code type} ({@code disk}, {@code unix-char}, {@code unix-block}). */
    static Set<String> options(String type) {
        Set<String> out = new java.util.HashSet<>(type.equals("disk") ? DISK_KEYS : UNIX_KEYS);
        out.remove("type");
        return Set.copyOf(out);
    }

    /** The message Incus wraps a device's start failure in. */
    private static String failed(String name, String why) {
        return "Failed to start device " + ErrorTexts.quote(name) + ": " + why;
    }

    private static void onlyKeys(String name, Device d, Set<String> allowed) {
        for (String k : d.config().keySet()) {
            if (!allowed.contains(k) && !k.startsWith("user.") && !k.startsWith("initial.")) {
                throw new NotSupportedException(failed(name, "the " + ErrorTexts.quote(d.type()) + " option "
                        + ErrorTexts.quote(k) + " is not supported by the lxc driver"));
            }
        }
    }

    // ---- disk ---------------------------------------------------------------------------------------------------

    private void disk(String name, Device d, List<String> lines) {
        String path = d.get("path");
        if ("/".equals(path)) {
            return; // the root disk is the root filesystem itself
        }
        onlyKeys(name, d, DISK_KEYS);
        String source = d.config().getOrDefault("source", "");
        if (d.get("pool") != null) {
            throw new NotSupportedException(failed(name, "custom storage volumes are not supported by the lxc driver"));
        }
        boolean readonly = ConfigValues.isTrue(d.get("readonly"));
        List<String> options = new ArrayList<>();
        if (source.equals("tmpfs")) {
            String target = prepareTarget(name, path, true);
            options.add("create=dir");
            options.add("nodev");
            options.add("nosuid");
            if (readonly) {
                options.add("ro");
            }
            if (d.get("size") != null) {
                options.add("size=" + ConfigValues.parseByteSize(d.get("size")));
            }
            lines.add(mountEntry("tmpfs", target, "tmpfs", options));
            return;
        }
        if (!source.startsWith("/")) {
            throw new NotSupportedException(failed(name, "disk source " + ErrorTexts.quote(source)
                    + " is not supported by the lxc driver (a host path or tmpfs is)"));
        }
        Path host = Path.of(source);
        PosixFileAttributes attrs;
        try {
            attrs = Files.readAttributes(host, PosixFileAttributes.class); // follows host symlinks: the host's choice
        } catch (IOException missing) {
            if (!required(d)) {
                return;
            }
            throw new InvalidArgumentException(failed(name, "Missing source path " + ErrorTexts.quote(source)));
        }
        int mode = (int) unixMode(host);
        if ((mode & S_IFMT) == S_IFBLK) {
            throw new NotSupportedException(failed(name, "block device sources (" + ErrorTexts.quote(source)
                    + ") are not supported by the lxc driver yet"));
        }
        boolean dir = attrs.isDirectory();
        String target = prepareTarget(name, path, dir);
        options.add(ConfigValues.isTrue(d.get("recursive")) ? "rbind" : "bind");
        options.add(dir ? "create=dir" : "create=file"); // made above, but /dev is a fresh tmpfs (lxc.autodev)
        if (readonly) {
            options.add("ro");
        }
        String propagation = d.get("propagation");
        if (propagation != null && !propagation.isEmpty()) {
            options.add(propagation);
        }
        if (ConfigValues.isTrue(d.get("shift")) && idmap != null) {
            // liblxc 5.0 makes an idmapped mount of the source with the container's user namespace: files owned by
            // host root are root's inside, and what the container writes is owned by host ids outside.
            options.add("idmap=container");
        }
        lines.add(mountEntry(host.toString(), target, "none", options));
    }

    private static boolean required(Device d) {
        if (d.get("required") != null) {
            return ConfigValues.isTrue(d.get("required"));
        }
        return !ConfigValues.isTrue(d.get("optional"));
    }

    private static long unixMode(Path p) {
        try {
            return ((Number) Files.getAttribute(p, "unix:mode")).longValue();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the mode of " + p, e);
        }
    }

    /**
     * Checks a mount target inside the container and makes it (a directory, else an empty file) when missing,
     * resolving every component inside the root filesystem with symbolic links refused: liblxc mounts on the path
     * as it finds it at start, and a link could point it at the host. Returns the path relative to the rootfs.
     */
    private String prepareTarget(String name, String path, boolean directory) {
        if (path == null || !path.startsWith("/")) {
            throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(String.valueOf(path))
                    + " must be absolute"));
        }
        List<String> parts = new ArrayList<>();
        for (String part : path.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(path)
                        + " may not contain \"..\""));
            }
            parts.add(part);
        }
        if (parts.isEmpty()) {
            throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(path)
                    + " is the root directory"));
        }
        RootDirectory fs = new RootDirectory(rootfs, idmap);
        StringBuilder at = new StringBuilder();
        for (int i = 0; i < parts.size(); i++) {
            at.append('/').append(parts.get(i));
            boolean last = i == parts.size() - 1;
            FileAttributes a;
            try {
                a = fs.lstat(at.toString());
            } catch (NotFoundException missing) {
                if (!last || directory) {
                    fs.mkdir(at.toString(), 0755);
                } else {
                    // an empty file to bind the source file on
                    fs.open(at.toString(), EnumSet.of(FileBackend.OpenFlag.WRITE, FileBackend.OpenFlag.CREATE), 0644)
                            .close();
                }
                continue;
            }
            if ((a.mode() & S_IFMT) == S_IFLNK) {
                throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(path)
                        + " goes through the symbolic link " + ErrorTexts.quote(at.toString())
                        + " in the container, which could lead the mount outside it"));
            }
            if (!last && (a.mode() & S_IFMT) != S_IFDIR) {
                throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(path) + ": "
                        + ErrorTexts.quote(at.toString()) + " is not a directory"));
            }
            if (last && directory != ((a.mode() & S_IFMT) == S_IFDIR)) {
                throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(path) + " is "
                        + (directory ? "not a directory" : "a directory") + " in the container, the source "
                        + (directory ? "is one" : "is not")));
            }
        }
        return String.join("/", parts);
    }

    /** An fstab line for {@code lxc.mount.entry}, with blanks and backslashes octal-escaped as fstab wants. */
    private static String mountEntry(String source, String relativeTarget, String fstype, List<String> options) {
        return "lxc.mount.entry = " + fstab(source) + " " + fstab(relativeTarget) + " " + fstype + " "
                + String.join(",", options) + " 0 0";
    }

    private static String fstab(String s) {
        if (s.indexOf('\n') >= 0) {
            throw new InvalidArgumentException("Invalid path " + ErrorTexts.quote(s) + ": contains a newline");
        }
        return s.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011");
    }

    // ---- unix-char / unix-block ---------------------------------------------------------------------------------

    /** A device node made on the host for a unix device: where, what to allow, where it goes inside. */
    record Node(Path host, String target, String rule) {
    }

    private void unix(String name, Device d, List<String> lines) {
        Node n = makeNode(name, d, true);
        if (n == null) {
            return;
        }
        lines.add(mountEntry(n.host().toString(), n.target(), "none", List.of("bind", "create=file")));
        lines.add((LxcCgroup.isV1() ? "lxc.cgroup.devices.allow = " : "lxc.cgroup2.devices.allow = ") + n.rule());
    }

    /**
     * Makes the host node of a unix device in the devices directory (owner shifted into the container), or returns
     * null for a missing source that is not required. {@code checkTarget}: check and make the target in the root
     * filesystem (at start; a running container's target is handled by {@link MountInjector}).
     */
    Node makeNode(String name, Device d, boolean checkTarget) {
        onlyKeys(name, d, UNIX_KEYS);
        boolean chr = d.type().equals("unix-char");
        String source = d.get("source") != null ? d.get("source") : d.get("path");
        String dest = d.get("path") != null ? d.get("path") : d.get("source");
        int major = -1;
        int minor = -1;
        Path src = Path.of(source.startsWith("/") ? source : "/" + source);
        if (Files.exists(src)) {
            int mode = (int) unixMode(src);
            if ((mode & S_IFMT) != (chr ? S_IFCHR : S_IFBLK)) {
                throw new InvalidArgumentException(failed(name, "Path specified is not a " + d.type() + " device"));
            }
            long rdev = rdev(src);
            major = (int) (((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL));
            minor = (int) ((rdev & 0xff) | ((rdev >>> 12) & ~0xffL));
        }
        if (d.get("major") != null) {
            major = parseUint(name, "major", d.get("major"));
        }
        if (d.get("minor") != null) {
            minor = parseUint(name, "minor", d.get("minor"));
        }
        if (major < 0 || minor < 0) {
            if (!ConfigValues.isTrue(d.config().getOrDefault("required", "true"))) {
                return null;
            }
            throw new InvalidArgumentException(failed(name,
                    "The required device path doesn't exist and the major and minor settings are not specified"));
        }
        int perm = d.get("mode") == null ? 0660 : parseMode(name, d.get("mode")) & 07777;
        long uid = d.get("uid") == null ? 0 : parseUint(name, "uid", d.get("uid"));
        long gid = d.get("gid") == null ? 0 : parseUint(name, "gid", d.get("gid"));
        String target = checkTarget ? prepareTarget(name, dest, false) : relative(name, dest);
        Path node = devicesDir.resolve("unix." + encode(name) + "." + encode(target));
        try {
            Files.createDirectories(devicesDir);
            Files.deleteIfExists(node);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot prepare " + node, e);
        }
        DeviceNodes.mknod(node, (chr ? S_IFCHR : S_IFBLK) | perm, major, minor);
        try {
            Files.setAttribute(node, "unix:uid", (int) hostId(uid, true), LinkOption.NOFOLLOW_LINKS);
            Files.setAttribute(node, "unix:gid", (int) hostId(gid, false), LinkOption.NOFOLLOW_LINKS);
            Files.setAttribute(node, "unix:mode", perm, LinkOption.NOFOLLOW_LINKS); // umask cut it at mknod
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot set the owner of " + node, e);
        }
        return new Node(node, target, (chr ? "c " : "b ") + major + ":" + minor + " rwm");
    }

    /** {@code path} checked as {@link #prepareTarget} does, relative, without touching the root filesystem. */
    private static String relative(String name, String path) {
        if (path == null || !path.startsWith("/")) {
            throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(String.valueOf(path))
                    + " must be absolute"));
        }
        List<String> parts = new ArrayList<>();
        for (String part : path.split("/")) {
            if (part.equals("..")) {
                throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(path)
                        + " may not contain \"..\""));
            }
            if (!part.isEmpty() && !part.equals(".")) {
                parts.add(part);
            }
        }
        if (parts.isEmpty()) {
            throw new InvalidArgumentException(failed(name, "the path " + ErrorTexts.quote(path)
                    + " is the root directory"));
        }
        return String.join("/", parts);
    }

    /**
     * Mounts a disk device into the running container whose init is {@code pid} (its target resolved inside the
     * container, no symbolic links), as Incus's hot plug of a disk does.
     */
    void hotAddDisk(String name, Device d, int pid) {
        onlyKeys(name, d, DISK_KEYS);
        String source = d.config().getOrDefault("source", "");
        if (d.get("pool") != null || !source.startsWith("/")) {
            throw new NotSupportedException("Device " + ErrorTexts.quote(name) + ": only host path disks can be "
                    + "added to a running container by the lxc driver");
        }
        Path host = Path.of(source);
        if (!Files.exists(host)) {
            if (!required(d)) {
                return;
            }
            throw new InvalidArgumentException(failed(name, "Missing source path " + ErrorTexts.quote(source)));
        }
        if (((int) unixMode(host) & S_IFMT) == S_IFBLK) {
            throw new NotSupportedException(failed(name, "block device sources (" + ErrorTexts.quote(source)
                    + ") are not supported by the lxc driver yet"));
        }
        String target = "/" + relative(name, d.get("path"));
        boolean shift = ConfigValues.isTrue(d.get("shift")) && idmap != null;
        MountInjector.bind(pid, host, target, Files.isDirectory(host), ConfigValues.isTrue(d.get("recursive")),
                ConfigValues.isTrue(d.get("readonly")), shift ? Path.of("/proc", Integer.toString(pid), "ns", "user")
                        : null, creator());
    }

    /** The host ids of the container's root, to make mount points as; null when privileged. */
    int[] creator() {
        return idmap == null ? null : new int[] {(int) hostId(0, true), (int) hostId(0, false)};
    }

    /** Unmounts a disk device from the running container (the mount point stays, as in Incus). */
    void hotRemoveDisk(String name, Device d, int pid) {
        MountInjector.unmount(pid, "/" + relative(name, d.get("path")), false);
    }

    /** Adds a unix device to the running container: its node made, mounted in place; returns its cgroup rule. */
    String hotAddUnix(String name, Device d, int pid) {
        Node n = makeNode(name, d, false);
        if (n == null) {
            return null;
        }
        MountInjector.bind(pid, n.host(), "/" + n.target(), false, false, false, null, creator());
        return n.rule();
    }

    /** Removes a unix device from the running container: unmounted, its file there and its host node removed. */
    void hotRemoveUnix(String name, Device d, int pid) {
        String dest = d.get("path") != null ? d.get("path") : d.get("source");
        String target = relative(name, dest);
        MountInjector.unmount(pid, "/" + target, true);
        try {
            Files.deleteIfExists(devicesDir.resolve("unix." + encode(name) + "." + encode(target)));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot remove the device node of " + ErrorTexts.quote(name), e);
        }
    }

    private static long rdev(Path p) {
        try {
            return ((Number) Files.getAttribute(p, "unix:rdev")).longValue();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the device number of " + p, e);
        }
    }

    private long hostId(long id, boolean uid) {
        if (idmap == null) {
            return id;
        }
        for (IdmapEntry e : idmap.entries()) {
            if ((uid ? e.isUid() : e.isGid()) && id >= e.nsId() && id < e.nsId() + e.mapRange()) {
                return e.hostId() + id - e.nsId();
            }
        }
        throw new InvalidArgumentException("The " + (uid ? "uid" : "gid") + " " + id + " is not mapped in "
                + ErrorTexts.quote(instance));
    }

    private static int parseUint(String name, String key, String v) {
        try {
            long n = Long.parseLong(v.trim());
            if (n >= 0 && n <= 0xffffffffL) {
                return (int) n;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw new InvalidArgumentException(failed(name, "Invalid value for device option " + ErrorTexts.quote(key)
                + ": " + ErrorTexts.quote(v)));
    }

    private static int parseMode(String name, String v) {
        try {
            int m = Integer.parseInt(v.trim(), 8);
            if (m >= 0 && m <= 07777) {
                return m;
            }
        } catch (NumberFormatException e) {
            // refused below
        }
        throw new InvalidArgumentException(failed(name, "Invalid value for device option \"mode\": "
                + ErrorTexts.quote(v)));
    }

    /** A file name for a path, as Incus's {@code PathNameEncode}: "/" becomes "-", "-" becomes "--". */
    private static String encode(String s) {
        return s.replace("-", "--").replace("/", "-");
    }

    /** Empties the devices directory: nodes are made again at each start, from the current definition. */
    private void resetDevicesDir() {
        try {
            if (Files.isDirectory(devicesDir, LinkOption.NOFOLLOW_LINKS)) {
                try (var s = Files.list(devicesDir)) {
                    for (Path p : s.toList()) {
                        Files.deleteIfExists(p);
                    }
                }
            }
            Files.createDirectories(devicesDir);
            Files.setAttribute(devicesDir, "unix:mode", 0711); // the container's root must reach its nodes
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot prepare " + devicesDir, e);
        }
    }
}
