/**
 * Linux containers through liblxc: the {@code lxc} instance driver ({@code io.github.incus4j.lxc}, provided as an
 * {@link io.github.incus4j.api.spi.InstanceDriver} service) on top of the binding layer
 * ({@code io.github.incus4j.lxc.binding}, internal).
 */
module io.github.incus4j.lxc {
    requires transitive io.github.incus4j.api;
    requires org.jnrproject.ffi;
    requires static org.apiguardian.api;
    // jnr-ffi is an automatic module and cannot declare that it needs ASM (explicit modules) to generate its
    // bindings; requiring them here puts them in the module graph without --add-modules.
    requires org.objectweb.asm;
    requires org.objectweb.asm.commons;
    requires org.objectweb.asm.tree;
    requires org.objectweb.asm.tree.analysis;
    requires org.objectweb.asm.util;

    // jnr-ffi implements these interfaces in classes it generates into its own class loader (an unnamed module),
    // so they must be exported; the rest of the binding stays internal.
    exports io.github.incus4j.lxc.binding.ffi;
    exports io.github.incus4j.lxc;

    provides io.github.incus4j.api.spi.InstanceDriver with io.github.incus4j.lxc.LxcDriver;
}
