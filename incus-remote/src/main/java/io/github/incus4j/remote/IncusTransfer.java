package io.github.incus4j.remote;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * {@link RemoteInstance#copyTo} and {@link RemoteInstance#moveTo}: the two servers talk to each other directly, as
 * Incus's Go client does it in {@code CopyInstance} (client/incus_instances.go) for {@code --mode pull} and {@code
 * push}. One server offers its migration websockets on an operation (pull: the source's {@code migration: true}
 * POST; push: the target's create in push mode), the other is asked to dial that operation at the offering server's
 * network address, pinning its certificate (pull: the target's create with {@code source.operation}; push: the
 * source's POST with {@code target}). This client only starts both and waits for whichever ends first.
 *
 * <p>No migration operation is ever cancelled (Incus 6.0.4 dies cancelling one): when one side fails, the other
 * side's offered websockets are connected and closed, so that its operation fails by itself; then a target instance
 * that this call created and the server left behind is deleted.
 */
final class IncusTransfer {
    private static final System.Logger LOG = System.getLogger(IncusTransfer.class.getName());
    private static final AtomicInteger THREADS = new AtomicInteger();
    /** What Go's {@code localtls.IsConnectionError} means: the dialling server did not reach that address. */
    private static final Pattern CONNECTION_ERROR = Pattern.compile(
            "(?i).*(connection refused|no route to host|network is unreachable|i/o timeout|dial tcp).*");

    private IncusTransfer() {
    }

    /** One operation and its wait, started at once so that its end event is not missed. */
    private record Watch(IncusInstances session, String id, Map<String, String> secrets,
            CompletableFuture<JsonNode> done) {
    }

    /** One failed attempt: the address tried, the exception the server's answer maps to. */
    private record Attempt(String url, IncusException error) {
    }

    static Instance copy(IncusInstance source, Instances targetApi, String name, TransferMode mode,
            boolean snapshots, boolean move) {
        Objects.requireNonNull(mode, "mode");
        if (!(targetApi instanceof IncusInstances target)) {
            throw new NotSupportedException("An instance of the incus driver is copied or moved to a session of the "
                    + "incus driver, not to " + (targetApi == null ? "null" : targetApi.getClass().getName()));
        }
        String newName = name == null || name.isEmpty() ? source.name() : name;
        IncusInstances from = source.session;
        JsonNode definition = source.get();
        StatusCode status = IncusInstance.statusOf(definition);
        if (move && status.isRunning()) {
            // Incus's text for a stateless move of a running instance (instance_post.go); live moves need CRIU.
            throw new InstanceStateException("Instance must be stopped to be moved statelessly", status);
        }
        JsonNode sourceServer = from.transport().call("GET", "/1.0", null).metadata();
        JsonNode targetServer = target.transport().call("GET", "/1.0", null).metadata();
        requireExtensions(mode, snapshots, sourceServer, targetServer);
        boolean pull = mode == TransferMode.PULL;
        IncusInstances dialled = pull ? from : target;
        JsonNode dialledServer = pull ? sourceServer : targetServer;
        List<String> urls = urls(dialled, dialledServer);
        if (urls.isEmpty()) {
            throw new InvalidArgumentException("The " + (pull ? "source" : "target")
                    + " server isn't listening on the network (core.https_address is not set on "
                    + dialled.transport().address() + ")");
        }
        String certificate = dialledServer.path("environment").path("certificate").asText("");
        if (certificate.isEmpty()) {
            throw new IncusException("The " + (pull ? "source" : "target") + " server at "
                    + dialled.transport().address() + " names no certificate in GET /1.0 (environment.certificate)");
        }
        String project = target.project(null);
        // A name with a slash reads as a snapshot to find(): the server refuses it as an instance name anyway, and
        // nothing is looked up (or deleted after a failure) under it.
        boolean existedBefore = newName.contains("/") || target.find(project, newName).isPresent();
        ObjectNode create = createBody(definition, newName, source.type().apiName(), mode, snapshots, move);
        String createPath = "/1.0/instances?" + IncusInstances.projectQuery(project)
                + target.transport().remote().target().map(t -> "&target=" + IncusInstances.seg(t)).orElse("");
        ObjectNode migrate = Transport.JSON.createObjectNode();
        migrate.put("migration", true);
        migrate.put("live", false);
        migrate.put("instance_only", !snapshots);
        migrate.put("allow_inconsistent", false);
        String migratePath = source.path("");
        try {
            if (pull) {
                // The source offers; a refusal here comes as the server's text, as from Go's MigrateInstance.
                Watch offered = start(from, "POST", migratePath, migrate, "source");
                ObjectNode src = (ObjectNode) create.get("source");
                src.put("certificate", certificate);
                src.set("secrets", Transport.JSON.valueToTree(offered.secrets()));
                run(offered, false, urls, "Failed instance creation", url -> {
                    src.put("operation", url + "/1.0/operations/" + offered.id());
                    return start(target, "POST", createPath, create, "target");
                });
            } else {
                // The target offers; its refusal (a name it has already) comes unprefixed, as from Go's
                // CreateInstance, and nothing else has been started.
                Watch offered = start(target, "POST", createPath, create, "target");
                ObjectNode to = migrate.putObject("target");
                to.put("certificate", certificate);
                to.set("secrets", Transport.JSON.valueToTree(offered.secrets()));
                run(offered, true, urls, "Failed instance migration", url -> {
                    to.put("operation", url + "/1.0/operations/" + offered.id());
                    return start(from, "POST", migratePath, migrate, "source");
                });
            }
        } catch (RuntimeException e) {
            if (!existedBefore) {
                deleteLeftover(target, project, newName);
            }
            throw e;
        } finally {
            target.events().forget(project, newName);
        }
        Instance copied = target.load(project, newName);
        if (move) {
            try {
                source.delete(true); // as `incus move`: `incus delete --force` once the copy is there
            } catch (IncusException e) {
                throw prefixed("Failed to delete original instance after copying it", e);
            }
        }
        return copied;
    }

    /** The API extensions Go's CopyInstance checks, with its texts. */
    private static void requireExtensions(TransferMode mode, boolean snapshots, JsonNode source, JsonNode target) {
        List<String[]> needed = new ArrayList<>();
        if (!snapshots) {
            needed.add(new String[] {"target", "container_only_migration"});
            needed.add(new String[] {"source", "container_only_migration"});
        }
        if (mode == TransferMode.PUSH) {
            needed.add(new String[] {"target", "container_push"});
            needed.add(new String[] {"source", "container_push"});
            needed.add(new String[] {"source", "container_push_target"});
        }
        for (String[] n : needed) {
            JsonNode server = n[0].equals("source") ? source : target;
            boolean has = false;
            for (JsonNode e : server.path("api_extensions")) {
                has |= e.asText().equals(n[1]);
            }
            if (!has) {
                throw new NotSupportedException("The " + n[0] + " server is missing the required \"" + n[1]
                        + "\" API extension");
            }
        }
    }

    /**
     * The addresses the other server dials, as Go's {@code GetConnectionInfo}: the session's own HTTPS address
     * first, then {@code environment.addresses} but for wildcard ones ({@code :8443}).
     */
    private static List<String> urls(IncusInstances session, JsonNode server) {
        Set<String> urls = new LinkedHashSet<>();
        String own = session.transport().address();
        if (own.startsWith("https://")) {
            urls.add(own);
        }
        for (JsonNode a : server.path("environment").path("addresses")) {
            String addr = a.asText("");
            if (!addr.isEmpty() && !addr.startsWith(":")) {
                urls.add("https://" + addr);
            }
        }
        return new ArrayList<>(urls);
    }

    /** What {@code incus copy} asks the target for: the source's writable definition, copied or moved. */
    private static ObjectNode createBody(JsonNode definition, String name, String type, TransferMode mode,
            boolean snapshots, boolean move) {
        ObjectNode body = Transport.JSON.createObjectNode();
        body.put("name", name);
        body.put("type", definition.path("type").asText(type));
        for (String field : List.of("architecture", "devices", "profiles", "ephemeral", "description", "stateful")) {
            if (definition.has(field)) {
                body.set(field, definition.get(field));
            }
        }
        // As the incus CLI: a move keeps the volatile keys, a copy only volatile.base_image
        // (InstanceIncludeWhenCopying for a remote copy); neither keeps volatile.last_state.power.
        Map<String, String> config = new TreeMap<>();
        definition.path("config").properties().forEach(e -> {
            String k = e.getKey();
            boolean keep = !k.equals("volatile.last_state.power")
                    && (move || !k.startsWith("volatile.") || k.equals("volatile.base_image"));
            if (keep) {
                config.put(k, e.getValue().asText());
            }
        });
        body.set("config", Transport.JSON.valueToTree(config));
        ObjectNode src = body.putObject("source");
        src.put("type", "migration");
        src.put("mode", mode == TransferMode.PULL ? "pull" : "push");
        String baseImage = config.getOrDefault("volatile.base_image", "");
        if (!baseImage.isEmpty()) {
            src.put("base-image", baseImage);
        }
        src.put("live", false);
        src.put("instance_only", !snapshots);
        src.put("allow_inconsistent", false);
        return body;
    }

    /** Sends a request answered with a migration operation and starts waiting for that operation's end. */
    private static Watch start(IncusInstances session, String method, String path, ObjectNode body, String side) {
        Transport.Reply r = session.transport().call(method, path, body);
        String id = IncusInstances.operationId(r.body().path("operation").asText(""));
        if (id.isEmpty()) {
            throw new IncusException("The " + side + " server answered " + method + " " + path
                    + " without an operation");
        }
        Map<String, String> secrets = new TreeMap<>();
        r.metadata().path("metadata").properties().forEach(e -> secrets.put(e.getKey(), e.getValue().asText()));
        CompletableFuture<JsonNode> done = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                // Never cancelled on timeout: Incus 6.0.4 dies cancelling a migration operation.
                done.complete(session.waitOperation(id, IncusMigration.MIGRATION_LIMIT, true, false));
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
            }
        }, "incus4j-remote-transfer-" + side + "-" + THREADS.incrementAndGet());
        t.setDaemon(true);
        t.start();
        return new Watch(session, id, secrets, done);
    }

    /** Starts the dialling side. */
    @FunctionalInterface
    private interface Dial {
        Watch dial(String url);
    }

    /**
     * Tries each address in turn, as Go's {@code tryCreateInstance}/{@code tryMigrateInstance}: a refused request,
     * or a dialling operation that failed to connect while the offering one still waits, moves on to the next. Ends
     * when the dialling operation, and the offering one where it {@code offeredDecides} (the target's), ended well;
     * else releases the offering operation, waits for both, and throws.
     */
    private static void run(Watch offered, boolean offeredDecides, List<String> urls, String prefix, Dial dial) {
        List<Attempt> failures = new ArrayList<>();
        Watch dialling = null;
        for (Iterator<String> it = urls.iterator(); it.hasNext();) {
            String url = it.next();
            try {
                dialling = dial.dial(url);
            } catch (IncusException e) {
                failures.add(new Attempt(url, e));
                continue;
            }
            IncusException error = firstEnd(offered, dialling);
            if (error == null) {
                error = finish(offered, offeredDecides);
                if (error == null) {
                    return;
                }
                failures.add(new Attempt(url, error));
                break;
            }
            failures.add(new Attempt(url, error));
            if (!(it.hasNext() && !offered.done().isDone() && dialling.done().isDone()
                    && CONNECTION_ERROR.matcher(error.getMessage()).matches())) {
                break;
            }
        }
        // The offering server waits for its websockets: connected and closed, its operation fails by itself.
        if (!offered.done().isDone()) {
            IncusMigration.releaseWebsockets(offered.session(), offered.id(), offered.secrets(),
                    offered.session().timeout());
        }
        awaitQuietly(offered, offered.session().timeout());
        if (dialling != null) {
            awaitQuietly(dialling, dialling.session().timeout());
        }
        throw failure(prefix, failures);
    }

    /**
     * Waits until the dialling operation has ended (when the offering one ended well first, as long as the dialling
     * one takes), or the offering one failed; null when the dialling one ended well, else the failure (the dialling
     * side's when it failed too within a moment: its text says more).
     */
    private static IncusException firstEnd(Watch offered, Watch dialling) {
        long limit = IncusMigration.MIGRATION_LIMIT.plusMinutes(1).toMillis();
        try {
            CompletableFuture.anyOf(offered.done(), dialling.done()).get(limit, TimeUnit.MILLISECONDS);
            if (succeeded(offered.done())) {
                dialling.done().get(limit, TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new IncusException("Interrupted while waiting for the migration", e);
        } catch (ExecutionException e) {
            // one of them failed: looked at below
        } catch (TimeoutException e) {
            return new OperationTimeoutException("The migration did not end within "
                    + IncusMigration.MIGRATION_LIMIT, e);
        }
        if (!dialling.done().isDone()) {
            // The offering side failed first: the dialling one follows, with the reason it saw.
            awaitQuietly(dialling, Duration.ofSeconds(5));
        }
        if (succeeded(dialling.done())) {
            return null;
        }
        IncusException error = errorOf(dialling.done());
        return error != null ? error : errorOf(offered.done());
    }

    private static boolean succeeded(CompletableFuture<JsonNode> f) {
        return f.isDone() && !f.isCompletedExceptionally();
    }

    /**
     * After the dialling side ended well, the offering one's end: the outcome when it is the target's (push: the
     * instance is there once the target's operation ended well), else (pull: the source's) only logged.
     */
    private static IncusException finish(Watch offered, boolean offeredDecides) {
        Duration limit = offeredDecides ? IncusMigration.MIGRATION_LIMIT : offered.session().timeout();
        try {
            offered.done().get(limit.toMillis(), TimeUnit.MILLISECONDS);
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return offeredDecides ? new IncusException("Interrupted while waiting for the migration", e) : null;
        } catch (ExecutionException | TimeoutException e) {
            if (offeredDecides) {
                IncusException error = errorOf(offered.done());
                return error != null ? error : new OperationTimeoutException("The target's migration operation "
                        + offered.id() + " did not end within " + limit, e);
            }
            LOG.log(System.Logger.Level.DEBUG, "the source''s migration operation {0} after a transfer that "
                    + "worked: {1}", offered.id(), e.toString());
            return null;
        }
    }

    private static void awaitQuietly(Watch w, Duration limit) {
        try {
            w.done().get(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.log(System.Logger.Level.DEBUG, "migration operation {0}: {1}", w.id(), e.toString());
        }
    }

    private static IncusException errorOf(CompletableFuture<JsonNode> f) {
        if (!f.isCompletedExceptionally()) {
            return null;
        }
        try {
            f.join();
            return null;
        } catch (RuntimeException e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            return c instanceof IncusException ie ? ie : new IncusException(String.valueOf(c.getMessage()), c);
        }
    }

    /** Go's {@code remoteOperationError}: one text when every address failed alike, else one line per address. */
    private static IncusException failure(String prefix, List<Attempt> failures) {
        Set<String> texts = new LinkedHashSet<>();
        failures.forEach(f -> texts.add(f.error().getMessage()));
        IncusException last = failures.get(failures.size() - 1).error();
        if (texts.size() == 1) {
            return prefixed(prefix, last);
        }
        StringBuilder b = new StringBuilder(prefix).append(':');
        failures.forEach(f -> b.append("\n - ").append(f.url()).append(": ").append(f.error().getMessage()));
        return Errors.retyped(b.toString(), last);
    }

    /** {@code e}'s type (so its meaning) with {@code prefix: } before the server's text. */
    private static IncusException prefixed(String prefix, IncusException e) {
        return Errors.retyped(prefix + ": " + e.getMessage(), e);
    }

    /** A target instance this call created and the server left after a failure goes (bounded, best effort). */
    private static void deleteLeftover(IncusInstances target, String project, String name) {
        try {
            target.find(project, name).ifPresent(i -> {
                LOG.log(System.Logger.Level.DEBUG, "deleting {0} left half-created by a failed transfer",
                        ErrorTexts.quote(name));
                i.delete(true);
            });
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "A failed transfer left {0} on the target and deleting it failed: {1}",
                    ErrorTexts.quote(name), e.getMessage());
        }
    }
}
