package io.github.incus4j.api.spi;

import static org.apiguardian.api.API.Status.MAINTAINED;

import java.util.Objects;
import org.apiguardian.api.API;

/** Whether a driver can work on this host, and if not, why (shown to the user when selection fails). */
@API(status = MAINTAINED)
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
