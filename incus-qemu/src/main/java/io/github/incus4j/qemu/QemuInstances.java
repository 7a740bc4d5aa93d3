package io.github.incus4j.qemu;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Info;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.spi.DeviceSupport;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.api.spi.OperationLocks;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apiguardian.api.API;

/**
 * The virtual machines of one root, run by QEMU. Each VM's disk is {@code Path()/root.img} (qcow2); its snapshots
 * are internal qcow2 snapshots of that file. Sources: a unified Incus VM image tarball ({@code metadata.yaml} +
 * {@code rootfs.img}, qcow2 or raw), a disk image file given as {@link InstanceSource#rootfs} (qcow2 or raw,
 * converted), or {@link InstanceSource#none()} (a blank disk of the root device's {@code size}, default 10 GiB).
 * Closing the session leaves running VMs running (as a restart of Incus's daemon does) and releases their monitors.
 */
@API(status = EXPERIMENTAL)
public final class QemuInstances extends AbstractInstances<QemuVm> {
    private final QemuHost host;
    private final QemuSettings settings;
    private final Set<QemuVm> attached = ConcurrentHashMap.newKeySet();

    QemuInstances(Info info, QemuHost host, Path root, QemuSettings settings) {
        super(info, root, new OperationLocks(settings.lockWait()), Clock.systemUTC());
        this.host = host;
        this.settings = settings;
        loadExisting();
    }

    QemuHost host() {
        return host;
    }

    QemuSettings settings() {
        return settings;
    }

    /** Whether VMs of this session use KVM. */
    boolean useKvm() {
        return switch (settings.accelerator()) {
            case "kvm" -> true;
            case "tcg" -> false;
            default -> host.kvm().usable();
        };
    }

    /**
     * Exactly what {@link VmNics}, {@link VmDisks} and {@link VmProxies} apply: bridged NICs (taps) and p2p NICs
     * (QEMU user-mode networking), host directories and files as disks, and NAT proxies (QEMU's {@code hostfwd});
     * everything else Incus accepts is refused at create and update naming the device.
     */
    @Override
    protected DeviceSupport deviceSupport(InstanceType type) {
        return DeviceSupport.rootDiskOnly(info().name())
                .with("nic:bridged", Set.of("parent", "hwaddr", "host_name", "mtu"))
                .with("nic:p2p", Set.of("hwaddr"))
                .with("disk", Set.of("source", "path", "readonly", "required", "io.bus"))
                .with("proxy", Set.of("listen", "connect", "bind", "nat"));
    }

    @Override
    protected QemuVm newInstance(InstanceRecord record) {
        return new QemuVm(this, record);
    }

    @Override
    protected void checkSource(InstanceType type, InstanceSource source) {
        if (source == null || source instanceof InstanceSource.None) {
            return;
        }
        if (ImageSources.isImage(source)) {
            // Checked by the base class as for every driver: metadata.yaml and the disk must be there.
            return;
        } else if (source instanceof InstanceSource.Template t) {
            // Unknown like any template name on the other drivers (Incus's 404 for an image alias it lacks).
            throw new NotFoundException("Unknown template " + ErrorTexts.quote(t.name())
                    + ": the qemu driver provides none");
        } else if (source instanceof InstanceSource.RootfsDirectory d) {
            if (!Files.isRegularFile(d.directory())) {
                throw new NotFoundException("Disk image " + ErrorTexts.quote(d.directory().toString())
                        + " not found: the qemu driver takes a disk image file (qcow2 or raw) as root filesystem");
            }
        } else {
            throw new NotSupportedException("The qemu driver creates VMs from an image, a disk image or an"
                    + " empty disk, not from " + source);
        }
    }

    @Override
    protected void createStorage(QemuVm instance, InstanceSource source) {
        instance.createStorage(source);
    }

    /** Removes the short run directory too, when the VM had one (see {@link Machine.RunDir#of}). */
    @Override
    protected void removeInstanceDirectories(InstanceType type, String fullName) {
        super.removeInstanceDirectories(type, fullName);
        Path run = paths().runPath(fullName);
        Machine.RunDir short_ = Machine.RunDir.of(run);
        if (!short_.dir().equals(run)) {
            deleteTree(short_.dir());
        }
    }

    /** Notes that {@code vm} holds a monitor connection, to be released by {@link #close()}. */
    void attached(QemuVm vm) {
        attached.add(vm);
    }

    /** Notes that {@code vm} released its monitor connection. */
    void detached(QemuVm vm) {
        attached.remove(vm);
    }

    /** Releases the monitors and agents of running VMs; the VMs keep running. */
    @Override
    protected void closeDriver() {
        for (QemuVm vm : attached) {
            vm.detach();
        }
    }
}
