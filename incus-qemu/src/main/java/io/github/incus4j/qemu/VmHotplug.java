package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.EventWait;
import io.github.incus4j.qemu.qmp.QmpClient;
import io.github.incus4j.qemu.qmp.QmpErrorException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Devices added to and removed from a running VM over QMP, as Incus's {@code deviceAttachNIC},
 * {@code deviceAttachBlockDevice} and {@code deviceDetach*}: the backend ({@code netdev_add} of the tap,
 * {@code blockdev-add} of the file), then {@code device_add} into a free root port ({@link PciePorts#free});
 * removal asks the guest to let the device go ({@code device_del}), waits for QEMU's {@code DEVICE_DELETED}, then
 * drops the backend. A failed step undoes the steps before it.
 */
final class VmHotplug {
    private static final System.Logger LOG = System.getLogger(VmHotplug.class.getName());
    /**
     * How long the guest has to release an unplugged device: Incus waits 10 s; an emulated guest on a loaded host
     * (or one still booting, whose kernel answers the unplug once its PCI hotplug driver runs) needs longer.
     */
    static final Duration UNPLUG_WAIT = Duration.ofSeconds(60);

    private VmHotplug() {
    }

    /** Adds a bridged NIC whose tap exists: {@code netdev_add} of the tap, {@code device_add} of its virtio-net. */
    static void attachNic(QmpClient qmp, VmNics.Nic nic) {
        Map<String, Object> netdev = new LinkedHashMap<>();
        netdev.put("type", "tap");
        netdev.put("id", nic.netdev());
        netdev.put("ifname", nic.hostName());
        netdev.put("script", "no");
        netdev.put("downscript", "no");
        qmp.execute("netdev_add", netdev);
        try {
            Map<String, Object> dev = new LinkedHashMap<>();
            dev.put("driver", "virtio-net-pci");
            dev.put("netdev", nic.netdev());
            dev.put("id", "dev-" + nic.netdev());
            dev.put("mac", nic.hwaddr());
            if (nic.mtu() != null && !nic.mtu().isEmpty()) {
                dev.put("host_mtu", Integer.parseInt(nic.mtu()));
            }
            plug(qmp, dev);
        } catch (RuntimeException e) {
            quietly(qmp, "netdev_del", Map.of("id", nic.netdev()), e);
            throw e;
        }
    }

    /** Removes NIC {@code device}: its virtio-net (waiting for the guest to release it), then its netdev. */
    static void detachNic(QmpClient qmp, String device) {
        String netdev = "incus_" + device;
        unplug(qmp, device, "dev-" + netdev);
        qmp.execute("netdev_del", Map.of("id", netdev));
    }

    /** Adds an extra disk: {@code blockdev-add} of its file, {@code device_add} of its virtio-blk. */
    static void attachBlock(QmpClient qmp, VmDisks.Block b) {
        Map<String, Object> file = new LinkedHashMap<>();
        file.put("driver", "file");
        file.put("filename", b.source().toString());
        file.put("read-only", b.readonly());
        Map<String, Object> node = new LinkedHashMap<>();
        node.put("driver", b.format());
        node.put("node-name", b.node());
        node.put("read-only", b.readonly());
        node.put("file", file);
        qmp.execute("blockdev-add", node);
        try {
            Map<String, Object> dev = new LinkedHashMap<>();
            dev.put("driver", "virtio-blk-pci");
            dev.put("drive", b.node());
            dev.put("id", "dev-" + b.node());
            dev.put("serial", b.node());
            plug(qmp, dev);
        } catch (RuntimeException e) {
            quietly(qmp, "blockdev-del", Map.of("node-name", b.node()), e);
            throw e;
        }
    }

    /** {@code device_add} of {@code dev} into a free root port ({@link PciePorts#free}), as its only function. */
    private static void plug(QmpClient qmp, Map<String, Object> dev) {
        dev.put("bus", PciePorts.free(qmp));
        dev.put("addr", "00.0");
        qmp.execute("device_add", dev);
    }

    /**
     * Removes the extra disk of {@code device}: its virtio-blk (waiting for the guest to release it), then its block
     * node. A disk QEMU does not have (its source was missing at start and not required) is nothing to remove.
     */
    static void detachBlock(QmpClient qmp, String device) {
        String node = "incus_" + device;
        if (!unplug(qmp, device, "dev-" + node)) {
            return;
        }
        qmp.execute("blockdev-del", Map.of("node-name", node));
    }

    /**
     * {@code device_del} of {@code id}, then waits for its {@code DEVICE_DELETED}.
     *
     * @return false when QEMU has no such device
     * @throws OperationTimeoutException naming the device when the guest did not release it in time
     */
    private static boolean unplug(QmpClient qmp, String device, String id) {
        try (EventWait deleted = qmp.expect(e -> e.name().equals("DEVICE_DELETED")
                && id.equals(e.data().path("device").asText(null)))) {
            try {
                qmp.execute("device_del", Map.of("id", id));
            } catch (QmpErrorException e) {
                if ("DeviceNotFound".equals(e.errorClass())) {
                    return false;
                }
                throw e;
            }
            try {
                deleted.await(UNPLUG_WAIT);
            } catch (OperationTimeoutException e) {
                throw new OperationTimeoutException("The guest did not release device " + ErrorTexts.quote(device)
                        + " within " + ErrorTexts.duration(UNPLUG_WAIT) + " (device_del " + id + ")");
            }
            return true;
        }
    }

    private static void quietly(QmpClient qmp, String command, Map<String, Object> args, RuntimeException cause) {
        try {
            qmp.execute(command, args);
        } catch (IncusException again) {
            cause.addSuppressed(again);
            LOG.log(System.Logger.Level.DEBUG, "{0} {1}: {2}", command, args, again.getMessage());
        }
    }
}
