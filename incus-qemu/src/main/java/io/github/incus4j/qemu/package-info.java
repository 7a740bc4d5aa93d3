/**
 * The {@code qemu} instance driver: virtual machines run by {@code qemu-system-x86_64} and driven through QMP
 * ({@link io.github.incus4j.qemu.QemuDriver}, opened as {@link io.github.incus4j.qemu.QemuInstances}; each VM a
 * {@link io.github.incus4j.qemu.QemuVm}), registered as the {@code qemu}
 * {@link io.github.incus4j.api.spi.InstanceDriver} provider.
 *
 * <ul>
 * <li>Disk: {@code Path()/root.img} (qcow2) from an Incus VM image tarball ({@code rootfs.img} kept if qcow2,
 * converted if raw), from a disk image file given as {@code InstanceSource.rootfs(file)}, or blank
 * ({@code InstanceSource.none()}, the root device's {@code size}, default 10 GiB). Export writes Incus's unified VM
 * image ({@code metadata.yaml}, templates, {@code rootfs.img} from {@code qemu-img convert -O qcow2}) or the split
 * pair (metadata tarball, qcow2 bytes).</li>
 * <li>Boot: SeaBIOS boots the disk (the tests' guest is syslinux on FAT); {@code raw.qemu} adds QEMU arguments, e.g.
 * {@code -kernel/-initrd/-append}. No UEFI, no config drive, no Incus agent, no vsock.</li>
 * <li>QEMU runs daemonized ({@code -daemonize -pidfile}, {@code -S}, then {@code set-action} and {@code cont}),
 * q35, KVM ({@code -cpu host}) or TCG ({@code qemu64}), {@code limits.cpu} vCPUs, {@code limits.memory} with room
 * to hotplug up to the host's memory, a serial ring buffer, virtio-serial with the QEMU guest agent's port,
 * virtio-balloon, the NICs, shares and disks of the VM's devices (below), a VGA for screenshots. Its sockets live in {@code RunPath()}, or in
 * {@code /run/incus4j/<hash>} when that path is too long for unix sockets. One QMP client per running VM, owned by
 * its handle; QEMU's end (guest poweroff, crash, SIGKILL) is noticed by the monitor's disconnection.</li>
 * <li>Exec and files go through {@code qemu-ga}: commands with captured output (stdin taken whole first), files
 * with {@code guest-file-*} and busybox applets, served as SFTP by {@code SftpServer} (incus-api's internal SFTP server).</li>
 * <li>Snapshots are internal qcow2 snapshots; a stateful one also keeps the memory (QEMU's migration stream,
 * gzip-compressed, in the snapshot's directory). Stateful stop writes that stream to {@code StatePath()}; a stateful
 * start loads it ({@code -incoming defer}, {@code migrate-incoming}) and the guest resumes where it was. All of it
 * goes through {@code QemuState} (written aside then renamed, followed with
 * {@code query-migrate}, cancelled after a timeout; the root disk's {@code size.state} is checked first).</li>
 * <li>Migration between two roots of this driver over incus-api's internal migration wire ({@code MigrationWire})
 * ({@code QemuMigration}): the qcow2 disk travels as {@code rootfs.img} with its internal
 * snapshots; a live migration pauses the VM, sends its state and starts it from that state on the target.</li>
 * <li>Devices ({@code VmNics}, {@code VmDisks}, {@code VmProxies}): {@code nic} with {@code nictype=bridged} is a tap
 * the driver creates on the bridge ({@code volatile.<dev>.host_name}, {@code volatile.<dev>.hwaddr}); {@code nictype=p2p}
 * is QEMU user-mode networking (the driver's choice, documented on {@code VmNics}); without a p2p NIC the driver adds a
 * restricted user-mode management NIC last, for its SSH channel and the proxies, left out of the state. {@code disk}
 * beyond the root: a host directory shared over virtio-fs ({@code virtiofsd}; 9p where there is none), mounted in the
 * guest through its agent at {@code path}; a file or block device as an extra virtio disk. {@code proxy}: QEMU's
 * {@code hostfwd} on the user-mode NIC, added and removed live through the monitor. The state's and metrics'
 * interfaces are the guest's own (its agent), else what the host sees of the NIC devices.</li>
 * <li>Accelerator: {@code auto} picks KVM only where a hardware KVM module ({@code kvm_intel}, {@code kvm_amd}) is
 * loaded and {@code /dev/kvm} opens, TCG elsewhere (e.g. a paravirtual {@code kvm_pvm} host); the
 * {@code accelerator} and {@code accelerator_reason} features report the choice.</li>
 * </ul>
 * Not supported yet: migration between drivers, interactive exec, SPICE ({@code vga}), SSH access, templates (kept
 * and exported, not applied: Incus hands them to its own agent), rebuild of a VM with snapshots.
 */
package io.github.incus4j.qemu;
