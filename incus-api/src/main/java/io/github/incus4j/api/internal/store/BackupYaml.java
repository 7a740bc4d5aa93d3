package io.github.incus4j.api.internal.store;

import static org.apiguardian.api.API.Status.INTERNAL;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.internal.Immutable;
import io.github.incus4j.api.internal.Json;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.rest.ApiInstance;
import io.github.incus4j.api.rest.ApiInstanceSnapshot;
import io.github.incus4j.api.spi.InstanceRecord;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * Reads and writes an {@link InstanceRecord} as Incus's {@code backup.yaml} ({@code backup.Config}): top-level keys
 * {@code container} (an {@code api.Instance}, for VMs too), {@code snapshots} ({@code api.InstanceSnapshot}s, short
 * names, oldest first), {@code pool}, {@code profiles} (the full {@code api.Profile}s the instance and its snapshots
 * use) and {@code volume}.
 *
 * <p>What is kept: project, name, type, architecture (by name, e.g. {@code x86_64}), ephemeral, stateful,
 * description, local config and devices, profiles with their config and devices, creation and last-use dates,
 * snapshot expiry, and the node (as {@code location}). What is not: ids (read back as 0), an expiry on the instance
 * itself (Incus has none), and {@link InstanceArgs#baseImage()}, which is read back from the config key
 * {@code volatile.base_image} (where Incus keeps it). Absent dates are written as Go's zero time and read back as
 * {@code null}. Profiles are shared by name, as in Incus: a snapshot's profile is written once, under its name, and the
 * instance's version wins when both use one of the same name. The instance is written as {@code Stopped} (102).
 */
@API(status = INTERNAL)
public final class BackupYaml {
    /** The file name Incus uses, in the instance's directory. */
    public static final String FILE_NAME = "backup.yaml";

    private static final String WHAT = "backup.yaml";
    private static final String BASE_IMAGE_KEY = "volatile.base_image";

    private BackupYaml() {
    }

    /** The {@code backup.yaml} of {@code r}, in UTF-8. */
    public static byte[] write(InstanceRecord r) {
        InstanceArgs inst = r.instance();
        Map<String, Profile> profiles = new LinkedHashMap<>();
        inst.profiles().forEach(p -> profiles.putIfAbsent(p.name(), p));
        r.snapshots().forEach(s -> s.profiles().forEach(p -> profiles.putIfAbsent(p.name(), p)));

        Devices expandedDevices = expandDevices(inst);
        ApiInstance container = new ApiInstance(
                architectureName(inst.architecture()),
                inst.config(),
                inst.devices(),
                inst.ephemeral(),
                profileNames(inst),
                inst.stateful(),
                inst.description(),
                timeOrZero(inst.creationDate()),
                expandConfig(inst),
                expandedDevices,
                inst.name(),
                StatusCode.STOPPED.text(),
                StatusCode.STOPPED.code(),
                timeOrZero(inst.lastUsedDate()),
                inst.node(),
                inst.type().apiName(),
                inst.project());

        List<ApiInstanceSnapshot> snapshots = new ArrayList<>();
        for (InstanceArgs s : r.snapshots()) {
            snapshots.add(new ApiInstanceSnapshot(
                    timeOrZero(s.expiryDate()),
                    architectureName(s.architecture()),
                    s.config(),
                    timeOrZero(s.creationDate()),
                    s.description(),
                    s.devices(),
                    s.ephemeral(),
                    expandConfig(s),
                    expandDevices(s),
                    timeOrZero(s.lastUsedDate()),
                    shortName(s.name()),
                    profileNames(s),
                    s.stateful(),
                    -1));
        }

        String type = inst.type() == InstanceType.VM ? "virtual-machine" : "container";
        BackupFile file = new BackupFile(
                container,
                snapshots,
                new Pool(rootPool(expandedDevices), "dir"),
                List.copyOf(profiles.values()),
                new Volume(Map.of(), "", inst.name(), type,
                        inst.type() == InstanceType.VM ? "block" : "filesystem", inst.project(), inst.node(),
                        timeOrZero(inst.creationDate())));
        return Json.toYamlExact(file, WHAT);
    }

    /**
     * Reads a {@code backup.yaml}. Bad input (not YAML, no {@code container}, an unknown architecture or type...) is
     * an {@link InvalidArgumentException} whose message starts with {@code Invalid backup.yaml:} and names the problem.
     */
    public static InstanceRecord read(byte[] yaml) {
        if (yaml == null || yaml.length == 0) {
            throw new InvalidArgumentException("Invalid " + WHAT + ": empty file");
        }
        JsonNode tree;
        try {
            tree = Json.yaml().readTree(yaml);
        } catch (IOException e) {
            throw Json.invalid(WHAT, e);
        }
        if (tree == null || tree.isMissingNode() || tree.isNull()) {
            throw new InvalidArgumentException("Invalid " + WHAT + ": empty document");
        }
        if (!tree.isObject()) {
            throw new InvalidArgumentException("Invalid " + WHAT + ": expected a mapping with a \"container\" key, "
                    + "found " + tree.getNodeType().toString().toLowerCase(Locale.ROOT));
        }
        JsonNode containerNode = tree.get("container");
        if (containerNode == null || !containerNode.isObject()) {
            throw new InvalidArgumentException("Invalid " + WHAT + ": missing \"container\" section");
        }
        BackupFile file;
        try {
            file = Json.yaml().treeToValue(tree, BackupFile.class);
        } catch (IOException e) {
            throw Json.invalid(WHAT, e);
        } catch (IllegalArgumentException e) {
            throw new InvalidArgumentException("Invalid " + WHAT + ": " + e.getMessage(), e);
        }

        ApiInstance c = file.container();
        if (c.name() == null || c.name().isEmpty()) {
            throw new InvalidArgumentException("Invalid " + WHAT + ": the instance has no name");
        }
        Map<String, Profile> profiles = new HashMap<>();
        for (Profile p : file.profiles()) {
            profiles.putIfAbsent(p.name(), p);
        }
        String project = c.project() == null || c.project().isEmpty() ? Project.DEFAULT_NAME : c.project();
        InstanceType type = instanceType(c.type());
        String node = c.location() == null ? "" : c.location();

        InstanceArgs instance = new InstanceArgs(
                0,
                project,
                c.name(),
                type,
                architectureId(c.architecture(), "container"),
                c.ephemeral(),
                c.stateful(),
                false,
                c.description(),
                c.config(),
                c.devices(),
                resolveProfiles(c.profiles(), profiles, project),
                timeOrNull(c.createdAt()),
                timeOrNull(c.lastUsedAt()),
                null,
                node,
                c.config().getOrDefault(BASE_IMAGE_KEY, ""));

        List<InstanceArgs> snapshots = new ArrayList<>();
        for (int i = 0; i < file.snapshots().size(); i++) {
            ApiInstanceSnapshot s = file.snapshots().get(i);
            String where = "snapshots[" + i + "]";
            if (s == null) {
                throw new InvalidArgumentException("Invalid " + WHAT + ": " + where + " is empty");
            }
            String shortName = s.name() == null ? "" : shortName(s.name());
            if (shortName.isEmpty()) {
                throw new InvalidArgumentException("Invalid " + WHAT + ": " + where + " has no name");
            }
            snapshots.add(new InstanceArgs(
                    0,
                    project,
                    c.name() + "/" + shortName,
                    type,
                    architectureId(s.architecture(), where),
                    s.ephemeral(),
                    s.stateful(),
                    true,
                    s.description(),
                    s.config(),
                    s.devices(),
                    resolveProfiles(s.profiles(), profiles, project),
                    timeOrNull(s.createdAt()),
                    timeOrNull(s.lastUsedAt()),
                    timeOrNull(s.expiresAt()),
                    node,
                    s.config().getOrDefault(BASE_IMAGE_KEY, "")));
        }
        return new InstanceRecord(instance, snapshots);
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private static List<String> profileNames(InstanceArgs a) {
        return a.profiles().stream().map(Profile::name).toList();
    }

    private static List<Profile> resolveProfiles(List<String> names, Map<String, Profile> known, String project) {
        List<Profile> out = new ArrayList<>(names.size());
        for (String n : names) {
            Profile p = known.get(n);
            out.add(p != null ? p : new Profile(n, "", Map.of(), Devices.EMPTY, project, List.of()));
        }
        return out;
    }

    /** Incus's expansion: each profile's config in order, then the local config on top. */
    private static Map<String, String> expandConfig(InstanceArgs a) {
        Map<String, String> m = new HashMap<>();
        a.profiles().forEach(p -> m.putAll(p.config()));
        m.putAll(a.config());
        return m;
    }

    private static Devices expandDevices(InstanceArgs a) {
        Devices d = Devices.EMPTY;
        for (Profile p : a.profiles()) {
            d = d.overlay(p.devices());
        }
        return d.overlay(a.devices());
    }

    /** The pool of the root disk ({@code type=disk}, {@code path=/}), else {@code default}. */
    private static String rootPool(Devices expanded) {
        for (Map.Entry<String, Device> e : expanded.sorted()) {
            Device d = e.getValue();
            String pool = d.get("pool");
            if ("disk".equals(d.type()) && "/".equals(d.get("path")) && pool != null && !pool.isEmpty()) {
                return pool;
            }
        }
        return "default";
    }

    private static String shortName(String name) {
        int slash = name.indexOf('/');
        return slash < 0 ? name : name.substring(slash + 1);
    }

    /** Incus writes an empty name for an architecture it does not know. */
    private static String architectureName(int id) {
        return id == Architectures.UNKNOWN ? "" : Architectures.name(id);
    }

    private static int architectureId(String name, String where) {
        if (name == null || name.isEmpty() || name.equals(Architectures.name(Architectures.UNKNOWN))) {
            return Architectures.UNKNOWN;
        }
        try {
            return Architectures.id(name);
        } catch (InvalidArgumentException e) {
            throw new InvalidArgumentException("Invalid " + WHAT + ": " + e.getMessage() + " (at " + where
                    + ".architecture)", e);
        }
    }

    private static InstanceType instanceType(String name) {
        if (name == null || name.isEmpty()) {
            return InstanceType.CONTAINER; // backups written before instance types existed
        }
        if (name.equals(InstanceType.CONTAINER.apiName())) {
            return InstanceType.CONTAINER;
        }
        if (name.equals(InstanceType.VM.apiName())) {
            return InstanceType.VM;
        }
        throw new InvalidArgumentException("Invalid " + WHAT + ": Invalid instance type: " + name
                + " (at container.type)");
    }

    private static Instant timeOrZero(Instant t) {
        return t == null ? Json.GO_ZERO_TIME : t;
    }

    private static Instant timeOrNull(Instant t) {
        return t == null || t.equals(Json.GO_ZERO_TIME) ? null : t;
    }

    // ---- the file's shape -------------------------------------------------------------------------------------

    /** {@code backup.Config}, with Go's field order; empty lists are left out ({@code omitempty}). */
    @JsonPropertyOrder({"container", "snapshots", "pool", "profiles", "volume"})
    record BackupFile(
            @JsonProperty("container") ApiInstance container,
            @JsonProperty("snapshots") @JsonInclude(JsonInclude.Include.NON_EMPTY) List<ApiInstanceSnapshot> snapshots,
            @JsonProperty("pool") Pool pool,
            @JsonProperty("profiles") @JsonInclude(JsonInclude.Include.NON_EMPTY) List<Profile> profiles,
            @JsonProperty("volume") Volume volume) {
        BackupFile {
            snapshots = snapshots == null ? List.of() : snapshots;
            profiles = Immutable.list(profiles);
        }
    }

    /** The storage pool ({@code api.StoragePool}), reduced to what identifies it. */
    @JsonPropertyOrder({"name", "driver"})
    record Pool(@JsonProperty("name") String name, @JsonProperty("driver") String driver) {
    }

    /** The instance's volume ({@code api.StorageVolume}), reduced to what identifies it. */
    @JsonPropertyOrder({"config", "description", "name", "type", "content_type", "project", "location", "created_at"})
    record Volume(
            @JsonProperty("config") Map<String, String> config,
            @JsonProperty("description") String description,
            @JsonProperty("name") String name,
            @JsonProperty("type") String type,
            @JsonProperty("content_type") String contentType,
            @JsonProperty("project") String project,
            @JsonProperty("location") String location,
            @JsonProperty("created_at") Instant createdAt) {
    }
}
