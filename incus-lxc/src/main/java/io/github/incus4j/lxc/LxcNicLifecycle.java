package io.github.incus4j.lxc;

import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Device;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One container's NICs through its life, as Incus keeps them: planned at start ({@link LxcNics}) with their volatile
 * keys recorded before any interface exists and their static DHCP allocations written, hot-plugged into and removed
 * from the running container ({@link LxcNicHotplug}), and their host names cleared when it stops or a start fails.
 */
final class LxcNicLifecycle {
    private final LxcContainerInstance instance;
    private final LxcInstances driver;

    LxcNicLifecycle(LxcContainerInstance instance, LxcInstances driver) {
        this.instance = instance;
        this.driver = driver;
    }

    /**
     * Plans the NICs of a start (see {@link LxcNics}): records their volatile keys before any interface exists (as
     * Incus does), writes the static DHCP allocations, and returns liblxc's lines.
     */
    List<String> start() {
        LxcNics.Plan plan = LxcNics.plan(instance.expandedDevices(), instance.localConfig(), driver::network,
                LxcNics::hostInterfaceExists);
        instance.recordVolatiles(plan.volatiles(), true);
        for (LxcNics.StaticLease l : plan.leases()) {
            l.network().writeStaticLease(instance.lxcName(), l.device(), l.hwaddr(), l.address());
        }
        return plan.lines();
    }

    /**
     * Adds the expanded device {@code dev} (a {@code nic}) to the running container, as Incus hot-plugs a NIC: planned
     * as at start (the other NICs' names stay taken), its volatile keys recorded first, its static allocation written,
     * then made by {@link LxcNicHotplug}.
     *
     * @throws InstanceStateException when the container is not running
     * @throws NotFoundException when the device is not one of the container's
     */
    void attach(String dev) {
        Device d = instance.expandedDevices().get(dev);
        if (d == null || !"nic".equals(d.type())) {
            throw new NotFoundException("Device " + ErrorTexts.quote(dev) + " not found");
        }
        attach(dev, d);
    }

    /**
     * Adds NIC {@code dev} with config {@code d} (an update's new device, not yet among the expanded devices; hwaddr
     * and name filled from its volatile keys) to the running container.
     */
    void attach(String dev, Device d) {
        int pid = instance.driverInitPid();
        if (pid <= 0) {
            throw new InstanceStateException("Instance is not running", instance.statusCode());
        }
        LxcNics.Plan plan = LxcNics.plan(instance.expandedDevices().with(dev, d), instance.localConfig(),
                driver::network, LxcNics::hostInterfaceExists);
        LxcNics.Nic nic = plan.nics().stream().filter(n -> n.device().equals(dev)).findFirst().orElseThrow();
        Map<String, String> mine = new HashMap<>();
        plan.volatiles().forEach((k, v) -> {
            if (k.startsWith("volatile." + dev + ".")) {
                mine.put(k, v);
            }
        });
        instance.recordVolatiles(mine, true);
        for (LxcNics.StaticLease l : plan.leases()) {
            if (l.device().equals(dev)) {
                l.network().writeStaticLease(instance.lxcName(), l.device(), l.hwaddr(), l.address());
            }
        }
        try {
            LxcNicHotplug.add(nic, pid);
        } catch (RuntimeException e) {
            instance.recordVolatiles(Map.of("volatile." + dev + ".host_name", ""), false);
            throw e;
        }
    }

    /** Removes NIC {@code dev} (as it was, {@code old}) from the running container and clears its host name. */
    void detach(String dev, Device old) {
        Map<String, String> local = instance.localConfig();
        String name = old.get("name") != null && !old.get("name").isEmpty() ? old.get("name")
                : local.get("volatile." + dev + ".name");
        LxcNicHotplug.remove(dev, LxcNics.nicType(old), name, local.get("volatile." + dev + ".host_name"),
                instance.driverInitPid());
        instance.recordVolatiles(Map.of("volatile." + dev + ".host_name", ""), false);
    }

    /** Clears the volatile keys a running container's NICs have (their host names), at stop or a failed start. */
    void clearVolatiles() {
        Map<String, String> clear = LxcNics.stopVolatiles(instance.localConfig());
        if (!clear.isEmpty()) {
            instance.recordVolatiles(clear, false);
        }
    }
}
