package io.github.incus4j.api.internal.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.spi.InstanceRecord;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code backup.yaml}: Incus's shape, a lossless round trip of what Incus keeps, clear errors. */
class BackupYamlTest {
    private static final ObjectMapper YAML_TREE = new ObjectMapper(new YAMLFactory());
    private static final String BASE_IMAGE = "9f2ba4d2c5d4ab7d8c0c1e6a7e2cba3e0ef0b1c8f6e0e6b3b5a4d2c1e0f9a8b7";

    static Profile defaultProfile(String project) {
        return new Profile("default", "Default Incus profile", Map.of("limits.memory", "1GiB"),
                Devices.EMPTY.with("root", Device.of("type", "disk", "path", "/", "pool", "fast"))
                        .with("eth0", Device.of("type", "nic", "name", "eth0", "network", "incusbr0")),
                project, List.of());
    }

    static Profile webProfile(String project) {
        return new Profile("web", "", Map.of("limits.memory", "2GiB", "boot.autostart", "true"), Devices.EMPTY,
                project, List.of("/1.0/instances/web1?project=" + project));
    }

    /** A VM in project {@code prod} with two snapshots, dates with nanoseconds, a multi-line config value. */
    static InstanceRecord record() {
        String project = "prod";
        List<Profile> profiles = List.of(defaultProfile(project), webProfile(project));
        InstanceArgs vm = InstanceArgs.builder("web1")
                .project(project)
                .type(InstanceType.VM)
                .architecture(Architectures.AARCH64)
                .ephemeral(false)
                .stateful(true)
                .description("Web front end: \"blue\"")
                .config("limits.cpu", "2")
                .config("security.secureboot", "false")
                .config("cloud-init.user-data", "#cloud-config\npackages:\n  - nginx\n")
                .config("user.note", "")
                .config("volatile.base_image", BASE_IMAGE)
                .config("volatile.uuid", "1f6a3c3e-2b8d-4f6e-9d7a-0c5e8b1a2d3f")
                .device("data", Device.of("type", "disk", "source", "/srv/data", "path", "/data"))
                .device("eth0", Device.of("type", "nic", "network", "incusbr0", "name", "eth0", "mtu", "9000"))
                .profiles(profiles)
                .creationDate(Instant.parse("2024-08-22T04:26:40.123456789Z"))
                .lastUsedDate(Instant.parse("2024-08-23T09:15:02.5Z"))
                .node("node2")
                .baseImage(BASE_IMAGE)
                .build();
        InstanceArgs snap0 = vm.toBuilder()
                .name("web1/snap0")
                .snapshot(true)
                .stateful(false)
                .config(Map.of("limits.cpu", "1", "volatile.base_image", BASE_IMAGE))
                .devices(Devices.EMPTY)
                .profiles(List.of(defaultProfile(project)))
                .creationDate(Instant.parse("2024-08-23T10:00:00Z"))
                .lastUsedDate(null)
                .expiryDate(null)
                .description("")
                .build();
        InstanceArgs snap1 = vm.toBuilder()
                .name("web1/before-upgrade")
                .snapshot(true)
                .creationDate(Instant.parse("2024-08-24T10:00:00.000001Z"))
                .lastUsedDate(Instant.parse("2024-08-24T11:00:00Z"))
                .expiryDate(Instant.parse("2024-09-24T10:00:00Z"))
                .build();
        return new InstanceRecord(vm, List.of(snap0, snap1));
    }

    static String text(byte[] yaml) {
        return new String(yaml, StandardCharsets.UTF_8);
    }

    @Test
    void roundTripsEverythingIncusKeeps() {
        InstanceRecord r = record();
        byte[] yaml = BackupYaml.write(r);
        InstanceRecord back = BackupYaml.read(yaml);
        assertEquals(r.instance(), back.instance(), text(yaml));
        assertEquals(r.snapshots(), back.snapshots(), text(yaml));
        assertEquals(r, back);
        // Writing what was read gives the same bytes: the output is deterministic.
        assertEquals(text(yaml), text(BackupYaml.write(back)));
    }

    @Test
    void idsAreNotStoredAndInstanceExpiryIsNot() {
        InstanceRecord r = record();
        InstanceArgs withId = r.instance().toBuilder().id(42).expiryDate(Instant.parse("2030-01-01T00:00:00Z"))
                .build();
        List<InstanceArgs> snaps = new ArrayList<>();
        for (InstanceArgs s : r.snapshots()) {
            snaps.add(s.toBuilder().id(7).build());
        }
        InstanceRecord back = BackupYaml.read(BackupYaml.write(new InstanceRecord(withId, snaps)));
        assertEquals(0, back.instance().id());
        assertNull(back.instance().expiryDate());
        assertEquals(0, back.snapshots().get(0).id());
        assertEquals(r, back);
    }

    @Test
    void writesIncusKeyNames() throws Exception {
        String yaml = text(BackupYaml.write(record()));
        assertFalse(yaml.startsWith("---"), yaml);
        assertTrue(yaml.startsWith("container:\n"), yaml);
        for (String key : List.of("\nsnapshots:\n", "\npool:\n", "\nprofiles:\n", "\nvolume:\n", "- expires_at: ",
                "  created_at: ", "  last_used_at: ", "  status_code: 102\n", "  status: Stopped\n",
                "  expanded_config:\n", "  expanded_devices:\n", "  architecture: aarch64\n",
                "  type: virtual-machine\n", "  location: node2\n", "  project: prod\n", "  size: -1\n")) {
            assertTrue(yaml.contains(key), "missing " + key.trim() + " in\n" + yaml);
        }
        assertTrue(yaml.contains("expires_at: 0001-01-01T00:00:00Z"), "no expiry is Go's zero time:\n" + yaml);
        assertTrue(yaml.contains("limits.cpu: \"2\""), "string config values stay strings:\n" + yaml);

        JsonNode tree = YAML_TREE.readTree(yaml);
        List<String> top = new ArrayList<>();
        tree.fieldNames().forEachRemaining(top::add);
        assertEquals(List.of("container", "snapshots", "pool", "profiles", "volume"), top);

        JsonNode c = tree.get("container");
        assertEquals("web1", c.get("name").asText());
        assertEquals("Stopped", c.get("status").asText());
        assertEquals(102, c.get("status_code").asInt());
        assertEquals("2024-08-22T04:26:40.123456789Z", c.get("created_at").asText());
        assertEquals("default", c.get("profiles").get(0).asText());
        assertEquals("web", c.get("profiles").get(1).asText());
        // Profiles in order, then the local config: web's limits.memory wins over default's.
        assertEquals("2GiB", c.get("expanded_config").get("limits.memory").asText());
        assertEquals("2", c.get("expanded_config").get("limits.cpu").asText());
        assertEquals("fast", c.get("expanded_devices").get("root").get("pool").asText());
        assertEquals("9000", c.get("expanded_devices").get("eth0").get("mtu").asText(), "local device wins");
        assertFalse(c.get("config").has("limits.memory"), "config is the local config only");

        JsonNode s0 = tree.get("snapshots").get(0);
        assertEquals("snap0", s0.get("name").asText(), "short snapshot name");
        assertEquals("0001-01-01T00:00:00Z", s0.get("expires_at").asText());
        assertEquals("0001-01-01T00:00:00Z", s0.get("last_used_at").asText());
        assertEquals(-1, s0.get("size").asLong());
        JsonNode s1 = tree.get("snapshots").get(1);
        assertEquals("before-upgrade", s1.get("name").asText());
        assertEquals("2024-09-24T10:00:00Z", s1.get("expires_at").asText());
        assertTrue(s1.get("stateful").asBoolean());

        assertEquals("fast", tree.get("pool").get("name").asText(), "the root disk's pool");
        assertEquals("dir", tree.get("pool").get("driver").asText());
        assertEquals(2, tree.get("profiles").size());
        JsonNode p0 = tree.get("profiles").get(0);
        assertEquals("default", p0.get("name").asText());
        assertEquals("prod", p0.get("project").asText());
        assertEquals("disk", p0.get("devices").get("root").get("type").asText());
        assertTrue(p0.has("used_by"));
        assertEquals("web1", tree.get("volume").get("name").asText());
        assertEquals("virtual-machine", tree.get("volume").get("type").asText());
        assertEquals("block", tree.get("volume").get("content_type").asText());
    }

    @Test
    void containerWithoutSnapshotsOrDates() {
        InstanceArgs c = InstanceArgs.builder("c1").architecture(Architectures.X86_64).build();
        InstanceRecord r = new InstanceRecord(c, List.of());
        String yaml = text(BackupYaml.write(r));
        assertFalse(yaml.contains("snapshots:"), "omitempty:\n" + yaml);
        assertTrue(yaml.contains("  type: container\n"), yaml);
        assertTrue(yaml.contains("  created_at: 0001-01-01T00:00:00Z\n"), yaml);
        assertTrue(yaml.contains("pool:\n  name: default\n"), yaml);
        InstanceRecord back = BackupYaml.read(yaml.getBytes(StandardCharsets.UTF_8));
        assertEquals(r, back);
        assertNull(back.instance().creationDate());
        assertEquals("default", back.instance().project());
        assertEquals("", back.instance().node());
    }

    @Test
    void unknownArchitectureIsWrittenEmptyAndReadBack() {
        InstanceRecord r = new InstanceRecord(InstanceArgs.builder("c1").architecture(Architectures.UNKNOWN).build(),
                List.of());
        byte[] yaml = BackupYaml.write(r);
        assertTrue(text(yaml).contains("  architecture: \"\"\n"), text(yaml));
        assertEquals(r, BackupYaml.read(yaml));
    }

    /** A backup.yaml as Incus writes it, with fields we do not model: they are ignored. */
    static final String INCUS_WRITTEN = String.join("\n",
            "container:",
            "  architecture: x86_64",
            "  config:",
            "    image.os: Debian",
            "    limits.cpu: 2",
            "    security.nesting: true",
            "    volatile.base_image: abc123",
            "  devices: {}",
            "  ephemeral: false",
            "  profiles:",
            "  - default",
            "  stateful: false",
            "  description: \"\"",
            "  created_at: 2024-08-22T06:26:40.123456789+02:00",
            "  expanded_config:",
            "    image.os: Debian",
            "  expanded_devices: {}",
            "  name: deb1",
            "  status: Running",
            "  status_code: 103",
            "  last_used_at: 0001-01-01T00:00:00Z",
            "  location: none",
            "  type: container",
            "  project: default",
            "snapshots:",
            "- expires_at: 0001-01-01T00:00:00Z",
            "  architecture: x86_64",
            "  config: {}",
            "  created_at: 2024-08-23T10:00:00Z",
            "  description: \"\"",
            "  devices: {}",
            "  ephemeral: false",
            "  last_used_at: 0001-01-01T00:00:00Z",
            "  name: snap0",
            "  profiles:",
            "  - default",
            "  stateful: false",
            "  size: -1",
            "pool:",
            "  config:",
            "    source: /var/lib/incus/storage-pools/default",
            "  description: \"\"",
            "  name: default",
            "  driver: dir",
            "  used_by: []",
            "  status: Created",
            "  locations:",
            "  - none",
            "profiles:",
            "- config: {}",
            "  description: Default Incus profile",
            "  devices:",
            "    root:",
            "      path: /",
            "      pool: default",
            "      type: disk",
            "  name: default",
            "  used_by: []",
            "  project: default",
            "volume:",
            "  config: {}",
            "  description: \"\"",
            "  name: deb1",
            "  type: container",
            "  used_by: []",
            "  location: none",
            "  content_type: filesystem",
            "  project: default",
            "  created_at: 0001-01-01T00:00:00Z",
            "volume_snapshots: []",
            "");

    @Test
    void readsWhatIncusWrites() {
        InstanceRecord r = BackupYaml.read(INCUS_WRITTEN.getBytes(StandardCharsets.UTF_8));
        InstanceArgs i = r.instance();
        assertEquals("deb1", i.name());
        assertEquals(InstanceType.CONTAINER, i.type());
        assertEquals(Architectures.X86_64, i.architecture());
        assertEquals("2", i.config().get("limits.cpu"), "numbers in a config map are strings");
        assertEquals("true", i.config().get("security.nesting"));
        assertEquals("abc123", i.baseImage());
        assertEquals(Instant.parse("2024-08-22T04:26:40.123456789Z"), i.creationDate());
        assertNull(i.lastUsedDate());
        assertEquals("none", i.node());
        assertEquals(1, i.profiles().size());
        assertEquals("Default Incus profile", i.profiles().get(0).description());
        assertEquals("default", i.profiles().get(0).devices().get("root").get("pool"));
        assertEquals(1, r.snapshots().size());
        InstanceArgs s = r.snapshots().get(0);
        assertEquals("deb1/snap0", s.name());
        assertTrue(s.snapshot());
        assertNull(s.expiryDate());
        assertEquals(Instant.parse("2024-08-23T10:00:00Z"), s.creationDate());
        assertEquals(i.profiles(), s.profiles());
    }

    @Test
    void missingProfileDefinitionsBecomeEmptyProfiles() {
        String yaml = "container:\n  name: c1\n  architecture: x86_64\n  profiles: [default, gone]\n"
                + "  project: dev\n";
        InstanceRecord r = BackupYaml.read(yaml.getBytes(StandardCharsets.UTF_8));
        assertEquals(List.of("default", "gone"), r.instance().profiles().stream().map(Profile::name).toList());
        assertEquals("dev", r.instance().profiles().get(1).project());
        assertTrue(r.instance().profiles().get(1).config().isEmpty());
    }

    @Test
    void omittedProjectAndTypeTakeIncusDefaults() {
        // Backups written before projects and instance types existed: the default project, a container.
        InstanceRecord old = BackupYaml.read("container:\n  name: c1\n  architecture: x86_64\n"
                .getBytes(StandardCharsets.UTF_8));
        assertEquals("default", old.instance().project());
        assertEquals(io.github.incus4j.api.InstanceType.CONTAINER, old.instance().type());
        InstanceRecord empty = BackupYaml.read("container:\n  name: c1\n  project: ''\n  type: ''\n"
                .getBytes(StandardCharsets.UTF_8));
        assertEquals("default", empty.instance().project());
        assertEquals(io.github.incus4j.api.InstanceType.CONTAINER, empty.instance().type());
        InstanceRecord named = BackupYaml.read("container:\n  name: c1\n  type: container\n"
                .getBytes(StandardCharsets.UTF_8));
        assertEquals(io.github.incus4j.api.InstanceType.CONTAINER, named.instance().type());
        InstanceRecord vm = BackupYaml.read("container:\n  name: v1\n  type: virtual-machine\n"
                .getBytes(StandardCharsets.UTF_8));
        assertEquals(io.github.incus4j.api.InstanceType.VM, vm.instance().type());
    }

    private static InvalidArgumentException bad(String yaml) {
        return assertThrows(InvalidArgumentException.class,
                () -> BackupYaml.read(yaml.getBytes(StandardCharsets.UTF_8)));
    }

    private static void assertMessage(InvalidArgumentException e, String... parts) {
        assertTrue(e.getMessage().startsWith("Invalid backup.yaml: "), e.getMessage());
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "expected \"" + p + "\" in: " + e.getMessage());
        }
    }

    @Test
    void badYamlIsRefusedWithAClearMessage() {
        assertMessage(bad(""), "empty");
        assertMessage(bad("container: {name: c1\n  architecture: [x86_64\n"),
                "while parsing a flow mapping: expected", "line 2");
        assertMessage(bad("container:\n  name: c1\n\tarchitecture: x86_64\n"), "line");
        assertMessage(bad("just some text"), "expected a mapping", "container");
        assertMessage(bad("- a\n- b\n"), "expected a mapping", "array");
        assertMessage(bad("snapshots: []\n"), "missing \"container\"");
        assertMessage(bad("container: c1\n"), "missing \"container\"");
        assertMessage(bad("container:\n  architecture: x86_64\n"), "no name");
        assertMessage(bad("container:\n  name: c1\n  architecture: sparc64\n"), "Architecture isn't supported: sparc64",
                "container.architecture");
        assertMessage(bad("container:\n  name: c1\n  type: jail\n"), "Invalid instance type: jail");
        assertMessage(bad("container:\n  name: c1\n  created_at: last tuesday\n"), "created_at", "last tuesday");
        assertMessage(bad("container:\n  name: c1\n  status_code: lots\n"), "status_code");
        assertMessage(bad("container:\n  name: c1\n  config: [a, b]\n"), "config");
        assertMessage(bad("container:\n  name: c1\nsnapshots:\n- description: x\n"), "snapshots[0]", "no name");
        assertMessage(bad("container:\n  name: c1\nsnapshots:\n- name: s\n  architecture: vax\n"),
                "Architecture isn't supported: vax", "snapshots[0]");
        assertMessage(bad("container:\n  name: c1\nprofiles:\n- description: nameless\n"),
                "Profile name is required");
        assertThrows(InvalidArgumentException.class, () -> BackupYaml.read(null));
        // Nulls where Incus has values: refused as bad input, never a NullPointerException.
        for (String nasty : List.of("container:\n  name: c1\n  profiles: [~]\n",
                "container:\n  name: c1\nprofiles: [~]\n",
                "container:\n  name: c1\n  devices: {root: ~}\n",
                "container:\n  name: c1\n  devices: {root: {type: ~}}\n",
                "container:\n  name: c1\n  config: {a: ~}\n",
                "container:\n  name: ~\n",
                "container:\n  name: c1\nsnapshots: [~]\n",
                "container:\n  name: c1\nsnapshots: {a: b}\n",
                "container: {}\n",
                "---\n",
                "~\n")) {
            assertMessage(bad(nasty));
        }
    }
}
