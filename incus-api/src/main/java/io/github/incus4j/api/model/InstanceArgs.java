package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.STABLE;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.internal.Immutable;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * Everything that defines an instance ({@code db.InstanceArgs}): what {@code Instances.create} takes and what
 * {@link io.github.incus4j.api.Instance#update} replaces. Dates may be {@code null} (the driver fills creation and
 * last-use dates; a {@code null} expiry means none). Build one with {@link #builder(String)}.
 */
@API(status = STABLE)
public record InstanceArgs(
        int id,
        String project,
        String name,
        InstanceType type,
        int architecture,
        boolean ephemeral,
        boolean stateful,
        boolean snapshot,
        String description,
        Map<String, String> config,
        Devices devices,
        List<Profile> profiles,
        Instant creationDate,
        Instant lastUsedDate,
        Instant expiryDate,
        String node,
        String baseImage) {

    public InstanceArgs {
        project = project == null || project.isEmpty() ? Project.DEFAULT_NAME : project;
        Objects.requireNonNull(name, "name");
        type = type == null ? InstanceType.CONTAINER : type;
        description = description == null ? "" : description;
        config = Immutable.sortedMap(config);
        devices = devices == null ? Devices.EMPTY : devices;
        profiles = Immutable.list(profiles);
        node = node == null ? "" : node;
        baseImage = baseImage == null ? "" : baseImage;
    }

    /** A builder for a container named {@code name} in the default project, on the host's architecture. */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** A builder starting from these arguments. */
    public Builder toBuilder() {
        Builder b = new Builder(name);
        b.id = id;
        b.project = project;
        b.type = type;
        b.architecture = architecture;
        b.ephemeral = ephemeral;
        b.stateful = stateful;
        b.snapshot = snapshot;
        b.description = description;
        b.config = new HashMap<>(config);
        b.devices = devices;
        b.profiles = profiles;
        b.creationDate = creationDate;
        b.lastUsedDate = lastUsedDate;
        b.expiryDate = expiryDate;
        b.node = node;
        b.baseImage = baseImage;
        return b;
    }

    /** Builds {@link InstanceArgs}; every setter returns the builder. */
    public static final class Builder {
        private int id;
        private String project = Project.DEFAULT_NAME;
        private String name;
        private InstanceType type = InstanceType.CONTAINER;
        private int architecture = Architectures.host();
        private boolean ephemeral;
        private boolean stateful;
        private boolean snapshot;
        private String description = "";
        private Map<String, String> config = new HashMap<>();
        private Devices devices = Devices.EMPTY;
        private List<Profile> profiles = List.of();
        private Instant creationDate;
        private Instant lastUsedDate;
        private Instant expiryDate;
        private String node = "";
        private String baseImage = "";

        private Builder(String name) {
            this.name = name;
        }

        public Builder id(int id) {
            this.id = id;
            return this;
        }

        public Builder name(String name) {
            this.name = name;
            return this;
        }

        public Builder project(String project) {
            this.project = project;
            return this;
        }

        public Builder type(InstanceType type) {
            this.type = type;
            return this;
        }

        public Builder architecture(int architecture) {
            this.architecture = architecture;
            return this;
        }

        public Builder ephemeral(boolean ephemeral) {
            this.ephemeral = ephemeral;
            return this;
        }

        public Builder stateful(boolean stateful) {
            this.stateful = stateful;
            return this;
        }

        public Builder snapshot(boolean snapshot) {
            this.snapshot = snapshot;
            return this;
        }

        public Builder description(String description) {
            this.description = description;
            return this;
        }

        /** Replaces the local config. */
        public Builder config(Map<String, String> config) {
            this.config = new HashMap<>(config);
            return this;
        }

        /** Sets one local config key. */
        public Builder config(String key, String value) {
            this.config.put(key, value);
            return this;
        }

        public Builder devices(Devices devices) {
            this.devices = devices;
            return this;
        }

        /** Adds or replaces one device. */
        public Builder device(String name, Device device) {
            this.devices = devices.with(name, device);
            return this;
        }

        public Builder profiles(List<Profile> profiles) {
            this.profiles = List.copyOf(profiles);
            return this;
        }

        public Builder creationDate(Instant creationDate) {
            this.creationDate = creationDate;
            return this;
        }

        public Builder lastUsedDate(Instant lastUsedDate) {
            this.lastUsedDate = lastUsedDate;
            return this;
        }

        public Builder expiryDate(Instant expiryDate) {
            this.expiryDate = expiryDate;
            return this;
        }

        public Builder node(String node) {
            this.node = node;
            return this;
        }

        public Builder baseImage(String baseImage) {
            this.baseImage = baseImage;
            return this;
        }

        public InstanceArgs build() {
            return new InstanceArgs(id, project, name, type, architecture, ephemeral, stateful, snapshot, description,
                    config, devices, profiles, creationDate, lastUsedDate, expiryDate, node, baseImage);
        }
    }
}
