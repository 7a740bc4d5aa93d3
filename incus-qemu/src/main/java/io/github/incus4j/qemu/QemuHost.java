package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * What this host offers the driver, probed once per JVM: the QEMU binaries, QEMU's version, whether KVM can be used,
 * and the features Incus probes over QMP (from a paused QEMU started once, on first demand).
 */
final class QemuHost {
    private static final System.Logger LOG = System.getLogger(QemuHost.class.getName());
    private static final String SYSTEM = "qemu-system-x86_64";
    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(60);
    private static volatile QemuHost instance;

    private final Path qemu;
    private final Path qemuImg;
    private final String version;
    private final Kvm kvm;
    private volatile Map<String, Object> features;

    private QemuHost(Path qemu, Path qemuImg, String version, Kvm kvm) {
        this.qemu = qemu;
        this.qemuImg = qemuImg;
        this.version = version;
        this.kvm = kvm;
    }

    /**
     * The host, probed on first call.
     *
     * @throws NotSupportedException naming what is missing
     */
    static QemuHost get() {
        QemuHost h = instance;
        if (h == null) {
            synchronized (QemuHost.class) {
                h = instance;
                if (h == null) {
                    h = probe();
                    instance = h;
                }
            }
        }
        return h;
    }

    private static QemuHost probe() {
        Path qemu = onPath(SYSTEM);
        if (qemu == null) {
            throw new NotSupportedException("QEMU command not available: " + SYSTEM
                    + " is not installed (package qemu-system-x86)");
        }
        Path img = onPath("qemu-img");
        if (img == null) {
            throw new NotSupportedException("qemu-img is not installed (package qemu-utils)");
        }
        String out = run(List.of(qemu.toString(), "--version"), Duration.ofSeconds(20)).trim();
        String[] fields = out.split("\\s+");
        // "QEMU emulator version 7.2.22 (Debian ...)": Incus takes the fourth field.
        String version = fields.length >= 4 && out.startsWith("QEMU emulator version") ? fields[3] : "unknown";
        return new QemuHost(qemu, img, version, Kvm.probe(Path.of("/dev/kvm"), Path.of("/sys/module")));
    }

    /**
     * Whether KVM runs standard guests here, and why (the {@code accelerator_reason} feature).
     *
     * @param usable whether {@code auto} picks KVM
     * @param reason what decided it
     */
    record Kvm(boolean usable, String reason) {
        private static final List<String> HARDWARE_MODULES = List.of("kvm_intel", "kvm_amd");

        /**
         * KVM when a hardware KVM module ({@code kvm_intel}, {@code kvm_amd}) is loaded and {@code dev} opens
         * read-write, as QEMU opens it. Other KVM flavours (e.g. {@code kvm_pvm}, a paravirtual KVM) expose
         * {@code /dev/kvm} too but cannot run a standard guest: QEMU aborts on MSRs with {@code -cpu host}, or the
         * guest hangs.
         */
        static Kvm probe(Path dev, Path sysModule) {
            if (!Files.exists(dev)) {
                return new Kvm(false, dev + " does not exist");
            }
            String module = null;
            for (String m : HARDWARE_MODULES) {
                if (Files.isDirectory(sysModule.resolve(m))) {
                    module = m;
                }
            }
            if (module == null) {
                List<String> others = new ArrayList<>();
                try (var list = Files.list(sysModule)) {
                    list.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("kvm_")).sorted()
                            .forEach(others::add);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.DEBUG, "Cannot list {0}: {1}", sysModule, e.getMessage());
                }
                return new Kvm(false, "no kvm_intel or kvm_amd module is loaded" + (others.isEmpty() ? ""
                        : " (" + String.join(", ", others) + " cannot run standard guests)"));
            }
            try (RandomAccessFile f = new RandomAccessFile(dev.toFile(), "rw")) {
                return f.getFD().valid() ? new Kvm(true, module + " is loaded and " + dev + " opens")
                        : new Kvm(false, dev + " cannot be opened");
            } catch (IOException e) {
                return new Kvm(false, dev + " cannot be opened: " + e.getMessage());
            }
        }
    }

    Path qemu() {
        return qemu;
    }

    String version() {
        return version;
    }

    /** Whether KVM can run standard guests here (what {@code auto} picks), and why. */
    Kvm kvm() {
        return kvm;
    }

    /** The features, probed on first call (and cached for the JVM's life). */
    Map<String, Object> features() {
        Map<String, Object> f = features;
        if (f == null) {
            synchronized (this) {
                f = features;
                if (f == null) {
                    f = probeFeatures();
                    features = f;
                }
            }
        }
        return f;
    }

    /** Starts a paused QEMU with only a monitor, asks it what it supports, and quits it. */
    private Map<String, Object> probeFeatures() {
        Map<String, Object> out = new TreeMap<>();
        out.put("accelerator", kvm.usable() ? "kvm" : "tcg");
        out.put("accelerator_reason", kvm.reason());
        if (Files.exists(Path.of("/dev/vhost-net"))) {
            out.put("vhost_net", true);
        }
        if (nested()) {
            out.put("nested", true);
        }
        Path dir = null;
        QemuProcess process = null;
        try {
            dir = Files.createTempDirectory("incus4j-qemu-probe");
            Path monitor = dir.resolve("m");
            Path pidfile = dir.resolve("pid");
            List<String> cmd = new ArrayList<>(List.of(qemu.toString(), "-S", "-nographic", "-nodefaults",
                    "-no-user-config", "-daemonize", "-pidfile", pidfile.toString(), "-machine",
                    "q35,accel=" + (kvm.usable() ? "kvm" : "tcg"), "-chardev",
                    "socket,id=monitor,path=" + monitor + ",server=on,wait=off", "-mon",
                    "chardev=monitor,mode=control"));
            process = QemuProcess.launch(cmd, pidfile, dir.resolve("log"));
            try (QmpClient qmp = QmpClient.connect(monitor, new QmpClient.Options(Duration.ofSeconds(5),
                    r -> daemon(r, "incus4j-qemu-probe"), null))) {
                if (answers(qmp, "query-hotpluggable-cpus", null)) {
                    out.put("cpu_hotplug", true);
                }
                for (Map.Entry<String, String> d : Map.of("virtio-vga", "virtio-vga", "plan9", "virtio-9p-pci",
                        "virtio-sound", "virtio-sound-pci").entrySet()) {
                    if (answers(qmp, "device-list-properties", Map.of("typename", d.getValue()))) {
                        out.put(d.getKey(), true);
                    }
                }
                qmp.execute("quit");
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "QEMU failed to run feature checks", e);
        } finally {
            if (process != null) {
                process.kill();
            }
            if (dir != null) {
                AbstractInstances.deleteTree(dir);
            }
        }
        return Map.copyOf(out);
    }

    private static boolean answers(QmpClient qmp, String command, Map<String, Object> args) {
        try {
            if (args == null) {
                qmp.execute(command);
            } else {
                qmp.execute(command, args);
            }
            return true;
        } catch (IncusException e) {
            return false;
        }
    }

    private static boolean nested() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags") && line.contains(" hypervisor")) {
                    return true;
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /**
     * Runs {@code qemu-img} with {@code args}, returning its output; a failure carries qemu-img's message. The images
     * it makes are private (umask 077, see {@link PrivateFiles}).
     */
    String qemuImg(List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(qemuImg.toString());
        cmd.addAll(args);
        return run(cmd, TOOL_TIMEOUT, true);
    }

    /** Runs a short tool, returning stdout+stderr; a non-zero exit fails with the output. */
    static String run(List<String> cmd, Duration timeout) {
        return run(cmd, timeout, false);
    }

    // The output goes to a file, not a pipe: reading a pipe to its end would wait on the tool without a bound.
    private static String run(List<String> cmd, Duration timeout, boolean privateUmask) {
        Path output = null;
        try {
            output = Files.createTempFile("incus4j-tool", ".out");
            Process p = new ProcessBuilder(privateUmask ? PrivateFiles.withPrivateUmask(cmd) : cmd)
                    .redirectErrorStream(true).redirectOutput(output.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new OperationTimeoutException(String.join(" ", cmd) + " did not finish within "
                        + ErrorTexts.duration(timeout));
            }
            String text = new String(Files.readAllBytes(output), StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new IncusException(cmd.get(0).substring(cmd.get(0).lastIndexOf('/') + 1) + " failed (exit "
                        + p.exitValue() + "): " + text.trim());
            }
            return text;
        } catch (IOException e) {
            throw new IncusException("Cannot run " + cmd.get(0) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while running " + cmd.get(0), e);
        } finally {
            if (output != null) {
                deleteQuietly(output);
            }
        }
    }

    /** Removes {@code p} if present; a failure is only logged, as cleanup must not hide the outcome under way. */
    static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "Cannot remove {0}: {1}", p, e.getMessage());
        }
    }

    private static Path onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
            Path p = Path.of(dir, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
