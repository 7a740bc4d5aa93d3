package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.apiguardian.api.API;

/**
 * A wait for the first QMP event that matches a predicate, armed by {@link QmpClient#expect(Predicate)} before the
 * command that causes the event is issued (QEMU often emits the event before the command's reply). Close it when
 * giving up, so that the client stops testing events against it.
 */
@API(status = INTERNAL)
public final class EventWait implements AutoCloseable {
    private final Predicate<QmpEvent> match;
    private final Consumer<EventWait> unregister;
    private final CompletableFuture<QmpEvent> event = new CompletableFuture<>();

    EventWait(Predicate<QmpEvent> match, Consumer<EventWait> unregister) {
        this.match = match;
        this.unregister = unregister;
    }

    /**
     * The matching event, waiting up to {@code timeout} for it.
     *
     * @throws OperationTimeoutException when no matching event came within {@code timeout}
     * @throws MonitorDisconnectedException when the connection ended first
     */
    public QmpEvent await(Duration timeout) {
        try {
            return event.get(JsonLineChannel.nanos(timeout), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new OperationTimeoutException("No matching QMP event within " + ErrorTexts.duration(timeout));
        } catch (ExecutionException e) {
            throw new MonitorDisconnectedException(e.getCause().getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QmpException("Interrupted while waiting for a QMP event", e);
        } finally {
            close();
        }
    }

    /** Whether the event came already. */
    public boolean isDone() {
        return event.isDone() && !event.isCompletedExceptionally();
    }

    /** Stops waiting; an {@link #await} that already has its event still returns it. */
    @Override
    public void close() {
        unregister.accept(this);
    }

    /** On the thread that reads: takes {@code e} if it matches; true when this wait is done with. */
    boolean offer(QmpEvent e) {
        if (match.test(e)) {
            event.complete(e);
            return true;
        }
        return false;
    }

    void disconnected(MonitorDisconnectedException e) {
        event.completeExceptionally(e);
    }
}
