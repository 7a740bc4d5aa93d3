package io.github.incus4j.api.spi;

import java.util.Objects;

/** Whether a driver can work on this host, and if not, why (shown to the user when selection fails). */
public record Applicability(boolean applicable, String reason) {
    public Applicability {
        Objects.requireNonNull(reason, "reason");
    }

    public static Applicability yes() {
        return new Applicability(true, "");
    }

    public static Applicability no(String reason) {
        return new Applicability(false, reason);
    }
}
