package io.github.incus4j.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.util.ArrayList;
import java.util.List;

/**
 * The PCIe root ports of a VM, as Incus lays them out on {@code q35}: every NIC and extra disk sits alone behind a
 * {@code pcie-root-port} of its own (a device on {@code pcie.0} itself cannot be unplugged), and {@link #SPARE} empty
 * ports follow for devices added while the VM runs (Incus's "Allocate 8 PCI slots for hotplug devices"). A device
 * hot-plugged later goes into the first port with nothing behind it ({@link #free}, Incus's
 * {@code getPCIHotplug}).
 */
final class PciePorts {
    /** Empty ports left for hot-plugged devices, as Incus. */
    static final int SPARE = 8;
    private static final String PREFIX = "incus_pcie";

    private int next = 1;

    /**
     * Adds a new root port's arguments to {@code args} and returns its id, the {@code bus} of the device behind it.
     * {@code io-reserve=0}: the firmware reserves no I/O window per port (virtio devices behind a PCIe port are
     * modern and need none; SeaBIOS would run out of the 16 KiB of I/O space after a few ports).
     */
    String add(List<String> args) {
        int chassis = next++;
        String id = PREFIX + chassis;
        args.addAll(List.of("-device", "pcie-root-port,id=" + id + ",bus=pcie.0,chassis=" + chassis
                + ",io-reserve=0"));
        return id;
    }

    /** The device arguments' suffix that puts a device behind root port {@code port}. */
    static String on(String port) {
        return ",bus=" + port + ",addr=00.0";
    }

    /** Adds the {@link #SPARE} empty ports. */
    void spares(List<String> args) {
        for (int i = 0; i < SPARE; i++) {
            add(args);
        }
    }

    /**
     * The first of this driver's root ports of the running VM with no device behind it.
     *
     * @throws IncusException with Incus's text when every port is taken
     */
    static String free(QmpClient qmp) {
        JsonNode buses = qmp.execute("query-pci");
        List<String> free = new ArrayList<>();
        for (JsonNode bus : buses) {
            for (JsonNode dev : bus.path("devices")) {
                String id = dev.path("qdev_id").asText("");
                JsonNode bridge = dev.path("pci_bridge");
                if (id.startsWith(PREFIX) && !bridge.isMissingNode() && bridge.path("devices").isEmpty()) {
                    free.add(id);
                }
            }
        }
        if (free.isEmpty()) {
            throw new IncusException("No available PCI hotplug slots could be found");
        }
        // By chassis number: the order of the command line.
        free.sort((a, b) -> Integer.compare(Integer.parseInt(a.substring(PREFIX.length())),
                Integer.parseInt(b.substring(PREFIX.length()))));
        return free.get(0);
    }
}
