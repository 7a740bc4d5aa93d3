package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import org.apiguardian.api.API;

/**
 * An asynchronous QMP event such as {@code STOP}, {@code RESUME} or {@code SHUTDOWN}.
 *
 * @param name the event name ({@code "event"})
 * @param data the event's {@code "data"} object; an empty object when QEMU sent none, never {@code null}
 * @param timestamp when QEMU emitted it (its {@code "timestamp"}), or when it was read if QEMU sent none
 */
@API(status = INTERNAL)
public record QmpEvent(String name, JsonNode data, Instant timestamp) {
}
