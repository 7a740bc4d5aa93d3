package io.github.incus4j.remote;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.StatusCode;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;

/**
 * The driver's own subscription to {@code /1.0/events} (lifecycle and operation events of all projects), kept by a
 * named daemon thread that reconnects when the server drops it. It feeds the per-instance status cache and
 * completes operation waits; while it is disconnected the cache is empty (callers ask the server) and waits fall back
 * to {@code /1.0/operations/<id>/wait}, so neither is ever staler than the last event the server sent.
 */
final class Events implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Events.class.getName());
    /** Finished operations nobody waited for (other clients' ones) are forgotten after this. */
    private static final long KEEP_FINISHED_NANOS = TimeUnit.SECONDS.toNanos(60);

    private final Transport transport;
    private final Map<String, StatusCode> status = new ConcurrentHashMap<>();
    private final Map<String, Pending> operations = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean closed;
    private volatile boolean connected;
    private volatile Session session;
    private final CountDownLatch firstAttempt = new CountDownLatch(1);

    /** An operation's final state, completed by the event or by the waiter. */
    static final class Pending {
        final CompletableFuture<JsonNode> done = new CompletableFuture<>();
        volatile long finishedAt;
    }

    Events(Transport transport) {
        this.transport = transport;
        this.thread = new Thread(this::run, "incus4j-remote-events");
        thread.setDaemon(true);
        // Subscribes in the background: opening a session costs one round trip (GET /1.0) as with Go's client, and
        // awaitSubscribed() holds back every request that starts an operation until the subscription is in place.
        thread.start();
    }

    /**
     * Returns once the first subscription attempt has ended (connected, or failed: waits then ask the server),
     * bounded by the session's timeout: called before every request whose operation may be waited on, so that its
     * end event cannot pass before the subscription.
     */
    void awaitSubscribed() {
        if (firstAttempt.getCount() == 0) {
            return;
        }
        try {
            if (!firstAttempt.await(transport.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.log(System.Logger.Level.WARNING, "the events subscription did not connect within {0}",
                        transport.timeout());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while subscribing to the server's events", e);
        }
    }

    boolean connected() {
        return connected;
    }

    /** The cached status of {@code project/name}, or null when unknown. */
    StatusCode status(String project, String name) {
        return status.get(key(project, name));
    }

    void remember(String project, String name, StatusCode code) {
        if (connected && code != null) {
            status.put(key(project, name), code);
        }
    }

    void forget(String project, String name) {
        status.remove(key(project, name));
    }

    /** The pending entry of operation {@code id}: register it before the reply naming it can be acted on. */
    Pending operation(String id) {
        return operations.computeIfAbsent(id, k -> new Pending());
    }

    void release(String id) {
        operations.remove(id);
    }

    private static String key(String project, String name) {
        return project + "/" + name;
    }

    private void run() {
        Duration backoff = Duration.ofMillis(200);
        while (!closed) {
            CountDownLatch ended = new CountDownLatch(1);
            try {
                // A session on a project listens to it (Transport adds it); else to all projects.
                String scope = transport.remote().project().isPresent() ? "" : "&all-projects=true";
                Session s = transport.websocket("/1.0/events?type=lifecycle,operation" + scope,
                        new Listener(ended), transport.timeout());
                session = s;
                if (closed) {
                    s.close(); // closed while connecting
                    return;
                }
                connected = true;
                firstAttempt.countDown();
                backoff = Duration.ofMillis(200);
                while (!closed && !ended.await(1, TimeUnit.SECONDS)) {
                    // Wait for the subscription to end.
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                if (closed) {
                    return; // the session closed while subscribing
                }
                LOG.log(System.Logger.Level.WARNING, "events subscription failed: {0}", e.getMessage());
            } finally {
                disconnected();
                firstAttempt.countDown();
            }
            try {
                Thread.sleep(backoff.toMillis());
            } catch (InterruptedException e) {
                return;
            }
            backoff = backoff.multipliedBy(2).compareTo(Duration.ofSeconds(5)) > 0 ? Duration.ofSeconds(5)
                    : backoff.multipliedBy(2);
        }
    }

    /** Events may have been missed: nothing cached can be trusted, and waiters must ask the server. */
    private void disconnected() {
        connected = false;
        status.clear();
        for (Pending p : operations.values()) {
            if (!p.done.isDone()) {
                p.done.completeExceptionally(new IllegalStateException("events disconnected"));
            }
        }
        operations.values().removeIf(p -> p.done.isCompletedExceptionally());
    }

    void onEvent(JsonNode event) {
        String type = event.path("type").asText();
        JsonNode md = event.path("metadata");
        if (type.equals("operation")) {
            int code = md.path("status_code").asInt();
            if (code >= 200) {
                Pending p = operation(md.path("id").asText());
                p.finishedAt = System.nanoTime();
                p.done.complete(md);
                long now = System.nanoTime();
                operations.values().removeIf(o -> o.finishedAt != 0 && now - o.finishedAt > KEEP_FINISHED_NANOS);
            }
        } else if (type.equals("lifecycle")) {
            String source = md.path("source").asText();
            String action = md.path("action").asText();
            String prefix = "/1.0/instances/";
            if (!source.startsWith(prefix) || source.indexOf('/', prefix.length()) >= 0) {
                return; // not an instance (snapshots, backups, other objects)
            }
            String name = source.substring(prefix.length());
            int q = name.indexOf('?');
            name = java.net.URLDecoder.decode(q < 0 ? name : name.substring(0, q),
                    java.nio.charset.StandardCharsets.UTF_8);
            String project = event.path("project").asText("default");
            String key = key(project.isEmpty() ? "default" : project, name);
            switch (action) {
                case "instance-started", "instance-restarted", "instance-resumed" -> status.put(key, StatusCode.RUNNING);
                case "instance-stopped", "instance-shutdown", "instance-created" -> status.put(key, StatusCode.STOPPED);
                case "instance-paused" -> status.put(key, StatusCode.FROZEN);
                case "instance-deleted" -> status.remove(key);
                case "instance-renamed" -> status.clear();
                default -> {
                    // Other actions (updated, exec, file-*) do not change the status.
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        Session s = session;
        if (s != null) {
            s.close();
        }
        disconnected();
    }

    public final class Listener implements Session.Listener.AutoDemanding {
        private final CountDownLatch ended;

        Listener(CountDownLatch ended) {
            this.ended = ended;
        }

        @Override
        public void onWebSocketText(String message) {
            try {
                onEvent(Transport.JSON.readTree(message));
            } catch (Exception e) {
                LOG.log(System.Logger.Level.DEBUG, "unreadable event: {0}", e.getMessage());
            }
        }

        @Override
        public void onWebSocketClose(int statusCode, String reason, Callback callback) {
            callback.succeed();
            connected = false;
            status.clear();
            ended.countDown();
        }

        @Override
        public void onWebSocketError(Throwable cause) {
            connected = false;
            status.clear();
            ended.countDown();
        }
    }
}
