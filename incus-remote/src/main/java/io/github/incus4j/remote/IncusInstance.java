package io.github.incus4j.remote;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.Container;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.internal.migration.MigrationWire;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.io.NativeFd;
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.api.model.ConsoleLogOptions;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.InstanceBackup;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.model.RunConfig;
import io.github.incus4j.api.model.StorageType;
import io.github.incus4j.api.rest.ApiInstance;
import io.github.incus4j.api.rest.ApiInstanceFull;
import io.github.incus4j.api.rest.ApiInstanceSnapshot;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.rest.ApiRenderable;
import io.github.incus4j.api.rest.Render;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.internal.sftp.WireSftpClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.NetworkInterface;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * An instance (or snapshot, {@code parent/snap}) on the server. The handle holds only its project, name and type;
 * every read asks the server (the status comes from the event-fed cache when it is known), every action is the
 * server's, with its preconditions and texts.
 */
class IncusInstance implements RemoteInstance {
    private static final Map<String, String> NONE = Map.of();

    final IncusInstances session;
    private final String project;
    private volatile String name;
    private final InstanceType type;
    private volatile Operation operation;

    IncusInstance(IncusInstances session, String project, String name, InstanceType type) {
        this.session = session;
        this.project = project;
        this.name = name;
        this.type = type;
    }

    // ---- addressing ---------------------------------------------------------------------------------------------

    private String parentName() {
        int slash = name.indexOf('/');
        return slash < 0 ? name : name.substring(0, slash);
    }

    private String snapName() {
        int slash = name.indexOf('/');
        return slash < 0 ? null : name.substring(slash + 1);
    }

    /** {@code /1.0/instances/<n>} (or its snapshot) plus {@code tail}, with the project query. */
    String path(String tail) {
        String base = "/1.0/instances/" + IncusInstances.seg(parentName());
        if (snapName() != null) {
            base += "/snapshots/" + IncusInstances.seg(snapName());
        }
        String p = base + tail;
        return p + (p.contains("?") ? "&" : "?") + IncusInstances.projectQuery(project);
    }

    private String instancePath(String tail) {
        String p = "/1.0/instances/" + IncusInstances.seg(parentName()) + tail;
        return p + (p.contains("?") ? "&" : "?") + IncusInstances.projectQuery(project);
    }

    Transport transport() {
        return session.transport();
    }

    Duration timeout() {
        return session.timeout();
    }

    JsonNode get() {
        return transport().call("GET", path(""), null).metadata();
    }

    private void requireInstance(String what) {
        if (isSnapshot()) {
            throw new InvalidArgumentException("Snapshots cannot be used for " + what + ": " + ErrorTexts.quote(name));
        }
    }

    static StatusCode statusOf(JsonNode json) {
        int code = json.path("status_code").asInt(0);
        for (StatusCode s : StatusCode.values()) {
            if (s.code() == code) {
                return s;
            }
        }
        return StatusCode.ERROR;
    }

    private JsonNode async(String method, String path, Object body, Duration limit) {
        return async(method, path, body, limit, true);
    }

    private JsonNode async(String method, String path, Object body, Duration limit, boolean cancelOnTimeout) {
        try {
            return session.async(method, path, body, limit, cancelOnTimeout);
        } finally {
            // Our own actions change the status: the next read asks the server unless an event told it since.
            session.events().forget(project, parentName());
        }
    }

    private void changeState(String action, Duration timeout, boolean force, boolean stateful) {
        changeState(action, action, timeout, force, stateful);
    }

    private void changeState(String what, String action, Duration timeout, boolean force, boolean stateful) {
        requireInstance(what);
        ObjectNode body = Transport.JSON.createObjectNode();
        body.put("action", action);
        body.put("timeout", timeout == null ? -1 : (int) Math.max(0, timeout.toSeconds()));
        body.put("force", force);
        body.put("stateful", stateful);
        Duration limit = timeout == null ? timeout() : timeout.plus(timeout());
        try {
            async("PUT", path("/state"), body, limit);
        } catch (InstanceStateException e) {
            throw new InstanceStateException(e.getMessage(), statusCodeQuietly());
        }
    }

    /** A wait of {@code action}: zero means none, a negative one is a caller's mistake (the shared text). */
    private static void requireNonNegative(Duration timeout, String action) {
        java.util.Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new InvalidArgumentException("Invalid " + action + " timeout " + timeout.toMillis()
                    + " ms: must be zero or more");
        }
    }

    private StatusCode statusCodeQuietly() {
        try {
            return statusCode();
        } catch (RuntimeException e) {
            return null;
        }
    }

    // ---- actions ------------------------------------------------------------------------------------------------

    @Override
    public void freeze() {
        changeState("freeze", null, false, false);
    }

    @Override
    public void unfreeze() {
        changeState("unfreeze", null, false, false);
    }

    @Override
    public void shutdown(Duration timeout) {
        requireNonNegative(timeout, "shutdown");
        try {
            changeState("shutdown", "stop", timeout, false, false);
        } catch (IncusException e) {
            // Incus fails a clean stop that ran out of time with its own text; ours is a timeout while still running.
            if (!(e instanceof InstanceStateException) && isRunning()) {
                throw new OperationTimeoutException(e.getMessage(), e);
            }
            throw e;
        }
    }

    @Override
    public void start(boolean stateful) {
        changeState("start", null, false, stateful);
    }

    @Override
    public void stop(boolean stateful) {
        changeState("stop", null, !stateful, stateful);
    }

    @Override
    public void restart(Duration timeout) {
        requireNonNegative(timeout, "restart");
        changeState("restart", timeout.isZero() ? null : timeout, timeout.isZero(), false);
    }

    @Override
    public void rebuild(Image image, Operation op) {
        requireInstance("rebuild");
        ObjectNode body = Transport.JSON.createObjectNode();
        ObjectNode src = body.putObject("source");
        if (image == null) {
            src.put("type", "none");
        } else {
            src.put("type", "image");
            src.put("fingerprint", image.fingerprint());
        }
        IncusImages.Uploaded uploaded = null;
        if (image != null && image.source() != null) {
            // An image on the local disk: the server gets it first (and loses it again after the rebuild).
            if (isRunning()) {
                throw new InstanceStateException("Instance must be stopped to be rebuilt", StatusCode.RUNNING);
            }
            uploaded = IncusImages.upload(session, project, type, InstanceSource.image(image.source()));
            src.put("fingerprint", uploaded.fingerprint());
        }
        try {
            async("POST", path("/rebuild"), body, timeout());
        } finally {
            IncusImages.delete(session, uploaded);
        }
    }

    @Override
    public void reloadDevice(String devName) {
        throw new NotSupportedException("The server reloads devices itself when the config changes");
    }

    @Override
    public void registerDevices() {
        throw new NotSupportedException("The server registers devices itself");
    }

    @Override
    public Info info() {
        return session.info();
    }

    @Override
    public boolean isPrivileged() {
        return type != InstanceType.VM && "true".equals(expandedConfig().get("security.privileged"));
    }

    // ---- snapshots ----------------------------------------------------------------------------------------------

    @Override
    public void restore(Instance source, boolean stateful) {
        requireInstance("restore");
        String snap = source.name();
        int slash = snap.indexOf('/');
        if (slash < 0 || !snap.substring(0, slash).equals(parentName())
                || !project.equals(source.project().name())) {
            // The REST restore names a snapshot of this instance only: another's would restore a namesake.
            throw new io.github.incus4j.api.NotFoundException("Snapshot " + ErrorTexts.quote(snap) + " of instance "
                    + ErrorTexts.quote(name) + " not found");
        }
        ObjectNode body = Transport.JSON.createObjectNode();
        body.put("restore", snap.substring(slash + 1));
        body.put("stateful", stateful);
        async("PUT", path(""), body, timeout());
    }

    @Override
    public void snapshot(String snap, Instant expiry, boolean stateful) {
        requireInstance("snapshot");
        // Incus 6.0.4 accepts snapshot names such as "..", "-x" or "a$" (a ".." snapshot's delete removed the
        // pool's snapshot directory): the shared, safe name rules apply before the request is sent.
        io.github.incus4j.api.internal.config.NameRules.validateSnapshotName(snap);
        ObjectNode body = Transport.JSON.createObjectNode();
        body.put("name", snap);
        body.put("stateful", stateful);
        if (expiry != null) {
            body.put("expires_at", RestJson.formatTime(expiry));
        }
        async("POST", path("/snapshots"), body, timeout());
    }

    @Override
    public List<Instance> snapshots() {
        if (isSnapshot()) {
            return List.of();
        }
        JsonNode list = transport().call("GET", path("/snapshots?recursion=1"), null).metadata();
        List<JsonNode> sorted = new ArrayList<>();
        list.forEach(sorted::add);
        sorted.sort(Comparator.comparing((JsonNode s) -> s.path("created_at").asText()));
        List<Instance> out = new ArrayList<>();
        for (JsonNode s : sorted) {
            out.add(session.handle(project, parentName() + "/" + s.path("name").asText(), type));
        }
        return out;
    }

    @Override
    public List<InstanceBackup> backups() {
        if (isSnapshot()) {
            return List.of();
        }
        JsonNode list = transport().call("GET", path("/backups?recursion=1"), null).metadata();
        List<InstanceBackup> out = new ArrayList<>();
        list.forEach(b -> out.add(RestJson.fromJson(b.toString(), InstanceBackup.class)));
        return out;
    }

    @Override
    public void updateBackupFile() {
        throw new NotSupportedException("The server keeps the instance's backup.yaml itself");
    }

    @Override
    public boolean canLiveMigrate() {
        return isTrue(expandedConfig().get("migration.stateful"));
    }

    // ---- config -------------------------------------------------------------------------------------------------

    @Override
    public void rename(String newName, boolean applyTemplateTrigger) {
        ObjectNode body = Transport.JSON.createObjectNode();
        String snap = snapName();
        String target = newName;
        if (snap != null && newName.startsWith(parentName() + "/")) {
            target = newName.substring(parentName().length() + 1);
        }
        body.put("name", target);
        async("POST", path(""), body, timeout());
        session.events().forget(project, name);
        name = snap == null ? newName : parentName() + "/" + target;
    }

    @Override
    public void update(InstanceArgs args, boolean userRequested) {
        requireInstance("update");
        Transport.Reply current = transport().call("GET", path(""), null);
        ObjectNode body = Transport.JSON.createObjectNode();
        JsonNode md = current.metadata();
        body.put("architecture", md.path("architecture").asText());
        body.set("config", Transport.JSON.valueToTree(args.config()));
        body.set("devices", Transport.JSON.valueToTree(args.devices()));
        body.set("profiles", Transport.JSON.valueToTree(args.profiles().isEmpty() ? profileNames(md)
                : args.profiles().stream().map(Profile::name).toList()));
        body.put("ephemeral", args.ephemeral());
        body.put("description", args.description());
        Map<String, String> ifMatch = current.etag() == null ? Map.of() : Map.of("If-Match", current.etag());
        Transport.Reply r = transport().call("PUT", path(""), body, ifMatch);
        String op = r.body().path("operation").asText("");
        if (!op.isEmpty()) {
            session.waitOperation(IncusInstances.operationId(op), timeout(), true);
        }
    }

    private static List<String> profileNames(JsonNode md) {
        List<String> names = new ArrayList<>();
        md.path("profiles").forEach(p -> names.add(p.asText()));
        return names;
    }

    /** Incus's {@code util.IsTrue}. */
    static boolean isTrue(String v) {
        return v != null && switch (v.toLowerCase(java.util.Locale.ROOT)) {
            case "true", "1", "yes", "on" -> true;
            default -> false;
        };
    }

    @Override
    public void delete(boolean force) {
        if (force && !isSnapshot() && isTrue(expandedConfig().get("security.protection.delete"))) {
            // Incus's own Delete(force) skips the protection check; its REST DELETE never forces, so lift it first.
            ObjectNode patch = Transport.JSON.createObjectNode();
            patch.putObject("config").put("security.protection.delete", "false");
            transport().call("PATCH", path(""), patch);
        }
        async("DELETE", path(""), null, timeout());
        session.events().forget(project, name);
    }

    @Override
    public ImageMetadata export(OutputStream meta, OutputStream rootfs, Map<String, String> properties,
            Instant expiration, ProgressTracker tracker) {
        requireInstance("export");
        if (meta == null) {
            throw new InvalidArgumentException("No output stream for the image");
        }
        if (rootfs != null && type == InstanceType.VM) {
            throw new NotSupportedException("The incus driver exports virtual machines as unified images only");
        }
        if (isRunning()) {
            // Incus's publish would stop nothing: refused before the server does anything, nothing written.
            throw new InstanceStateException(ErrorTexts.EXPORT_RUNNING, StatusCode.RUNNING);
        }
        // Published as an uncompressed server image (the caller's compression applies on top), downloaded, and
        // the image deleted again: the server keeps nothing.
        ObjectNode body = Transport.JSON.createObjectNode();
        ObjectNode source = body.putObject("source");
        source.put("type", "instance");
        source.put("name", name);
        body.put("compression_algorithm", "none");
        body.set("properties", Transport.JSON.valueToTree(properties == null ? Map.of() : properties));
        if (expiration != null) {
            body.put("expires_at", expiration.toString());
        }
        String images = "/1.0/images";
        JsonNode op = session.async("POST", images + "?" + IncusInstances.projectQuery(project), body, timeout());
        String fingerprint = IncusImages.fingerprintOf(op);
        if (fingerprint.isEmpty()) {
            throw new IncusException("incusd published " + name + " without naming the image");
        }
        String image = images + "/" + IncusInstances.seg(fingerprint);
        Path tarball = null;
        try {
            tarball = java.nio.file.Files.createTempFile("incus4j-export-", ".tar");
            try (OutputStream file = java.nio.file.Files.newOutputStream(tarball)) {
                transport().download(image + "/export?" + IncusInstances.projectQuery(project), file, timeout());
            }
            Map<String, byte[]> templates = new TreeMap<>();
            ImageMetadata metadata;
            try (InputStream in = java.nio.file.Files.newInputStream(tarball)) {
                metadata = ImageLayout.readUnified(in, templates, null);
            }
            if (rootfs == null) {
                try (InputStream in = java.nio.file.Files.newInputStream(tarball)) {
                    OutputStream out = tracker == null ? meta : tracker.wrap(meta);
                    in.transferTo(out);
                    out.flush();
                }
            } else {
                // Incus publishes unified images only: the split one is cut from it here.
                Path unified = tarball;
                ImageLayout.writeSplit(meta, rootfs, metadata, templates, (tar, prefix) -> {
                    try (InputStream in = java.nio.file.Files.newInputStream(unified)) {
                        ImageTar.read(in, (e, content) -> {
                            String n = e.name();
                            if (n.equals("rootfs") || n.startsWith("rootfs/")) {
                                String link = e.kind() == ImageTar.Kind.HARDLINK
                                        && e.linkTarget().startsWith("rootfs/")
                                        ? prefix + e.linkTarget().substring(7) : e.linkTarget();
                                tar.add(new ImageTar.Entry(n.equals("rootfs") ? prefix : prefix + n.substring(7),
                                        e.kind(), e.mode(), e.uid(), e.gid(), e.modified(), e.size(), link), content);
                            }
                        });
                    }
                }, tracker);
                meta.flush();
                rootfs.flush();
            }
            return metadata;
        } catch (IOException e) {
            throw new IncusException("Exporting " + name + " failed: " + Transport.describe(e), e);
        } finally {
            if (tarball != null) {
                try {
                    java.nio.file.Files.deleteIfExists(tarball);
                } catch (IOException e) {
                    System.getLogger(IncusInstance.class.getName()).log(System.Logger.Level.DEBUG,
                            "removing " + tarball, e);
                }
            }
            session.async("DELETE", image + "?" + IncusInstances.projectQuery(project), null, timeout());
        }
    }

    /** An RFC 3339 date of Incus's as Unix seconds; Go's zero time (never) as 0. */
    private static long epochSeconds(JsonNode date) {
        try {
            long s = Instant.parse(date.asText()).getEpochSecond();
            return Math.max(0, s);
        } catch (java.time.format.DateTimeParseException e) {
            return 0;
        }
    }

    @Override
    public CGroup cgroup() {
        throw new NotSupportedException("The incus driver has no access to the server's cgroups; use limits.* keys");
    }

    @Override
    public void volatileSet(Map<String, String> changes) {
        if (isSnapshot()) {
            throw new InvalidArgumentException("Snapshots cannot be modified");
        }
        for (String k : changes.keySet()) {
            if (!k.startsWith("volatile.")) {
                throw new InvalidArgumentException("Only volatile keys can be modified with VolatileSet");
            }
        }
        Transport.Reply current = transport().call("GET", path(""), null);
        Map<String, String> config = new TreeMap<>(readMap(current.metadata().path("config")));
        changes.forEach((k, v) -> {
            if (v == null || v.isEmpty()) {
                config.remove(k);
            } else {
                config.put(k, v);
            }
        });
        ObjectNode body = (ObjectNode) current.metadata().deepCopy();
        body.set("config", Transport.JSON.valueToTree(config));
        Transport.Reply r = transport().call("PUT", path(""), body,
                current.etag() == null ? Map.of() : Map.of("If-Match", current.etag()));
        String op = r.body().path("operation").asText("");
        if (!op.isEmpty()) {
            session.waitOperation(IncusInstances.operationId(op), timeout(), true);
        }
    }

    // ---- files, console, exec -----------------------------------------------------------------------------------

    @Override
    public Connection fileSftpConn() {
        requireInstance("files");
        return transport().upgrade(path("/sftp"), "sftp");
    }

    @Override
    public SftpClient fileSftp() {
        Connection c = fileSftpConn();
        try {
            return WireSftpClient.open(c, timeout(), timeout());
        } catch (RuntimeException e) {
            try {
                c.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    @Override
    public ConsoleSession console(String protocol) {
        requireInstance("console");
        // incusd checks the type and state itself, with its own texts.
        return IncusConsole.attach(this, protocol, 80, 25);
    }

    @Override
    public Cmd exec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr) {
        requireInstance("exec");
        return IncusExec.start(this, request, stdin, stdout, stderr);
    }

    public String consoleLog(ConsoleLogOptions options) {
        requireInstance("console");
        String log = options.readLog() ? transport().text(path("/console")) : "";
        if (options.clearLog()) {
            transport().call("DELETE", path("/console"), null);
        }
        if (options.readMax() > 0 && log.length() > options.readMax()) {
            log = log.substring(log.length() - (int) options.readMax());
        }
        return log;
    }

    // ---- status and rendering -----------------------------------------------------------------------------------

    @Override
    public Render<ApiRenderable> render() {
        Transport.Reply r = transport().call("GET", path(""), null);
        ApiRenderable v = isSnapshot() ? RestJson.fromJson(r.metadata().toString(), ApiInstanceSnapshot.class)
                : RestJson.fromJson(r.metadata().toString(), ApiInstance.class);
        if (!isSnapshot()) {
            session.events().remember(project, name, statusOf(r.metadata()));
        }
        return new Render<>(v, r.etag() == null ? List.of() : List.of(r.etag()));
    }

    @Override
    public Render<ApiRenderable> renderWithUsage() {
        return render();
    }

    @Override
    public Render<ApiInstanceFull> renderFull(List<NetworkInterface> hostInterfaces) {
        if (isSnapshot()) {
            throw new InvalidArgumentException(type == InstanceType.VM ? "RenderFull doesn't work with snapshots"
                    : "RenderFull only works with containers");
        }
        Transport.Reply r = transport().call("GET", path("?recursion=1"), null);
        JsonNode md = r.metadata();
        ApiInstance inst = RestJson.fromJson(md.toString(), ApiInstance.class);
        ApiInstanceState state = md.path("state").isObject()
                ? RestJson.fromJson(md.path("state").toString(), ApiInstanceState.class) : null;
        List<ApiInstanceSnapshot> snaps = new ArrayList<>();
        md.path("snapshots").forEach(s -> snaps.add(RestJson.fromJson(s.toString(), ApiInstanceSnapshot.class)));
        List<InstanceBackup> backups = new ArrayList<>();
        md.path("backups").forEach(b -> backups.add(RestJson.fromJson(b.toString(), InstanceBackup.class)));
        return new Render<>(new ApiInstanceFull(inst, backups, state, snaps),
                r.etag() == null ? List.of() : List.of(r.etag()));
    }

    @Override
    public ApiInstanceState renderState(List<NetworkInterface> hostInterfaces) {
        requireInstance("render");
        return RestJson.fromJson(transport().call("GET", path("/state"), null).metadata().toString(),
                ApiInstanceState.class);
    }

    @Override
    public boolean isEphemeral() {
        return get().path("ephemeral").asBoolean();
    }

    @Override
    public boolean isSnapshot() {
        return name.indexOf('/') >= 0;
    }

    @Override
    public boolean isStateful() {
        return get().path("stateful").asBoolean();
    }

    @Override
    public InstanceOperation lockExclusive() {
        throw new NotSupportedException("The server holds the instance locks; the incus driver keeps none");
    }

    @Override
    public void deviceEventHandler(RunConfig runConfig) {
        throw new NotSupportedException("Device events are the server's");
    }

    @Override
    public void onHook(String hookName, Map<String, String> args) {
        throw new NotSupportedException("liblxc hooks run on the server");
    }

    @Override
    public String location() {
        String l = get().path("location").asText("");
        return l.equals("none") ? "" : l;
    }

    @Override
    public String cloudInitId() {
        String id = expandedConfig().get("volatile.cloud-init.instance-id");
        return id == null || id.isEmpty() ? name : id;
    }

    @Override
    public String description() {
        return get().path("description").asText("");
    }

    @Override
    public Instant creationDate() {
        return time(get().path("created_at").asText(""));
    }

    @Override
    public Instant lastUsedDate() {
        return time(get().path("last_used_at").asText(""));
    }

    private static Instant time(String t) {
        return t.isEmpty() ? Instant.EPOCH : RestJson.parseTime(t);
    }

    @Override
    public List<Profile> profiles() {
        List<Profile> out = new ArrayList<>();
        for (String p : profileNames(get())) {
            JsonNode pj = transport().call("GET", "/1.0/profiles/" + IncusInstances.seg(p) + "?"
                    + IncusInstances.projectQuery(project), null).metadata();
            out.add(RestJson.fromJson(pj.toString(), Profile.class));
        }
        return out;
    }

    @Override
    public int initPid() {
        if (isSnapshot() || !isRunning()) {
            return -1;
        }
        long pid = transport().call("GET", path("/state"), null).metadata().path("pid").asLong(-1);
        return pid <= 0 ? -1 : (int) pid;
    }

    @Override
    public String state() {
        return statusCode().upperText();
    }

    @Override
    public StatusCode statusCode() {
        if (isSnapshot()) {
            return StatusCode.STOPPED;
        }
        StatusCode cached = session.events().status(project, name);
        if (cached != null) {
            return cached;
        }
        StatusCode s = statusOf(get());
        session.events().remember(project, name, s);
        return s;
    }

    @Override
    public Optional<Instant> expiryDate() {
        if (!isSnapshot()) {
            return Optional.empty();
        }
        String t = get().path("expires_at").asText("");
        Instant i = time(t);
        return t.isEmpty() || i.equals(RestJson.GO_ZERO_TIME) ? Optional.empty() : Optional.of(i);
    }

    @Override
    public Device fillNetworkDevice(String devName, Device device) {
        throw new NotSupportedException("The server fills network devices itself");
    }

    @Override
    public List<Object> etag() {
        String e = transport().call("GET", path(""), null).etag();
        return e == null ? List.of() : List.of(e);
    }

    // ---- paths: they are the server's, not this host's ----------------------------------------------------------

    private Path serverPath(String what) {
        throw new NotSupportedException("The " + what + " of " + name + " is on the Incus server, not on this host");
    }

    @Override
    public Path path() {
        return serverPath("directory");
    }

    @Override
    public Path execOutputPath() {
        return serverPath("exec output directory");
    }

    @Override
    public Path rootfsPath() {
        return serverPath("root filesystem");
    }

    @Override
    public Path templatesPath() {
        return serverPath("templates directory");
    }

    @Override
    public Path statePath() {
        return serverPath("state directory");
    }

    @Override
    public Path logFilePath() {
        return serverPath("log file");
    }

    @Override
    public Path consoleBufferLogPath() {
        return serverPath("console buffer log");
    }

    @Override
    public Path logPath() {
        return serverPath("log directory");
    }

    @Override
    public Path runPath() {
        return serverPath("run directory");
    }

    @Override
    public Path devicesPath() {
        return serverPath("devices directory");
    }

    // ---- storage, migration, progress ---------------------------------------------------------------------------

    @Override
    public String storagePool() {
        for (Map.Entry<String, Device> d : expandedDevices().sorted()) {
            if ("disk".equals(d.getValue().type()) && "/".equals(d.getValue().get("path"))) {
                return d.getValue().get("pool");
            }
        }
        return "";
    }

    @Override
    public String canMigrate() {
        // Incus's CanMigrate: cluster.evacuate decides when set, else live migration for stateful VMs.
        Map<String, String> config = expandedConfig();
        String evacuate = config.getOrDefault("cluster.evacuate", "auto");
        if (evacuate.equals("stop") || evacuate.equals("migrate") || evacuate.equals("live-migrate")) {
            return evacuate;
        }
        return type == InstanceType.VM && isTrue(config.get("migration.stateful")) ? "live-migrate" : "migrate";
    }

    @Override
    public void move(String member) {
        requireInstance("move");
        if (member == null || member.isBlank()) {
            throw new InvalidArgumentException("The cluster member to move " + ErrorTexts.quote(name)
                    + " to must be named: " + (member == null ? "null" : ErrorTexts.quote(member)));
        }
        // What `incus move <name> --target <member>` sends: a migration within the cluster, keeping the name.
        ObjectNode body = Transport.JSON.createObjectNode();
        body.put("name", parentName());
        body.put("migration", true);
        body.put("live", false);
        // Not cancelled on timeout: Incus 6.0.4 dies cancelling a migration (see IncusMigration).
        async("POST", instancePath("?target=" + IncusInstances.seg(member)), body, timeout(), false);
    }

    @Override
    public Instance copyTo(Instances target, String name, TransferMode mode, boolean snapshots) {
        requireInstance("copy");
        return IncusTransfer.copy(this, target, name, mode, snapshots, false);
    }

    @Override
    public Instance moveTo(Instances target, String name, TransferMode mode) {
        requireInstance("move");
        return IncusTransfer.copy(this, target, name, mode, true, true);
    }

    /** Relayed by this client between the source server and the receiver's (see {@link IncusMigration}). */
    @Override
    public void migrateSend(MigrateSendArgs args) {
        requireInstance("migrate");
        java.util.Objects.requireNonNull(args, "args");
        // The shared precondition, before the server is asked for anything.
        if (args.common().live() && !canLiveMigrate()) {
            throw new InvalidArgumentException(ErrorTexts.LIVE_MIGRATION_NEEDS_STATEFUL);
        }
        IncusMigration.send(this, args);
    }

    /** Replaces this (stopped) instance, or refreshes it, with the one the sender relays. */
    @Override
    public void migrateReceive(MigrateReceiveArgs args) {
        requireInstance("migrate");
        java.util.Objects.requireNonNull(args, "args");
        // As the template: a running target refuses before anything is received, and tells the waiting source why.
        StatusCode status = statusCode();
        if (status.isRunning()) {
            throw MigrationWire.abandon(args.common(), new InstanceStateException(ErrorTexts.INSTANCE_IS_RUNNING,
                    status));
        }
        IncusMigration.receive(this, args);
    }

    @Override
    public void setOperation(Operation op) {
        this.operation = op;
    }

    @Override
    public Optional<Operation> operation() {
        return Optional.ofNullable(operation);
    }

    @Override
    public void deferTemplateApply(TemplateTrigger trigger) {
        String pending = localConfig().get("volatile.apply_template");
        if (pending == null || pending.isEmpty()) {
            volatileSet(Map.of("volatile.apply_template", trigger.toString()));
        }
    }

    @Override
    public MetricSet metrics(List<NetworkInterface> hostInterfaces) {
        requireInstance("metrics");
        if (!isRunning()) {
            throw new InstanceStateException(ErrorTexts.ALREADY_STOPPED, statusCode());
        }
        // incusd serves /1.0/metrics from a cache refreshed every few seconds: a just-started instance is missing
        // from it for a while. Wait (bounded) for the first refresh that has it.
        long deadline = System.nanoTime() + timeout().toNanos();
        // Each member serves the metrics of its own instances: ask the instance's member (target) on a cluster.
        String member = location();
        String metricsPath = "/1.0/metrics?" + IncusInstances.projectQuery(project)
                + (member.isEmpty() ? "" : "&target=" + IncusInstances.seg(member));
        String text = transport().text(metricsPath);
        while (!text.contains("name=\"" + name + "\"") && System.nanoTime() < deadline) {
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted while waiting for metrics of " + name, e);
            }
            text = transport().text(metricsPath);
        }
        MetricSet result = MetricSet.forInstance(project, name, type.apiName());
        String nameLabel = "name=\"" + name + "\"";
        String projectLabel = "project=\"" + project + "\"";
        StringBuilder mine = new StringBuilder();
        for (String line : text.split("\n")) {
            if (line.startsWith("#") || !line.contains(nameLabel) || !line.contains(projectLabel)) {
                continue;
            }
            int brace = line.indexOf('{');
            if (brace < 0 || MetricType.byName(line.substring(0, brace)) == null) {
                continue;
            }
            mine.append(line).append('\n');
        }
        mine.append("# EOF\n");
        MetricSet parsed = MetricSet.parse(mine.toString());
        for (MetricType t : parsed.types()) {
            for (Sample s : parsed.samples(t)) {
                Map<String, String> labels = new LinkedHashMap<>(s.labels());
                labels.remove("name");
                labels.remove("project");
                labels.remove("type");
                result.add(t, new Sample(labels, s.value()));
            }
        }
        return result;
    }

    // ---- ConfigReader -------------------------------------------------------------------------------------------

    @Override
    public Project project() {
        return Project.named(project);
    }

    @Override
    public InstanceType type() {
        return type;
    }

    @Override
    public int architecture() {
        return Architectures.id(get().path("architecture").asText());
    }

    @Override
    public int id() {
        throw new NotSupportedException("Incus's REST API does not show instance ids");
    }

    @Override
    public String name() {
        return name;
    }

    static Map<String, String> readMap(JsonNode node) {
        return node.isObject() ? Transport.JSON.convertValue(node, new TypeReference<TreeMap<String, String>>() {
        }) : Map.of();
    }

    private static Devices readDevices(JsonNode node) {
        return node.isObject() ? Transport.JSON.convertValue(node, Devices.class) : Devices.EMPTY;
    }

    @Override
    public Map<String, String> expandedConfig() {
        return readMap(get().path("expanded_config"));
    }

    @Override
    public Devices expandedDevices() {
        return readDevices(get().path("expanded_devices"));
    }

    @Override
    public Map<String, String> localConfig() {
        return readMap(get().path("config"));
    }

    @Override
    public Devices localDevices() {
        return readDevices(get().path("devices"));
    }

    // ---- Container (public here, declared by IncusContainer) ------------------------------------------------------

    public Optional<IdmapSet> currentIdmap() {
        return idmap("volatile.idmap.current");
    }

    public Optional<IdmapSet> diskIdmap() {
        return idmap("volatile.last_state.idmap");
    }

    public Optional<IdmapSet> nextIdmap() {
        return idmap("volatile.idmap.next");
    }

    private Optional<IdmapSet> idmap(String key) {
        String v = localConfig().get(key);
        if (v == null || v.isEmpty() || v.equals("[]")) {
            return Optional.empty();
        }
        return Optional.of(RestJson.fromJson("{\"entries\":" + v.replace("\"Isuid\"", "\"isuid\"")
                .replace("\"Isgid\"", "\"isgid\"").replace("\"Hostid\"", "\"hostid\"")
                .replace("\"Nsid\"", "\"nsid\"").replace("\"Maprange\"", "\"maprange\"") + "}", IdmapSet.class));
    }

    public void insertSeccompUnixDevice(String prefix, Device device, int pid) {
        throw new NotSupportedException("Seccomp device injection runs on the server");
    }

    public NativeFd devptsFd() {
        throw new NotSupportedException("The container's /dev/pts is on the server");
    }

    public StorageType idmappedStorage(Path path, String fstype) {
        throw new NotSupportedException("Idmapped storage is decided by the server");
    }

    @Override
    public String toString() {
        return "incus instance " + project + "/" + name;
    }
}
