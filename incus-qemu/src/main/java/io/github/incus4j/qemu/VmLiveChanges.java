package io.github.incus4j.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.function.Consumer;

/**
 * Changes to a running VM, what Incus applies live: {@code limits.memory} (growth hotplugged as a DIMM, shrinking
 * through the balloon) and devices added, removed or replaced while QEMU runs (bridged NICs, block disks and proxy
 * forwards; the QMP commands themselves are {@link VmHotplug}'s and {@link VmProxies}'s). What cannot change live is
 * refused with {@link NotSupportedException}. Every device change marks the machine's layout changed. Made for one
 * call; the {@code volatile.*} keys it sets go to the VM's {@code volatileSet}.
 */
final class VmLiveChanges {
    // The messages keep the logger of QemuVm, whose code this was.
    private static final System.Logger LOG = System.getLogger(QemuVm.class.getName());

    private final QemuVm vm;
    private final VmRunner runner;
    private final QemuSettings settings;
    private final Consumer<Map<String, String>> volatileSet;

    VmLiveChanges(QemuVm vm, VmRunner runner, QemuSettings settings, Consumer<Map<String, String>> volatileSet) {
        this.vm = vm;
        this.runner = runner;
        this.settings = settings;
        this.volatileSet = volatileSet;
    }

    /**
     * {@code limits.memory} on a running VM becomes {@code v}: growth is hotplugged as a DIMM ({@code object-add} of
     * a RAM backend, {@code device_add} of a {@code pc-dimm}), shrinking asks the balloon.
     */
    void memory(String v) {
        Machine m = runner.require();
        long target = VmCommandLine.memoryBytes(v, settings.defaultMemory());
        JsonNode summary = m.qmp.execute("query-memory-size-summary");
        long current = summary.path("base-memory").asLong() + summary.path("plugged-memory").asLong();
        long max = VmCommandLine.maxMemoryMib(VmCommandLine.memoryBytes(vm.expandedConfig().get("limits.memory"),
                settings.defaultMemory())) * VmCommandLine.MIB;
        if (target > current) {
            if (target > max) {
                throw new InvalidArgumentException("Requested memory total of " + v
                        + " exceeds instance current maximum of " + (max / VmCommandLine.MIB)
                        + "MiB, restart required");
            }
            String id = "incus_mem" + UUID.randomUUID().toString().substring(0, 8);
            // With virtio-fs shares the guest memory must stay shareable with virtiofsd, hotplugged memory too.
            if (VmDisks.plan(vm.expandedDevices().map()).virtiofs()) {
                m.qmp.execute("object-add", Map.of("qom-type", "memory-backend-memfd", "id", id, "size",
                        target - current, "share", true));
            } else {
                m.qmp.execute("object-add", Map.of("qom-type", "memory-backend-ram", "id", id, "size",
                        target - current));
            }
            m.qmp.execute("device_add", Map.of("driver", "pc-dimm", "id", "dev-" + id, "memdev", id));
        }
        m.qmp.execute("balloon", Map.of("value", target));
    }

    /**
     * Adds a {@code proxy} device's forwards to the running VM (QEMU's {@code hostfwd_add} on the user-mode NIC that
     * carries them), for the device hot-add hook.
     */
    void addProxy(String device, Device proxy) {
        Machine m = runner.require();
        VmProxies.add(m.qmp, VmNics.forwardNetdev(vm.expandedDevices().map()), VmProxies.rules(device, proxy));
    }

    /** Removes a {@code proxy} device's forwards from the running VM, for the device hot-remove hook. */
    void removeProxy(String device, Device proxy) {
        Machine m = runner.require();
        VmProxies.remove(m.qmp, VmNics.forwardNetdev(vm.expandedDevices().map()), VmProxies.rules(device, proxy));
    }

    /** A bridged NIC hot-plugged: its tap made and recorded in {@code volatile.<dev>.host_name}. */
    void addNic(String name, Device device) {
        VmNics plan = VmNics.plan(Map.of(name, device), k -> vm.localConfig().get(k));
        VmNics.Nic nic = plan.nics.get(0);
        if (nic.kind() != VmNics.Kind.BRIDGED) {
            throw new NotSupportedException("The qemu driver cannot add NIC " + ErrorTexts.quote(name)
                    + " (nictype=p2p, QEMU's user-mode network) to a running VM; add it while the VM is stopped");
        }
        Machine m = runner.require();
        Map<String, String> vol = new HashMap<>(plan.volatileChanges);
        vol.putAll(plan.createTaps());
        try {
            m.devicesChanged = true;
            VmHotplug.attachNic(m.qmp, nic);
        } catch (RuntimeException e) {
            VmNics.removeTaps(Map.of(name, device), k -> vol.getOrDefault(k, vm.localConfig().get(k)));
            throw e;
        }
        volatileSet.accept(vol);
    }

    void removeNic(String name, Device device) {
        if (!"bridged".equals(device.get("nictype"))) {
            throw new NotSupportedException("The qemu driver cannot remove NIC " + ErrorTexts.quote(name)
                    + " (nictype=" + device.get("nictype") + ") from a running VM");
        }
        Machine m = guestUp(runner.require());
        m.devicesChanged = true;
        VmHotplug.detachNic(m.qmp, name);
        Map<String, String> clear = VmNics.removeTaps(Map.of(name, device), k -> vm.localConfig().get(k));
        if (!clear.isEmpty()) {
            volatileSet.accept(clear);
        }
    }

    void addDisk(String name, Device device) {
        VmDisks plan = liveDisk(name, device, "add");
        if (!plan.blocks.isEmpty()) {
            Machine m = runner.require();
            m.devicesChanged = true;
            VmHotplug.attachBlock(m.qmp, plan.blocks.get(0));
        }
    }

    void removeDisk(String name, Device device) {
        String source = device.get("source");
        if (source != null && Files.isDirectory(Path.of(source))) {
            liveDisk(name, device, "remove"); // refuses
        }
        if (!"/".equals(device.get("path"))) {
            Machine m = guestUp(runner.require());
            m.devicesChanged = true;
            VmHotplug.detachBlock(m.qmp, name);
        }
    }

    /**
     * {@code m} once its guest's OS runs (its agent answers), within the agent's wait: an unplug needs the guest's
     * cooperation, and one asked for while the guest still boots (ACPI hotplug's eject request before the kernel
     * handles it) is never answered. A guest whose agent does not answer in time is asked anyway.
     */
    private Machine guestUp(Machine m) {
        try {
            m.agent(settings.agentWait());
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.DEBUG, "Agent of {0} not answering before an unplug: {1}", vm.name(),
                    e.getMessage());
        }
        return m;
    }

    /** The plan of one disk changed live: a block disk, or nothing (an optional missing source); else refused. */
    private VmDisks liveDisk(String name, Device device, String action) {
        if ("/".equals(device.get("path"))) {
            throw new NotSupportedException("The qemu driver cannot " + action + " the root disk "
                    + ErrorTexts.quote(name) + " of a running VM");
        }
        VmDisks plan = VmDisks.plan(Map.of(name, device));
        if (!plan.shares.isEmpty()) {
            throw new NotSupportedException("The qemu driver cannot " + action + " the shared directory "
                    + ErrorTexts.quote(name) + " of a running VM (virtio-fs needs the guest's memory shared from"
                    + " the start); change it while the VM is stopped");
        }
        return plan;
    }
}
