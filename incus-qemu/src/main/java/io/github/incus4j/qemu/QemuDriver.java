package io.github.incus4j.qemu;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Info;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.api.spi.InstanceDriver;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The {@code qemu} instance driver: virtual machines run by QEMU and driven over QMP. It applies when
 * {@code qemu-system-x86_64 --version} runs and {@code qemu-img} is installed. KVM is used when a hardware KVM
 * module ({@code kvm_intel}, {@code kvm_amd}) is loaded and {@code /dev/kvm} can be opened, TCG (software emulation:
 * everything works, only slower) otherwise, e.g. under a paravirtual {@code kvm_pvm}; {@link Info#features()} says
 * which ({@code accelerator}) and why ({@code accelerator_reason}). It ranks below the {@code lxc} driver.
 */
@API(status = EXPERIMENTAL)
public final class QemuDriver implements InstanceDriver {
    /** The driver's name. */
    public static final String NAME = "qemu";

    /** The service-loader constructor; probes nothing. */
    public QemuDriver() {
        // Probing the host belongs in applicability().
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 50;
    }

    @Override
    public Applicability applicability() {
        try {
            QemuHost.get();
            return Applicability.yes();
        } catch (RuntimeException e) {
            return Applicability.no(e.getMessage());
        }
    }

    /**
     * Name {@code qemu}, type {@code virtual-machine}, version = the fourth field of {@code --version}; features are
     * probed once per JVM over QMP from a paused QEMU, as Incus does ({@code cpu_hotplug}, {@code virtio-vga},
     * {@code plan9}, {@code vhost_net}, {@code nested}), plus {@code accelerator} ({@code kvm} or {@code tcg}, what
     * {@code auto} picks) and {@code accelerator_reason}.
     */
    @Override
    public Info info() {
        QemuHost host;
        try {
            host = QemuHost.get();
        } catch (RuntimeException e) {
            return new Info(NAME, "", e.getMessage(), InstanceType.VM, Map.of());
        }
        return new Info(NAME, host.version(), null, InstanceType.VM, host.features());
    }

    @Override
    public QemuInstances open(Path root) {
        return open(root, QemuSettings.DEFAULT);
    }

    /** Opens the driver on {@code root} with {@code settings} (lock wait, default memory, accelerator). */
    public QemuInstances open(Path root, QemuSettings settings) {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(settings, "settings");
        Applicability a = applicability();
        if (!a.applicable()) {
            throw new NotSupportedException("The qemu driver cannot run here: " + a.reason());
        }
        if (settings.lockWait().isNegative()) {
            throw new InvalidArgumentException("The lock wait must not be negative: " + settings.lockWait());
        }
        return new QemuInstances(sessionInfo(info(), settings), QemuHost.get(), root, settings);
    }

    /** {@code info} with the accelerator the session's settings impose when they do not leave it to {@code auto}. */
    static Info sessionInfo(Info info, QemuSettings settings) {
        if (settings.accelerator().equals("auto")) {
            return info;
        }
        Map<String, Object> features = new TreeMap<>(info.features());
        features.put("accelerator", settings.accelerator());
        features.put("accelerator_reason", "set by the session's settings");
        return new Info(info.name(), info.version(), info.impediment().orElse(null), info.type(), features);
    }
}
