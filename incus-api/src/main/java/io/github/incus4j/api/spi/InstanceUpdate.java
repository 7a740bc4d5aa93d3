package io.github.incus4j.api.spi;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.internal.config.DeviceChanges;
import io.github.incus4j.api.internal.config.LiveUpdates;
import io.github.incus4j.api.internal.config.ProfileExpansion;
import io.github.incus4j.api.internal.config.VolatileKeys;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Changes to one instance's config and devices, Incus's {@code Update} and its device helpers: validates a new
 * definition, works out which devices and expanded keys change, and on a running instance refuses what cannot change
 * live, hot-plugs devices in Incus's order (undoing the steps before a failed one) through the driver's
 * {@code deviceAdd}, {@code deviceRemove} and {@code deviceUpdate} hooks and hands the changed keys to
 * {@code applyLiveUpdate}. It also gives the devices a start applies and fills NICs' volatile keys.
 */
final class InstanceUpdate {
    private final AbstractInstance instance;

    InstanceUpdate(AbstractInstance instance) {
        this.instance = instance;
    }

    /** {@link Instance#update}. */
    void update(InstanceArgs newArgs, boolean userRequested) {
        instance.requireInstance("update");
        Objects.requireNonNull(newArgs, "args");
        Optional<InstanceOperation> lock = instance.owner().locks().createWaitGet(instance.args().project(),
                instance.args().name(), instance.operation().orElse(null), OperationLocks.Action.UPDATE,
                Set.of(OperationLocks.Action.CREATE, OperationLocks.Action.RESTART, OperationLocks.Action.RESTORE),
                false, false);
        if (lock.isEmpty()) {
            return;
        }
        instance.runHeld(lock.get(), () -> {
            synchronized (instance) {
                updateLocked(newArgs, userRequested);
            }
        });
    }

    private void updateLocked(InstanceArgs newArgs, boolean userRequested) {
        InstanceArgs args = instance.args();
        try {
            AbstractInstances.validateDefinition(instance.type(), newArgs.config(), newArgs.devices().map(),
                    newArgs.profiles());
        } catch (InvalidArgumentException e) {
            String msg = e.getMessage();
            throw new InvalidArgumentException(msg.startsWith("Invalid devices") || msg.startsWith(
                    ErrorTexts.DUPLICATE_PROFILE) ? msg : "Invalid config: " + msg, e);
        }
        if (userRequested && VolatileKeys.dropsIdmapKey(args.config(), newArgs.config())) {
            throw new InvalidArgumentException(ErrorTexts.VOLATILE_IDMAP_DELETE);
        }
        Devices newDevices = ProfileExpansion.expandDevices(newArgs.profiles(), newArgs.devices());
        instance.owner().deviceSupport(instance.type()).check(instance.type(), newDevices);
        DeviceChanges devChanges = DeviceChanges.between(instance.expandedDevices(), newDevices);
        if (userRequested) {
            for (Map.Entry<String, Device> e : devChanges.added().entrySet()) {
                String missing = DeviceChanges.missingSource(e.getKey(), e.getValue());
                if (missing != null && DeviceChanges.appliesTo(instance.type(), e.getValue())) {
                    throw new InvalidArgumentException("Failed add validation for device "
                            + ErrorTexts.quote(e.getKey()) + ": " + missing);
                }
            }
        }
        Map<String, String> newConfig = new HashMap<>(newArgs.config());
        devChanges.removed().forEach((n, d) -> DeviceChanges.volatileToClear(n, d, devChanges.added().get(n),
                newConfig).forEach(newConfig::remove));
        DeviceChanges.fillVolatile(instance.type(), newDevices, devChanges.added().keySet(), newConfig);
        InstanceArgs updated = args.toBuilder()
                .config(newConfig)
                .devices(newArgs.devices())
                .profiles(newArgs.profiles())
                .description(newArgs.description())
                .ephemeral(newArgs.ephemeral())
                .architecture(newArgs.architecture() == 0 ? args.architecture() : newArgs.architecture())
                .expiryDate(newArgs.expiryDate())
                .build();
        Map<String, String> oldExpanded = instance.expandedConfig();
        Map<String, String> newExpanded = ProfileExpansion.expandConfig(updated.profiles(), updated.config());
        Set<String> changed = new HashSet<>(oldExpanded.keySet());
        changed.addAll(newExpanded.keySet());
        changed.removeIf(k -> Objects.equals(oldExpanded.get(k), newExpanded.get(k)));
        if (instance.isRunning()) {
            for (String k : changed) {
                if (!LiveUpdates.canUpdateLive(instance.type(), k)) {
                    throw new InvalidArgumentException(LiveUpdates.liveUpdateError(k));
                }
            }
            Map<String, String> beforeHooks = instance.args().config();
            applyDeviceChanges(devChanges, newConfig);
            updated = withHookVolatiles(updated, beforeHooks, instance.args().config(), devChanges);
            instance.applyLiveUpdate(oldExpanded, newExpanded, changed);
        }
        instance.setDefinition(updated, instance.snapshotArgs());
        instance.persist();
    }

    /**
     * {@code updated} with the volatile keys the device hooks recorded meanwhile for the devices added or updated
     * ({@code volatile.<dev>.host_name}...): Incus's {@code VolatileSet} writes the instance's new local config, so
     * they survive the update.
     */
    private static InstanceArgs withHookVolatiles(InstanceArgs updated, Map<String, String> before,
            Map<String, String> after, DeviceChanges changes) {
        Set<String> devs = new HashSet<>(changes.added().keySet());
        devs.addAll(changes.updated().keySet());
        Map<String, String> c = new HashMap<>(updated.config());
        boolean touched = false;
        for (String dev : devs) {
            String prefix = "volatile." + dev + ".";
            Set<String> keys = new HashSet<>(before.keySet());
            keys.addAll(after.keySet());
            for (String k : keys) {
                if (k.startsWith(prefix) && !Objects.equals(before.get(k), after.get(k))) {
                    touched = true;
                    if (after.get(k) == null) {
                        c.remove(k);
                    } else {
                        c.put(k, after.get(k));
                    }
                }
            }
        }
        return touched ? updated.toBuilder().config(c).build() : updated;
    }

    /**
     * Incus's {@code devicesUpdate} on a running instance: removes (in reverse name order), adds (in name order),
     * then updates in place, refusing first what Incus refuses live ({@code CanHotPlug}). A failed step undoes the
     * steps before it, best effort, and the definition stays unchanged.
     */
    private void applyDeviceChanges(DeviceChanges changes, Map<String, String> newConfig) {
        for (Map.Entry<String, Device> e : changes.removed().entrySet()) {
            if (!DeviceChanges.canHotPlug(instance.type(), e.getValue())) {
                throw new InvalidArgumentException(DeviceChanges.hotRemoveError(e.getKey()));
            }
        }
        for (Map.Entry<String, Device> e : changes.added().entrySet()) {
            if (!DeviceChanges.canHotPlug(instance.type(), e.getValue())) {
                throw new InvalidArgumentException(DeviceChanges.hotAddError(e.getKey()));
            }
        }
        Deque<Runnable> undo = new ArrayDeque<>();
        try {
            List<String> removing = new ArrayList<>(new TreeSet<>(changes.removed().keySet()).descendingSet());
            for (String n : removing) {
                Device d = DeviceChanges.withVolatile(n, changes.removed().get(n), instance.localConfig());
                if (DeviceChanges.appliesTo(instance.type(), d) && !"none".equals(d.type())) {
                    instance.deviceRemove(n, d);
                    undo.push(() -> instance.deviceAdd(n, d));
                }
            }
            for (String n : new TreeSet<>(changes.added().keySet())) {
                Device d = DeviceChanges.withVolatile(n, changes.added().get(n), newConfig);
                if (DeviceChanges.appliesTo(instance.type(), d) && !"none".equals(d.type())) {
                    instance.deviceAdd(n, d);
                    undo.push(() -> instance.deviceRemove(n, d));
                }
            }
            for (String n : new TreeSet<>(changes.updated().keySet())) {
                Device old = DeviceChanges.withVolatile(n, instance.expandedDevices().get(n), instance.localConfig());
                Device d = DeviceChanges.withVolatile(n, changes.updated().get(n), newConfig);
                if (DeviceChanges.appliesTo(instance.type(), d)) {
                    instance.deviceUpdate(n, old, d);
                    undo.push(() -> instance.deviceUpdate(n, d, old));
                }
            }
        } catch (RuntimeException e) {
            while (!undo.isEmpty()) {
                try {
                    undo.pop().run();
                } catch (RuntimeException again) {
                    e.addSuppressed(again);
                }
            }
            throw e;
        }
    }

    /** See {@link AbstractInstance#devicesToStart()}. */
    List<Map.Entry<String, Device>> devicesToStart() {
        List<Map.Entry<String, Device>> out = new ArrayList<>();
        Map<String, String> local = instance.localConfig();
        for (Map.Entry<String, Device> e : instance.expandedDevices().sorted()) {
            Device d = e.getValue();
            if (d != null && !"none".equals(d.type()) && DeviceChanges.appliesTo(instance.type(), d)) {
                out.add(Map.entry(e.getKey(), DeviceChanges.withVolatile(e.getKey(), d, local)));
            }
        }
        return List.copyOf(out);
    }

    /** {@link Instance#reloadDevice}. */
    void reloadDevice(String devName) {
        Device d = instance.expandedDevices().get(devName);
        if (d == null) {
            throw new NotFoundException("Device " + ErrorTexts.quote(devName) + " not found");
        }
        // Incus's ReloadDevice: dev.Update(expandedDevices, true), the device re-applying its current config.
        if (instance.isRunning() && DeviceChanges.appliesTo(instance.type(), d) && !"none".equals(d.type())) {
            Device filled = DeviceChanges.withVolatile(devName, d, instance.localConfig());
            instance.deviceUpdate(devName, filled, filled);
        }
    }

    /** {@link Instance#fillNetworkDevice}. */
    Device fillNetworkDevice(String devName, Device device) {
        if (!"nic".equals(device.type()) && !"infiniband".equals(device.type())) {
            return device;
        }
        Map<String, String> config = new HashMap<>(instance.localConfig());
        DeviceChanges.fillVolatile(instance.type(), instance.expandedDevices().with(devName, device), Set.of(devName),
                config);
        Map<String, String> volatileChanges = new HashMap<>();
        config.forEach((k, v) -> {
            if (!instance.localConfig().containsKey(k)) {
                volatileChanges.put(k, v);
            }
        });
        if (!volatileChanges.isEmpty()) {
            instance.volatileSet(volatileChanges);
        }
        return DeviceChanges.withVolatile(devName, device, config);
    }
}
