/**
 * The native signatures jnr-ffi binds: liblxc's exported functions, the few libc functions the binding needs, and one
 * interface per signature of the function-pointer slots of {@code struct lxc_container}. Internal to incus4j (exported
 * only because jnr-ffi's generated implementations live in another module); use {@code io.github.incus4j.lxc.binding}.
 *
 * <p>Pointers are passed as {@code long} addresses (64-bit ABI), C {@code bool} results as {@code byte} (the ABI only
 * defines the low 8 bits).
 */
package io.github.incus4j.lxc.binding.ffi;
