package io.github.incus4j.lxc;

import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.lxc.binding.RootDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One container's disk, unix and proxy devices ({@link LxcDevices}, {@link LxcProxies}): their config lines at start,
 * and, as Incus hot-plugs them, their addition to and removal from the running container (a proxy forwards, a disk is
 * mounted, a device node made and mounted into its mount namespace with its cgroup rule), including the device nodes
 * a seccomp-intercepted {@code mknod} asks for. NICs are {@link LxcNicLifecycle}'s.
 */
final class LxcLiveDevices {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstance.class.getName());

    private final LxcContainerInstance instance;
    private final LxcProxies proxies;

    LxcLiveDevices(LxcContainerInstance instance, LxcProxies proxies) {
        this.instance = instance;
        this.proxies = proxies;
    }

    /** The mounts and cgroup rules of the disk and unix devices, their host side prepared ({@link LxcDevices}). */
    List<String> startLines() {
        return new LxcDevices(instance.name(), instance.rootfsPath(), instance.path().resolve("devices"),
                instance.nextIdmap().orElse(null)).configLines(instance.expandedDevices().map());
    }

    /** The disk and unix devices of the running container (ids shifted by the map it runs with). */
    private LxcDevices running() {
        return new LxcDevices(instance.name(), instance.rootfsPath(), instance.path().resolve("devices"),
                instance.currentIdmap().or(instance::nextIdmap).orElse(null));
    }

    /** Applies a device added to the running container; types other than proxy, disk and unix are left alone. */
    void added(String devName, Device device) {
        int pid = instance.driverInitPid();
        if (pid <= 0) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, instance.statusCode());
        }
        switch (device.type()) {
            case "proxy" -> proxies.start(devName, device, pid);
            case "disk" -> running().hotAddDisk(devName, device, pid);
            case "unix-char", "unix-block" -> {
                String rule = running().hotAddUnix(devName, device, pid);
                if (rule != null) {
                    instance.cgroupWrite("devices.allow", rule);
                }
            }
            default -> {
            }
        }
    }

    /** Removes a device from the running container: a proxy stops, a disk or device node is unmounted. */
    void removed(String devName, Device device) {
        int pid = instance.driverInitPid();
        switch (device.type()) {
            case "proxy" -> proxies.stop(devName);
            case "disk" -> {
                if (pid > 0) {
                    running().hotRemoveDisk(devName, device, pid);
                }
            }
            case "unix-char", "unix-block" -> {
                if (pid > 0) {
                    running().hotRemoveUnix(devName, device, pid);
                }
            }
            default -> {
            }
        }
    }

    /**
     * Makes the device node a seccomp-intercepted {@code mknod} of process {@code pid} asked for, as Incus does: the
     * node is made on the host with the caller's ids (shifted into the container), bind-mounted at {@code path}
     * (relative to the caller's working directory unless absolute) in the caller's mount namespace, and the host
     * node removed (the mount keeps it).
     */
    void insertSeccompUnixDevice(String prefix, Device device, int pid) {
        if (pid < 0) {
            throw new InvalidArgumentException("Invalid request PID specified");
        }
        Objects.requireNonNull(device, "device");
        if (prefix == null || prefix.isEmpty() || prefix.contains("/")) {
            throw new InvalidArgumentException("Invalid device prefix " + ErrorTexts.quote(String.valueOf(prefix)));
        }
        if (!instance.isRunning()) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, instance.statusCode());
        }
        Path proc = Path.of("/proc", Integer.toString(pid));
        String path = device.get("path");
        if (path == null || path.isEmpty()) {
            throw new InvalidArgumentException("Missing device path");
        }
        long uid;
        long gid;
        try {
            String root = Files.readSymbolicLink(proc.resolve("root")).toString();
            if (!path.startsWith("/")) {
                String cwd = Files.readSymbolicLink(proc.resolve("cwd")).toString();
                if (cwd.startsWith(root) && !root.equals("/")) {
                    cwd = cwd.substring(root.length());
                }
                path = cwd + "/" + path;
            }
            long[] ids = taskIds(proc);
            uid = ids[0];
            gid = ids[1];
        } catch (IOException e) {
            throw new NotFoundException("Process " + pid + " not found: " + e.getMessage());
        }
        IdmapSet map = instance.currentIdmap().orElse(null);
        Map<String, String> m = new HashMap<>(device.config());
        m.put("path", path);
        m.put("uid", Long.toString(map == null ? uid : fromHost(map, uid, true)));
        m.put("gid", Long.toString(map == null ? gid : fromHost(map, gid, false)));
        if (m.get("mode") != null) {
            try {
                m.put("mode", Integer.toOctalString(Integer.parseInt(m.get("mode").trim(), 8) & 07777));
            } catch (NumberFormatException e) {
                throw new InvalidArgumentException("Invalid device mode " + ErrorTexts.quote(m.get("mode")));
            }
        }
        m.remove("source");
        LxcDevices.Node n = running().makeNode(prefix, new Device(m), false);
        try {
            io.github.incus4j.lxc.binding.MountInjector.bind(pid, n.host(), "/" + n.target(), false, false, false,
                    null, running().creator());
        } finally {
            try {
                Files.deleteIfExists(n.host());
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "Cannot remove " + n.host(), e);
            }
        }
    }

    /** The real uid and gid of a process, from its {@code status}. */
    private static long[] taskIds(Path proc) throws IOException {
        long[] ids = {-1, -1};
        for (String line : Files.readAllLines(proc.resolve("status"))) {
            if (line.startsWith("Uid:")) {
                ids[0] = Long.parseLong(line.substring(4).trim().split("\\s+")[0]);
            } else if (line.startsWith("Gid:")) {
                ids[1] = Long.parseLong(line.substring(4).trim().split("\\s+")[0]);
            }
        }
        return ids;
    }

    /** A host id as the container sees it (the overflow id when unmapped). */
    private static long fromHost(IdmapSet map, long hostId, boolean uid) {
        for (IdmapEntry e : map.entries()) {
            if ((uid ? e.isUid() : e.isGid()) && hostId >= e.hostId() && hostId < e.hostId() + e.mapRange()) {
                return e.nsId() + hostId - e.hostId();
            }
        }
        return RootDirectory.OVERFLOW_ID;
    }
}
