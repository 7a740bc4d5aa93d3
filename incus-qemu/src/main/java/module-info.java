/**
 * Virtual machines through QEMU: the {@code qemu} instance driver ({@code io.github.incus4j.qemu}, provided as an
 * {@link io.github.incus4j.api.spi.InstanceDriver} service) over a QMP client ({@code io.github.incus4j.qemu.qmp},
 * internal).
 */
module io.github.incus4j.qemu {
    requires transitive io.github.incus4j.api;
    requires com.fasterxml.jackson.databind;
    requires static org.apiguardian.api;
    // sshj (an automatic module) is the SSH/SFTP client for guests configured with an SSH endpoint.
    requires com.hierynomus.sshj;

    exports io.github.incus4j.qemu;

    provides io.github.incus4j.api.spi.InstanceDriver with io.github.incus4j.qemu.QemuDriver;
}
