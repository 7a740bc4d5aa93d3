package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import org.apiguardian.api.API;

/**
 * The last error liblxc recorded on a container handle ({@code error_string} and {@code error_num} of
 * {@code struct lxc_container}). Only some operations set them.
 *
 * @param message the error text, or null when liblxc recorded none
 * @param number the error number (0 when none)
 */
@API(status = INTERNAL)
public record LxcError(String message, int number) {
    /** A short text for exception messages: the message, the number, or nothing. */
    String describe() {
        if (message != null && !message.isEmpty()) {
            return ": " + message + (number != 0 ? " (" + number + ")" : "");
        }
        return number != 0 ? ": error " + number : "";
    }
}
