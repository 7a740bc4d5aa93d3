package io.github.incus4j.api.operation;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.StatusCode;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.apiguardian.api.API;

/**
 * A user-visible operation ({@code operations.Operation}) that a long action reports into: metadata updates such as
 * Incus's {@code container_progress}, and cancellation. Attach it with
 * {@link io.github.incus4j.api.Instance#setOperation} or pass it to {@link io.github.incus4j.api.Instance#rebuild}.
 * Thread-safe.
 */
@API(status = EXPERIMENTAL)
public final class Operation {
    private final String id = UUID.randomUUID().toString();
    private final String description;
    private final Map<String, Object> metadata = new ConcurrentHashMap<>();
    private final CopyOnWriteArrayList<Consumer<Map<String, Object>>> listeners = new CopyOnWriteArrayList<>();
    private volatile StatusCode status = StatusCode.RUNNING;

    public Operation(String description) {
        this.description = Objects.requireNonNull(description, "description");
    }

    public String id() {
        return id;
    }

    public String description() {
        return description;
    }

    /** {@link StatusCode#RUNNING} until {@link #cancel()} ({@link StatusCode#CANCELLED}) or {@link #complete}. */
    public StatusCode status() {
        return status;
    }

    /** A snapshot of the metadata. */
    public Map<String, Object> metadata() {
        return Map.copyOf(metadata);
    }

    /** Merges metadata (e.g. {@code container_progress}) and tells the listeners. */
    public void updateMetadata(Map<String, ?> update) {
        metadata.putAll(update);
        Map<String, Object> now = metadata();
        listeners.forEach(l -> l.accept(now));
    }

    /** Called with the whole metadata after each update. */
    public void onMetadata(Consumer<Map<String, Object>> listener) {
        listeners.add(Objects.requireNonNull(listener));
    }

    /** Asks the work to stop; long actions check {@link #isCancelled()} between steps. */
    public void cancel() {
        if (!status.isFinal()) {
            status = StatusCode.CANCELLED;
        }
    }

    public boolean isCancelled() {
        return status == StatusCode.CANCELLED;
    }

    /** Marks the operation finished: {@link StatusCode#SUCCESS} or {@link StatusCode#FAILURE}. */
    public void complete(boolean success) {
        if (!status.isFinal()) {
            status = success ? StatusCode.SUCCESS : StatusCode.FAILURE;
        }
    }

    @Override
    public String toString() {
        return "Operation[" + id + " " + description + " " + status + "]";
    }
}
