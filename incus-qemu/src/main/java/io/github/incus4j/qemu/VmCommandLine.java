package io.github.incus4j.qemu;

import io.github.incus4j.api.internal.config.ConfigKeys;
import io.github.incus4j.api.internal.config.ConfigNumbers;
import io.github.incus4j.api.internal.config.ConfigValues;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The QEMU command line of a VM and the machine layout it fixes, as Incus's (without its config drive, vsock and
 * UEFI): the q35 machine, vCPUs and memory from {@code limits.cpu} and {@code limits.memory} (with room to hotplug
 * memory), the monitor, agent and console character devices in the run directory, the root disk's block node (under
 * an incoming migration's overlay when there is one), the NICs, extra disks and proxy forwards ({@link VmNics},
 * {@link VmDisks}, {@link VmProxies}), the spare root ports for devices added while it runs ({@link PciePorts}) and
 * {@code raw.qemu}. Pure: it reads the figures it is given and the host's memory size, and starts nothing.
 */
final class VmCommandLine {
    static final String ROOT_NODE = "incus_root";
    /** The node of the overlay a live migration puts over the root disk while it runs. */
    static final String OVERLAY_NODE = "incus_mig";
    static final String MEM_NODE = "incus_mem";
    static final long MIB = 1 << 20;
    static final int RINGBUF_SIZE = 1 << 20;
    /** Hotplugged memory comes in DIMMs, at most this many (Incus's {@code slots}). */
    private static final int MEMORY_SLOTS = 16;

    private VmCommandLine() {
    }

    /** {@code limits.memory} in bytes (a percentage of the host's memory allowed), {@code dflt} when unset. */
    static long memoryBytes(String v, String dflt) {
        if (v == null || v.isEmpty()) {
            v = dflt;
        }
        if (v.endsWith("%")) {
            return (long) (hostMemory() * Double.parseDouble(v.substring(0, v.length() - 1)) / 100);
        }
        return ConfigValues.parseByteSize(v);
    }

    /** The most memory (MiB) a VM booted with {@code bootBytes} can grow to: the host's, in 128 MiB steps. */
    static long maxMemoryMib(long bootBytes) {
        return Math.max(bootBytes / MIB, hostMemory() / MIB / 128 * 128);
    }

    /**
     * The boot memory, with room to hotplug up to the host's memory ({@code slots}, {@code maxmem}) so that
     * {@code limits.memory} can grow while the VM runs, as Incus's memory hotplug allows.
     */
    private static String memoryArg(long bootBytes) {
        return bootBytes / MIB + "M,slots=" + MEMORY_SLOTS + ",maxmem=" + maxMemoryMib(bootBytes) + "M";
    }

    /** The vCPUs of {@code limits.cpu}. */
    static int cpus(Map<String, String> config) {
        String v = config.get("limits.cpu");
        if (v == null || v.isEmpty()) {
            return 1;
        }
        if (v.matches("\\d+")) {
            return ConfigNumbers.parseIntClamped("limits.cpu", v, 1, ConfigKeys.MAX_CPUS);
        }
        if (v.contains("=")) {
            long n = 1;
            for (String part : v.split(",")) {
                n = Math.min(ConfigKeys.MAX_CPUS, n * ConfigNumbers.parseIntClamped("limits.cpu",
                        part.substring(part.indexOf('=') + 1), 1, ConfigKeys.MAX_CPUS));
            }
            return (int) n;
        }
        // A CPU set: one vCPU per host CPU listed (pinning itself is not done).
        return ConfigNumbers.cpuSetSize(v);
    }

    /**
     * The command line of {@code vm}'s QEMU in {@code run}, named {@code uuid}, with {@code memoryBytes} of boot
     * memory; {@code overlay} (null: none) is the root drive of a live migration's target.
     */
    static List<String> build(QemuVm vm, QemuInstances driver, Machine.RunDir run, String uuid, long memoryBytes,
            Path overlay, VmNics nics, VmDisks disks) {
        boolean kvm = driver.useKvm();
        List<String> hostfwds = new ArrayList<>();
        hostfwds.add("tcp:127.0.0.1:" + GuestSsh.allocatePort(run.dir()) + "-:22");
        for (VmProxies.Rule r : VmProxies.rules(vm.expandedDevices().map())) {
            hostfwds.add(r.hostfwd());
        }
        // vhost-user (virtiofsd) reads the guest's buffers: the guest memory must be shareable.
        String machineArg = "q35,accel=" + (kvm ? "kvm" : "tcg") + (disks.virtiofs() ? ",memory-backend=" + MEM_NODE
                : "");
        List<String> cmd = new ArrayList<>(List.of(driver.host().qemu().toString(),
                "-S", "-name", vm.name(), "-uuid", uuid, "-daemonize", "-pidfile", run.pidfile().toString(),
                "-nodefaults", "-no-user-config", "-nographic",
                "-machine", machineArg, "-cpu", kvm ? "host" : "qemu64",
                "-smp", Integer.toString(cpus(vm.expandedConfig())), "-m", memoryArg(memoryBytes),
                "-smbios", "type=2,manufacturer=LinuxContainers,product=Incus",
                "-chardev", "socket,id=monitor,path=" + run.monitor() + ",server=on,wait=off",
                "-mon", "chardev=monitor,mode=control",
                "-chardev", "ringbuf,id=console,size=" + RINGBUF_SIZE, "-serial", "chardev:console",
                "-device", "virtio-serial-pci,id=dev-incus_vserial",
                "-chardev", "socket,id=qga,path=" + run.agent() + ",server=on,wait=off",
                "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
                "-device", "virtio-balloon-pci,id=dev-incus_balloon",
                "-device", "VGA,id=dev-incus_vga",
                "-blockdev", "driver=qcow2,node-name=" + ROOT_NODE + ",file.driver=file,file.filename="
                        + vm.disk()));
        if (overlay != null) {
            // A live migration's target: the guest's writes during the migration arrive in this overlay.
            cmd.addAll(List.of("-blockdev", "driver=qcow2,node-name=" + OVERLAY_NODE + ",file.driver=file,"
                    + "file.filename=" + overlay + ",backing=" + ROOT_NODE));
        }
        cmd.addAll(List.of(
                "-device", "virtio-blk-pci,drive=" + (overlay != null ? OVERLAY_NODE : ROOT_NODE)
                        + ",id=dev-incus_root,bootindex=1",
                "-D", vm.logFilePath().toString()));
        if (disks.virtiofs()) {
            cmd.addAll(List.of("-object", "memory-backend-memfd,id=" + MEM_NODE + ",size=" + (memoryBytes / MIB)
                    + "M,share=on"));
        }
        PciePorts ports = new PciePorts();
        cmd.addAll(nics.args(hostfwds, ports));
        cmd.addAll(disks.args(run.dir(), ports));
        ports.spares(cmd);
        String raw = vm.expandedConfig().get("raw.qemu");
        if (raw != null && !raw.isBlank()) {
            cmd.addAll(RawArgs.split(raw));
        }
        return cmd;
    }

    /** The host's memory in bytes (0 when unknown). */
    static long hostMemory() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return 0;
    }
}
