package io.github.incus4j.remote;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.rest.RestJson;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A session on one Incus server: instances are the server's (all projects), with its semantics; nothing is kept
 * locally but the event-fed status cache. The root directory is only where the session was opened.
 */
final class IncusInstances implements Instances {
    private static final System.Logger LOG = System.getLogger(IncusInstances.class.getName());

    private final Path root;
    private final Transport transport;
    private final Events events;
    private final Info info;

    IncusInstances(Path root, Transport transport, Info info) {
        this.root = root;
        this.transport = transport;
        this.info = info;
        this.events = new Events(transport);
        transport.beforeChange(events::awaitSubscribed);
    }

    Transport transport() {
        return transport;
    }

    Events events() {
        return events;
    }

    Duration timeout() {
        return transport.timeout();
    }

    @Override
    public Info info() {
        return info;
    }

    @Override
    public Path root() {
        return root;
    }

    static String seg(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    static String projectQuery(String project) {
        return "project=" + seg(project);
    }

    /**
     * The server's project for the API's {@code project}: the API's default project is the session's project when
     * the remote names one (as {@code incus --project} makes it the default of every command).
     */
    String project(String project) {
        String session = transport.remote().project().orElse(null);
        if (session != null && (project == null || project.isEmpty() || project.equals(Project.DEFAULT_NAME))) {
            return session;
        }
        return project == null || project.isEmpty() ? Project.DEFAULT_NAME : project;
    }

    @Override
    public Instance create(InstanceArgs args, InstanceSource source) {
        // The REST API fills in what instance.Create refuses (a random name, a container for "any type"); our
        // API is instance.Create's, so those are refused here with its texts before anything reaches the server.
        if (args.type() == InstanceType.ANY) {
            throw new InvalidArgumentException(ErrorTexts.INVALID_INSTANCE_TYPE);
        }
        if (args.snapshot()) {
            throw new InvalidArgumentException("Snapshots are created with Instance.snapshot, not Instances.create");
        }
        if (args.name().isEmpty()) {
            throw new InvalidArgumentException("Invalid instance name: Name must be 1-63 characters long");
        }
        ObjectNode body = Transport.JSON.createObjectNode();
        body.put("name", args.name());
        body.put("type", args.type().apiName());
        body.set("config", Transport.JSON.valueToTree(args.config()));
        body.set("devices", Transport.JSON.valueToTree(args.devices()));
        if (!args.profiles().isEmpty()) {
            body.set("profiles", Transport.JSON.valueToTree(args.profiles().stream().map(Profile::name).toList()));
        }
        body.put("ephemeral", args.ephemeral());
        body.put("description", args.description());
        String project = project(args.project());
        ObjectNode src = body.putObject("source");
        IncusImages.Uploaded image = null;
        if (source instanceof InstanceSource.Template t) {
            // The server has no templates: a template names an image alias on the server (CI imports `busybox`).
            src.put("type", "image");
            src.put("alias", t.name());
        } else if (source == null || source instanceof InstanceSource.None) {
            src.put("type", "none");
        } else if (ImageSources.isImage(source) || source instanceof InstanceSource.RootfsDirectory) {
            image = IncusImages.upload(this, project, args.type(), source);
            src.put("type", "image");
            src.put("fingerprint", image.fingerprint());
        } else {
            throw new NotSupportedException("The incus driver creates instances from an image alias on the server "
                    + "(InstanceSource.template(\"<alias>\", ...)), an image file, a root filesystem directory or empty, not from " + source);
        }
        // The cluster member to create it on: only on create, as the incus CLI does (`incus launch --target`);
        // elsewhere Incus forwards to the member holding the instance.
        String target = transport.remote().target().map(t -> "&target=" + seg(t)).orElse("");
        try {
            JsonNode op = async("POST", "/1.0/instances?" + projectQuery(project) + target, body, timeout());
            LOG.log(System.Logger.Level.DEBUG, "created {0}: {1}", args.name(), op.path("id").asText());
        } finally {
            // The instance has its own copy of the image's root filesystem: an image uploaded for it goes, whether
            // the create worked or not.
            IncusImages.delete(this, image);
        }
        return load(project, args.name());
    }

    @Override
    public Optional<Instance> find(String apiProject, String name) {
        if (name == null || name.isEmpty()) {
            return Optional.empty();
        }
        String project = project(apiProject);
        int slash = name.indexOf('/');
        String path = slash < 0 ? "/1.0/instances/" + seg(name)
                : "/1.0/instances/" + seg(name.substring(0, slash)) + "/snapshots/" + seg(name.substring(slash + 1));
        Transport.Reply r = transport.send("GET", path + "?" + projectQuery(project), null, Map.of(), timeout());
        if (r.status() == 404) {
            return Optional.empty();
        }
        if (r.status() >= 400) {
            throw Errors.map(r.status(), r.body().path("error").asText("incusd answered " + r.status()));
        }
        if (slash >= 0) {
            String parentType = instanceType(project, name.substring(0, slash));
            return Optional.of(handle(project, name, InstanceType.ofApiName(parentType)));
        }
        return Optional.of(handle(project, name, InstanceType.ofApiName(r.metadata().path("type").asText())));
    }

    /**
     * One {@code DELETE} by name, as Go's {@code DeleteInstance}/{@code DeleteInstanceSnapshot}: no {@code GET} of
     * the instance first. A forced delete of an instance still reads it (its delete protection is lifted first).
     */
    @Override
    public void delete(String apiProject, String name, boolean force) {
        if (name == null || name.isEmpty() || (force && name.indexOf('/') < 0)) {
            Instances.super.delete(apiProject, name, force);
            return;
        }
        String project = project(apiProject);
        int slash = name.indexOf('/');
        String parent = slash < 0 ? name : name.substring(0, slash);
        String path = "/1.0/instances/" + seg(parent)
                + (slash < 0 ? "" : "/snapshots/" + seg(name.substring(slash + 1))) + "?" + projectQuery(project);
        try {
            async("DELETE", path, null, timeout());
        } catch (NotFoundException e) {
            throw new NotFoundException(ErrorTexts.INSTANCE_NOT_FOUND, e); // what load() says (the server: its own text)
        } finally {
            if (slash < 0) {
                events.forget(project, parent);
            }
        }
    }

    private String instanceType(String project, String name) {
        return transport.call("GET", "/1.0/instances/" + seg(name) + "?" + projectQuery(project), null).metadata()
                .path("type").asText();
    }

    IncusInstance handle(String project, String name, InstanceType type) {
        return type == InstanceType.VM ? new IncusVm(this, project, name) : new IncusContainer(this, project, name);
    }

    @Override
    public List<Instance> list() {
        // A session on a project lists that project (a certificate restricted to it may not list the others).
        String scope = transport.remote().project().isPresent() ? "" : "all-projects=true&";
        JsonNode all = transport.call("GET", "/1.0/instances?" + scope + "recursion=1", null).metadata();
        List<Instance> out = new ArrayList<>();
        for (JsonNode i : all) {
            String project = i.path("project").asText("default");
            IncusInstance h = handle(project.isEmpty() ? "default" : project, i.path("name").asText(),
                    InstanceType.ofApiName(i.path("type").asText()));
            events.remember(h.project().name(), h.name(), IncusInstance.statusOf(i));
            out.add(h);
        }
        out.sort(Comparator.comparing((Instance i) -> i.project().name()).thenComparing(Instance::name));
        return out;
    }

    /** Sends a request answered with an operation and waits for it to end; returns the final operation. */
    JsonNode async(String method, String path, Object body, Duration limit) {
        return async(method, path, body, limit, true);
    }

    /** {@link #async(String, String, Object, Duration)}, cancelling on timeout only when {@code cancelOnTimeout}. */
    JsonNode async(String method, String path, Object body, Duration limit, boolean cancelOnTimeout) {
        Transport.Reply r = transport.call(method, path, body);
        String opPath = r.body().path("operation").asText("");
        if (opPath.isEmpty()) {
            return r.metadata(); // a synchronous answer
        }
        return waitOperation(operationId(opPath), limit, true, cancelOnTimeout);
    }

    /**
     * The id in an operation's path: {@code /1.0/operations/<id>}, with a query on a cluster (a forwarded request's
     * operation reads {@code /1.0/operations/<id>?project=default}).
     */
    static String operationId(String opPath) {
        int q = opPath.indexOf('?');
        String p = q < 0 ? opPath : opPath.substring(0, q);
        return p.substring(p.lastIndexOf('/') + 1);
    }

    /**
     * Waits for operation {@code id}: from the event subscription opened before the request was sent, else (events
     * down) from {@code /1.0/operations/<id>/wait}. On timeout the operation is cancelled where the server allows.
     */
    JsonNode waitOperation(String id, Duration limit, boolean failOnError) {
        return waitOperation(id, limit, failOnError, true);
    }

    /**
     * {@link #waitOperation(String, Duration, boolean)}, cancelling on timeout only when {@code cancelOnTimeout}:
     * Incus 6.0.4 dies cancelling a migration operation (see {@link IncusMigration}).
     */
    JsonNode waitOperation(String id, Duration limit, boolean failOnError, boolean cancelOnTimeout) {
        long deadline = System.nanoTime() + limit.toNanos();
        JsonNode done = null;
        Events.Pending p = events.operation(id);
        try {
            if (events.connected() || p.done.isDone()) {
                done = p.done.get(limit.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (TimeoutException e) {
            cancelIf(cancelOnTimeout, id);
            throw new OperationTimeoutException("Operation " + id + " did not end within " + limit, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while waiting for operation " + id, e);
        } catch (ExecutionException e) {
            done = null; // events went away: ask the server
        } finally {
            events.release(id);
        }
        if (done == null) {
            long left = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(deadline - System.nanoTime()));
            Transport.Reply w;
            try {
                w = transport.send("GET", "/1.0/operations/" + seg(id) + "/wait?timeout=" + left, null, Map.of(),
                        Duration.ofSeconds(left + 2));
            } catch (OperationTimeoutException e) {
                cancelIf(cancelOnTimeout, id);
                throw new OperationTimeoutException("Operation " + id + " did not end within " + limit, e);
            }
            if (w.status() >= 400 || "error".equals(w.body().path("type").asText())) {
                // A failed operation's /wait answers with its error (error_code 500 for any failure): map the text.
                throw Errors.map(0, w.body().path("error").asText("Operation " + id + " failed"));
            }
            done = w.metadata();
            if (done.path("status_code").asInt() < 200) {
                cancelIf(cancelOnTimeout, id);
                throw new OperationTimeoutException("Operation " + id + " did not end within " + limit);
            }
        }
        if (failOnError && done.path("status_code").asInt() != 200) {
            String err = done.path("err").asText("");
            throw Errors.map(0, err.isEmpty() ? "Operation " + id + " " + done.path("status").asText() : err);
        }
        return done;
    }

    private void cancelIf(boolean wanted, String id) {
        if (wanted) {
            cancel(id);
        }
    }

    private void cancel(String id) {
        try {
            transport.send("DELETE", "/1.0/operations/" + seg(id), null, Map.of(), Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "cancelling operation {0}: {1}", id, e.getMessage());
        }
    }

    static Optional<Instance> notFoundToEmpty(java.util.function.Supplier<Instance> s) {
        try {
            return Optional.of(s.get());
        } catch (NotFoundException e) {
            return Optional.empty();
        }
    }

    static String json(Object o) {
        return RestJson.toJson(o);
    }

    @Override
    public void close() {
        events.close();
        transport.close();
    }
}
