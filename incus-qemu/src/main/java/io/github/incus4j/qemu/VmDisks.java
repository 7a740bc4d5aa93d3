package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * {@code disk} devices of a VM beyond the root disk, as Incus's QEMU driver makes them:
 *
 * <ul>
 *   <li>a host <b>directory</b> ({@code source} a directory, {@code path} where the guest sees it) is shared over
 *       virtio-fs: a {@code virtiofsd} per share (Debian's {@code /usr/lib/qemu/virtiofsd}), a
 *       {@code vhost-user-fs-pci} device with Incus's mount tag {@code incus_<device>}, and the guest memory in a
 *       shared {@code memfd} as vhost-user needs. Incus also adds a 9p export under the same tag; Debian's cloud
 *       kernel (the test guest's) has no 9p, so the driver exports 9p ({@code virtio-9p-pci}, {@code fsdev local},
 *       {@code security_model=passthrough}, read-only when asked) only where there is no virtiofsd. Incus's agent
 *       mounts the share in the guest; this driver has no agent of its own in the guest and mounts it through
 *       {@code qemu-ga} once the agent answers ({@link #mountInGuest}): virtio-fs first, 9p if that fails, as Incus's
 *       agent does. {@code readonly=true} is a read-only bind mount of the source that the share exports (as Incus
 *       does), plus a read-only mount in the guest.</li>
 *   <li>a host <b>file or block device</b> ({@code source}; raw or qcow2, told by its header) is an extra
 *       {@code virtio-blk-pci} disk with serial {@code incus_<device>}, read-only with {@code readonly=true}.
 *       Incus puts extra disks on virtio-scsi by default; virtio-blk is its {@code io.bus=virtio-blk}.</li>
 * </ul>
 *
 * Refused with {@link NotSupportedException}: storage-pool volumes ({@code pool}), options other than
 * {@code source}, {@code path}, {@code readonly}, {@code required}, {@code io.bus} ({@code virtio-blk} for files,
 * {@code 9p}/{@code virtiofs} for directories) and {@code user.*}.
 */
final class VmDisks {
    private static final System.Logger LOG = System.getLogger(VmDisks.class.getName());
    static final List<Path> VIRTIOFSD = List.of(Path.of("/usr/lib/qemu/virtiofsd"), Path.of("/usr/libexec/virtiofsd"),
            Path.of("/usr/lib/virtiofsd"));
    private static final Set<String> KEYS = Set.of("type", "source", "path", "readonly", "required", "io.bus");
    private static final Duration SOCKET_WAIT = Duration.ofSeconds(10);
    private static final Duration MOUNT_WAIT = Duration.ofSeconds(30);
    private static final Duration TOOL_WAIT = Duration.ofSeconds(10);

    /** A directory share. */
    record Share(int index, String device, Path source, String guestPath, boolean readonly) {
        String tag() {
            return "incus_" + device;
        }
    }

    /** An extra block disk. */
    record Block(String device, Path source, String format, boolean readonly) {
        /** The block node and the serial the guest sees ({@code incus_<device>}); the device's id is {@code dev-<node>}. */
        String node() {
            return "incus_" + device;
        }
    }

    final List<Share> shares = new ArrayList<>();
    final List<Block> blocks = new ArrayList<>();
    /** The virtiofsd processes this plan started (they end by themselves when QEMU closes their socket). */
    private final List<Process> daemons = new ArrayList<>();
    private final Path virtiofsd;

    private VmDisks(Path virtiofsd) {
        this.virtiofsd = virtiofsd;
    }

    /** The extra disks of {@code devices} (root disk excluded), checked against the host. */
    static VmDisks plan(Map<String, Device> devices) {
        VmDisks out = new VmDisks(VIRTIOFSD.stream().filter(Files::isExecutable).findFirst().orElse(null));
        new TreeMap<>(devices).forEach((name, d) -> {
            if (!"disk".equals(d.type()) || "/".equals(d.get("path"))) {
                return;
            }
            for (String k : d.config().keySet()) {
                if (!KEYS.contains(k) && !k.startsWith("user.")) {
                    throw new NotSupportedException("Device option " + ErrorTexts.quote(k) + " of disk "
                            + ErrorTexts.quote(name) + " is not supported by the qemu driver");
                }
            }
            String src = d.get("source");
            if (src == null || src.isEmpty()) {
                throw new NotSupportedException("Disk " + ErrorTexts.quote(name) + " has no source: storage"
                        + " volumes are not supported by the qemu driver");
            }
            Path source = Path.of(src);
            if (!source.isAbsolute() || !source.normalize().equals(source)) {
                throw new InvalidArgumentException("Disk source path " + ErrorTexts.quote(src) + " of "
                        + ErrorTexts.quote(name) + " must be absolute and normalized");
            }
            boolean ro = Boolean.parseBoolean(d.config().getOrDefault("readonly", "false"));
            String bus = d.config().getOrDefault("io.bus", "");
            if (!Files.exists(source)) {
                if ("false".equals(d.get("required"))) {
                    return;
                }
                throw new NotFoundException("Missing source path " + ErrorTexts.quote(src) + " for disk "
                        + ErrorTexts.quote(name));
            }
            if (Files.isDirectory(source)) {
                String path = d.get("path");
                if (path == null || !path.startsWith("/") || List.of(path.split("/")).contains("..")) {
                    throw new InvalidArgumentException("Disk " + ErrorTexts.quote(name) + " shares a directory: its"
                            + " path must be an absolute path in the guest, got " + ErrorTexts.quote(path == null ? "" : path));
                }
                if (!bus.isEmpty() && !bus.equals("virtiofs") && !bus.equals("9p")) {
                    throw new NotSupportedException("io.bus " + ErrorTexts.quote(bus) + " of disk "
                            + ErrorTexts.quote(name) + " is not supported for directories (virtiofs, 9p)");
                }
                out.shares.add(new Share(out.shares.size(), name, source, Path.of(path).normalize().toString(), ro));
            } else {
                if (!bus.isEmpty() && !bus.equals("virtio-blk")) {
                    throw new NotSupportedException("io.bus " + ErrorTexts.quote(bus) + " of disk "
                            + ErrorTexts.quote(name) + " is not supported by the qemu driver (virtio-blk)");
                }
                out.blocks.add(new Block(name, source, format(source), ro));
            }
        });
        return out;
    }

    private static String format(Path file) {
        byte[] magic = new byte[4];
        try (InputStream in = Files.newInputStream(file)) {
            int n = in.readNBytes(magic, 0, 4);
            return n == 4 && magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' && (magic[3] & 0xff) == 0xfb
                    ? "qcow2" : "raw";
        } catch (IOException e) {
            throw HostIo.failure("Cannot read the disk source " + file, e);
        }
    }

    boolean virtiofs() {
        return virtiofsd != null && !shares.isEmpty();
    }

    /**
     * QEMU arguments of the extra disks; the virtio-fs sockets are {@code <dir>/virtio-fs.<n>.sock}. Each block disk
     * sits behind a root port of its own from {@code ports}, so that it can be unplugged.
     */
    List<String> args(Path dir, PciePorts ports) {
        List<String> a = new ArrayList<>();
        for (Share s : shares) {
            if (virtiofsd != null) {
                a.addAll(List.of("-chardev", "socket,id=" + s.tag() + ",path=" + socket(dir, s),
                        "-device", "vhost-user-fs-pci,chardev=" + s.tag() + ",tag=" + s.tag() + ",id=dev-" + s.tag()));
            } else {
                a.addAll(List.of("-fsdev", "local,id=" + s.tag() + ",path=" + s.source() + ",security_model=passthrough"
                        + (s.readonly() ? ",readonly=on" : ""),
                        "-device", "virtio-9p-pci,fsdev=" + s.tag() + ",mount_tag=" + s.tag() + ",id=dev-" + s.tag()));
            }
        }
        for (Block b : blocks) {
            String node = b.node();
            a.addAll(List.of("-blockdev", "driver=" + b.format() + ",node-name=" + node + ",read-only="
                    + (b.readonly() ? "on" : "off") + ",file.driver=file,file.filename=" + b.source()
                    + ",file.read-only=" + (b.readonly() ? "on" : "off")));
            String port = ports.add(a);
            a.addAll(List.of("-device", "virtio-blk-pci,drive=" + node + ",id=dev-" + node + ",serial=" + node
                    + PciePorts.on(port)));
        }
        return a;
    }

    private static Path socket(Path dir, Share s) {
        // By index: a device name could make the path too long for a unix socket.
        return dir.resolve("virtio-fs." + s.index() + ".sock");
    }

    private static Path roMount(Path dir, Share s) {
        return dir.resolve("ro." + s.device());
    }

    /**
     * Starts one {@code virtiofsd} per share (they end when QEMU closes their socket) and waits for their sockets;
     * read-only shares export a read-only bind mount of the source. Undoes what it did on failure.
     */
    void startHost(Path dir, Path logDir) {
        if (!virtiofs()) {
            return;
        }
        try {
            for (Share s : shares) {
                Path exported = s.source();
                if (s.readonly()) {
                    exported = roMount(dir, s);
                    Files.createDirectories(exported);
                    QemuHost.run(List.of("mount", "--bind", s.source().toString(), exported.toString()), TOOL_WAIT);
                    QemuHost.run(List.of("mount", "-o", "remount,bind,ro", exported.toString()), TOOL_WAIT);
                }
                Path sock = socket(dir, s);
                Files.deleteIfExists(sock);
                Path log = logDir.resolve("virtiofsd." + s.device() + ".log");
                daemons.add(new ProcessBuilder(virtiofsd.toString(), "--socket-path=" + sock, "-o",
                        "source=" + exported, "-o", "cache=none", "-o", "sandbox=namespace")
                        .redirectErrorStream(true).redirectOutput(log.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start());
                long deadline = System.nanoTime() + SOCKET_WAIT.toNanos();
                while (!Files.exists(sock)) {
                    if (System.nanoTime() > deadline) {
                        throw new IncusException("virtiofsd for disk " + ErrorTexts.quote(s.device())
                                + " did not open its socket within " + ErrorTexts.duration(SOCKET_WAIT) + " (see " + log
                                + ")");
                    }
                    TimeUnit.MILLISECONDS.sleep(20);
                }
            }
        } catch (IOException e) {
            stopHost(dir);
            throw HostIo.failure("Cannot share a directory with the VM", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopHost(dir);
            throw new IncusException("Interrupted while starting virtiofsd", e);
        } catch (RuntimeException e) {
            stopHost(dir);
            throw e;
        }
    }

    /**
     * Undoes {@link #startHost}'s mounts and sockets. A virtiofsd ends with QEMU's end of its socket; those this plan
     * started are killed too, for a start that failed before QEMU connected to them.
     */
    void stopHost(Path dir) {
        for (Process p : daemons) {
            p.destroyForcibly();
        }
        daemons.clear();
        for (Share s : shares) {
            QemuHost.deleteQuietly(socket(dir, s));
            Path ro = roMount(dir, s);
            if (Files.isDirectory(ro)) {
                try {
                    QemuHost.run(List.of("umount", "-l", ro.toString()), TOOL_WAIT);
                } catch (IncusException e) {
                    LOG.log(System.Logger.Level.DEBUG, "umount {0}: {1}", ro, e.getMessage());
                }
                QemuHost.deleteQuietly(ro);
            }
        }
    }

    /**
     * Mounts the shares in the guest through its agent, as Incus's agent does at its start: virtio-fs, else 9p.
     *
     * @throws IncusException naming the share and the guest's error when a mount fails
     */
    void mountInGuest(GuestAgentClient agent) {
        for (Share s : shares) {
            String p = quote(s.guestPath());
            String ro = s.readonly() ? ",ro" : "";
            String script = "grep -qs \" " + s.guestPath() + " \" /proc/mounts && exit 0; mkdir -p " + p
                    + " && { mount -t virtiofs -o rw" + ro + " " + s.tag() + " " + p
                    + " 2>/dev/null || mount -t 9p -o trans=virtio,version=9p2000.L,msize=33554432" + ro + " "
                    + s.tag() + " " + p + "; }";
            int pid = agent.exec("/bin/sh", List.of("-c", script), null, null, true);
            long deadline = System.nanoTime() + MOUNT_WAIT.toNanos();
            while (true) {
                GuestAgentClient.ExecStatus st = agent.execStatus(pid);
                if (st.exited()) {
                    if (st.exitCode() == null || st.exitCode() != 0) {
                        throw new IncusException("Cannot mount disk " + ErrorTexts.quote(s.device()) + " at "
                                + s.guestPath() + " in the guest: " + new String(st.err(),
                                java.nio.charset.StandardCharsets.UTF_8).trim());
                    }
                    break;
                }
                if (System.nanoTime() > deadline) {
                    throw new IncusException("Mounting disk " + ErrorTexts.quote(s.device()) + " in the guest did"
                            + " not finish within " + ErrorTexts.duration(MOUNT_WAIT));
                }
                try {
                    TimeUnit.MILLISECONDS.sleep(50);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IncusException("Interrupted while mounting disk " + s.device(), e);
                }
            }
        }
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    @Override
    public String toString() {
        return "VmDisks" + shares + blocks + (virtiofsd == null ? "" : " via " + virtiofsd);
    }
}
