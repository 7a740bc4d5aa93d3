package io.github.incus4j.qemu;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.spi.OperationLocks;
import java.time.Duration;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * How a {@link QemuDriver} session runs its VMs.
 *
 * @param lockWait the bound of every operation-lock wait
 * @param defaultMemory the memory of a VM without {@code limits.memory} (Incus: {@code 1GiB})
 * @param accelerator {@code kvm}, {@code tcg}, or {@code auto} (KVM when a hardware KVM module is loaded and
 *     {@code /dev/kvm} can be opened, see {@link QemuDriver})
 * @param agentWait how long exec and file access wait for the guest agent of a VM that has just started before
 *     answering {@code VM agent isn't currently running} (Incus does not wait; a boot takes seconds)
 */
@API(status = EXPERIMENTAL)
public record QemuSettings(Duration lockWait, String defaultMemory, String accelerator, Duration agentWait) {
    /** Incus's defaults: 1 GiB, KVM when usable, the agent awaited for 60 s after a start. */
    public static final QemuSettings DEFAULT = new QemuSettings(OperationLocks.DEFAULT_WAIT, "1GiB", "auto",
            Duration.ofSeconds(60));

    public QemuSettings {
        Objects.requireNonNull(lockWait, "lockWait");
        Objects.requireNonNull(agentWait, "agentWait");
        if (!accelerator.equals("auto") && !accelerator.equals("kvm") && !accelerator.equals("tcg")) {
            throw new InvalidArgumentException("Unknown accelerator \"" + accelerator
                    + "\": expected auto, kvm or tcg");
        }
        if (ConfigValues.parseByteSize(defaultMemory) <= 0) {
            throw new InvalidArgumentException("Invalid default memory \"" + defaultMemory + "\"");
        }
    }

    /** These settings with another default memory size (e.g. {@code 256MiB}). */
    public QemuSettings withDefaultMemory(String memory) {
        return new QemuSettings(lockWait, memory, accelerator, agentWait);
    }

    /** These settings with another accelerator ({@code auto}, {@code kvm}, {@code tcg}). */
    public QemuSettings withAccelerator(String accel) {
        return new QemuSettings(lockWait, defaultMemory, accel, agentWait);
    }

    /** These settings with another lock wait. */
    public QemuSettings withLockWait(Duration wait) {
        return new QemuSettings(wait, defaultMemory, accelerator, agentWait);
    }
}
