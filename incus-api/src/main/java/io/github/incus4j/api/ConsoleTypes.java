package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/** Protocols accepted by {@link Instance#console(String)}. */
@API(status = EXPERIMENTAL)
public final class ConsoleTypes {
    /** The text console (a pty for containers, the serial chardev for VMs). */
    public static final String CONSOLE = "console";
    /** The graphical console (SPICE, VMs only). */
    public static final String VGA = "vga";

    private ConsoleTypes() {
    }
}
