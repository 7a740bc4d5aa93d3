package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.GoStrings;
import java.util.List;
import java.util.Set;
import org.apiguardian.api.API;

/** Which config keys Incus lets change on a running instance ({@code driver_qemu.go} {@code Update}). */
@API(status = INTERNAL)
public final class LiveUpdates {
    /** Keys a running VM accepts changes to (besides container-only keys and {@link #VM_LIVE_PREFIXES}). */
    private static final Set<String> VM_LIVE_KEYS = Set.of(
            "cluster.evacuate", "limits.cpu", "limits.memory", "limits.memory.oom_priority",
            "security.agent.metrics", "security.csm", "security.guestapi", "security.protection.delete",
            "security.protection.start", "security.secureboot");

    private static final List<String> VM_LIVE_PREFIXES = List.of(
            "boot.", "cloud-init.", "environment.", "image.", "snapshots.", "user.", "volatile.");

    private LiveUpdates() {
    }

    /**
     * Whether Incus lets {@code key} change while the instance runs. Containers apply every key live. A running VM
     * accepts only {@code cluster.evacuate}, {@code limits.cpu} (CPU hotplug), {@code limits.memory},
     * {@code limits.memory.oom_priority}, {@code security.agent.metrics}, {@code security.csm},
     * {@code security.guestapi}, {@code security.protection.delete}, {@code security.protection.start},
     * {@code security.secureboot}, keys under {@code boot. cloud-init. environment. image. snapshots. user. volatile.},
     * and container-only keys (which do not affect a VM); anything else fails with {@link #liveUpdateError}.
     * {@link InstanceType#ANY} gets the VM rule, the one both types accept.
     */
    public static boolean canUpdateLive(InstanceType type, String key) {
        if (type == null) {
            throw new InvalidArgumentException("Invalid instance type: null");
        }
        if (type == InstanceType.CONTAINER) {
            return true;
        }
        if (key == null) {
            return false;
        }
        return VM_LIVE_KEYS.contains(key)
                || ConfigKeys.isContainerKey(key)
                || VM_LIVE_PREFIXES.stream().anyMatch(key::startsWith);
    }

    /** Incus's refusal of a change on a running VM: {@code Key "<key>" cannot be updated when VM is running}. */
    public static String liveUpdateError(String key) {
        return "Key " + GoStrings.quote(String.valueOf(key)) + " cannot be updated when VM is running";
    }
}
