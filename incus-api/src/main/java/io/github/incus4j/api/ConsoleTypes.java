package io.github.incus4j.api;

/** Protocols accepted by {@link Instance#console(String)}. */
public final class ConsoleTypes {
    /** The text console (a pty for containers, the serial chardev for VMs). */
    public static final String CONSOLE = "console";
    /** The graphical console (SPICE, VMs only). */
    public static final String VGA = "vga";

    private ConsoleTypes() {
    }
}
