package io.github.incus4j.api.rest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.ImageMetadataTemplate;
import io.github.incus4j.api.model.InstanceBackup;
import io.github.incus4j.api.model.Profile;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The REST records against fixtures written from Incus's {@code shared/api} types: same field names at every level,
 * same values, Go's time format and zero time.
 */
class RestJsonTest {
    private static final ObjectMapper PLAIN = new ObjectMapper();
    private static final Pattern RFC3339 =
            Pattern.compile("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})");
    private static final String BASE_IMAGE = "9f2ba4d2c5d4ab7d8c0c1e6a7e2cba3e0ef0b1c8f6e0e6b3b5a4d2c1e0f9a8b7";

    // ---- the records the fixtures describe ----------------------------------------------------------------------

    static Map<String, String> localConfig() {
        Map<String, String> m = new TreeMap<>();
        m.put("image.architecture", "amd64");
        m.put("image.description", "Ubuntu noble amd64 (20240821_07:42)");
        m.put("image.os", "Ubuntu");
        m.put("image.release", "noble");
        m.put("limits.cpu", "2");
        m.put("security.nesting", "true");
        m.put("volatile.base_image", BASE_IMAGE);
        m.put("volatile.eth0.host_name", "veth8e2b3a1c");
        m.put("volatile.eth0.hwaddr", "00:16:3e:4a:1b:2c");
        m.put("volatile.idmap.base", "0");
        m.put("volatile.last_state.power", "RUNNING");
        m.put("volatile.uuid", "1f6a3c3e-2b8d-4f6e-9d7a-0c5e8b1a2d3f");
        return m;
    }

    static Devices localDevices() {
        return Devices.EMPTY.with("data", Device.of("type", "disk", "path", "/srv/data", "source", "/var/lib/data"));
    }

    static ApiInstance instance() {
        Map<String, String> expanded = new TreeMap<>(localConfig());
        expanded.put("limits.memory", "2GiB");
        Devices expandedDevices = localDevices()
                .with("eth0", Device.of("type", "nic", "name", "eth0", "network", "incusbr0"))
                .with("root", Device.of("type", "disk", "path", "/", "pool", "default"));
        return new ApiInstance("x86_64", localConfig(), localDevices(), false, List.of("default", "web"), false,
                "Web front end", Instant.parse("2024-08-22T04:26:40.123456789Z"), expanded, expandedDevices, "web1",
                "Running", 103, Instant.parse("2024-08-23T09:15:02.500Z"), "none", "container", "default");
    }

    static ApiInstanceSnapshot snapshot(String name, Instant created, Instant expires) {
        Map<String, String> config = Map.of("image.os", "Ubuntu", "limits.cpu", "2", "volatile.base_image", BASE_IMAGE);
        Map<String, String> expanded = new TreeMap<>(config);
        expanded.put("limits.memory", "2GiB");
        return new ApiInstanceSnapshot(expires, "x86_64", config, created, "", Devices.EMPTY, false, expanded,
                Devices.EMPTY.with("root", Device.of("type", "disk", "path", "/", "pool", "default")),
                RestJson.GO_ZERO_TIME, name, List.of("default"), false, -1);
    }

    static ApiInstanceSnapshot snapshot() {
        return snapshot("snap0", Instant.parse("2024-08-23T10:00:00Z"), RestJson.GO_ZERO_TIME);
    }

    static ApiInstanceState.NetworkCounters counters(long rxBytes, long txBytes, long rxPackets, long txPackets,
            long droppedIn) {
        return new ApiInstanceState.NetworkCounters(rxBytes, txBytes, rxPackets, txPackets, 0, 0, 0, droppedIn);
    }

    static ApiInstanceState state() {
        ApiInstanceState.Network eth0 = new ApiInstanceState.Network(List.of(
                new ApiInstanceState.NetworkAddress("inet", "10.42.0.17", "24", "global"),
                new ApiInstanceState.NetworkAddress("inet6", "fe80::216:3eff:fe4a:1b2c", "64", "link")),
                counters(2516582, 113254, 1843, 912, 3), "00:16:3e:4a:1b:2c", "tap8e2b3a1c", 1500, "up", "broadcast");
        ApiInstanceState.Network lo = new ApiInstanceState.Network(List.of(
                new ApiInstanceState.NetworkAddress("inet", "127.0.0.1", "8", "local")),
                counters(4560, 4560, 48, 48, 0), "", "", 65536, "up", "loopback");
        return new ApiInstanceState("Running", 103,
                Map.of("root", new ApiInstanceState.Disk(1073741824L, 21474836480L)),
                new ApiInstanceState.Memory(268435456L, 402653184L, 2147483648L, 0, 0),
                Map.of("eth0", eth0, "lo", lo), 48213, 37,
                new ApiInstanceState.Cpu(17564823000L, 2000000000L),
                Instant.parse("2024-08-23T09:15:02.5Z"),
                new ApiInstanceState.OsInfo("Ubuntu", "24.04", "6.8.0-41-generic", "vm1", "vm1.lan"));
    }

    static ApiInstanceFull full() {
        ApiInstanceState vm = state();
        ApiInstanceState.Network eth0 = vm.network().get("eth0");
        ApiInstanceState.Network containerEth0 = new ApiInstanceState.Network(eth0.addresses(),
                counters(2516582, 113254, 1843, 912, 0), eth0.hwaddr(), "veth8e2b3a1c", eth0.mtu(), eth0.state(),
                eth0.type());
        ApiInstanceState state = new ApiInstanceState("Running", 103,
                Map.of("root", new ApiInstanceState.Disk(1073741824L, 0)),
                vm.memory(), Map.of("eth0", containerEth0, "lo", vm.network().get("lo")), 48213, 37,
                new ApiInstanceState.Cpu(17564823000L, 0), vm.startedAt(), null);
        List<InstanceBackup> backups = List.of(new InstanceBackup("web1/backup0",
                Instant.parse("2024-08-24T01:00:00Z"), Instant.parse("2024-08-31T01:00:00Z"), false, false));
        return new ApiInstanceFull(instance(), backups, state, List.of(snapshot(),
                snapshot("snap1", Instant.parse("2024-08-24T10:00:00.000001Z"),
                        Instant.parse("2024-09-24T10:00:00Z"))));
    }

    // ---- fixtures ---------------------------------------------------------------------------------------------

    static String fixture(String name) throws IOException {
        try (InputStream in = RestJsonTest.class.getResourceAsStream("/fixtures/" + name)) {
            if (in == null) {
                throw new IOException("missing fixture " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** For every object in the tree, its path and its set of field names. */
    static Map<String, Set<String>> fieldNames(JsonNode node) {
        Map<String, Set<String>> out = new TreeMap<>();
        collect(node, "$", out);
        return out;
    }

    private static void collect(JsonNode node, String path, Map<String, Set<String>> out) {
        if (node.isObject()) {
            Set<String> names = new TreeSet<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                names.add(e.getKey());
                collect(e.getValue(), path + "." + e.getKey(), out);
            }
            out.put(path, names);
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                collect(node.get(i), path + "[" + i + "]", out);
            }
        }
    }

    /** Serialises {@code ours}, checks it against the fixture, then reads the fixture back into {@code type}. */
    private static <T> JsonNode conforms(String fixtureName, T ours, Class<T> type) throws IOException {
        JsonNode expected = PLAIN.readTree(fixture(fixtureName));
        JsonNode written = PLAIN.readTree(RestJson.toJson(ours));
        assertEquals(fieldNames(expected), fieldNames(written), fixtureName + ": field names per object");
        assertEquals(expected, written, fixtureName + ": values as written");
        T parsed = RestJson.fromJson(fixture(fixtureName), type);
        assertEquals(ours, parsed, fixtureName + ": parsed into " + type.getSimpleName());
        assertEquals(expected, PLAIN.readTree(RestJson.toJson(parsed)), fixtureName + ": round trip");
        return written;
    }

    // ---- the shapes -------------------------------------------------------------------------------------------

    @Test
    void instanceMatchesIncusShape() throws IOException {
        JsonNode json = conforms("instance.json", instance(), ApiInstance.class);
        assertEquals("Running", json.get("status").asText());
        assertTrue(json.get("status_code").isInt());
        assertEquals(103, json.get("status_code").asInt());
        assertEquals("2024-08-22T04:26:40.123456789Z", json.get("created_at").asText());
        assertTrue(RFC3339.matcher(json.get("created_at").asText()).matches());
        // Go's RFC3339Nano trims trailing zeros of the fraction.
        assertEquals("2024-08-23T09:15:02.5Z", json.get("last_used_at").asText());
        assertEquals("container", json.get("type").asText());
        assertTrue(json.get("profiles").isArray());
    }

    @Test
    void expandedFieldsAreLeftOutWhenEmpty() throws IOException {
        ApiInstance i = instance();
        ApiInstance bare = new ApiInstance(i.architecture(), i.config(), i.devices(), false, i.profiles(), false,
                "", i.createdAt(), Map.of(), Devices.EMPTY, "web1", "Stopped", 102, RestJson.GO_ZERO_TIME, "",
                "container", "default");
        JsonNode json = PLAIN.readTree(RestJson.toJson(bare));
        assertFalse(json.has("expanded_config"), "omitempty");
        assertFalse(json.has("expanded_devices"), "omitempty");
        assertEquals(102, json.get("status_code").asInt());
        assertEquals(bare, RestJson.fromJson(RestJson.toJson(bare), ApiInstance.class));
    }

    @Test
    void snapshotMatchesIncusShape() throws IOException {
        JsonNode json = conforms("instance-snapshot.json", snapshot(), ApiInstanceSnapshot.class);
        assertEquals("0001-01-01T00:00:00Z", json.get("expires_at").asText());
        assertEquals("snap0", json.get("name").asText(), "short name");
        assertEquals(-1, json.get("size").asLong());
        ApiInstanceSnapshot parsed = RestJson.fromJson(fixture("instance-snapshot.json"), ApiInstanceSnapshot.class);
        assertEquals(RestJson.GO_ZERO_TIME, parsed.expiresAt());
        assertEquals(Instant.parse("0001-01-01T00:00:00Z"), parsed.lastUsedAt());
    }

    @Test
    void nullTimesAreWrittenAsGoZeroTime() throws IOException {
        ApiInstanceSnapshot s = snapshot();
        ApiInstanceSnapshot noDates = new ApiInstanceSnapshot(null, s.architecture(), s.config(), null, "",
                Devices.EMPTY, false, Map.of(), Devices.EMPTY, null, "snap0", List.of(), false, -1);
        JsonNode json = PLAIN.readTree(RestJson.toJson(noDates));
        assertEquals("0001-01-01T00:00:00Z", json.get("expires_at").asText());
        assertEquals("0001-01-01T00:00:00Z", json.get("created_at").asText());
        assertEquals("0001-01-01T00:00:00Z", json.get("last_used_at").asText());
    }

    @Test
    void stateMatchesIncusShape() throws IOException {
        JsonNode json = conforms("instance-state.json", state(), ApiInstanceState.class);
        assertEquals("Running", json.get("status").asText());
        assertEquals(103, json.get("status_code").asInt());
        assertEquals(17564823000L, json.get("cpu").get("usage").asLong());
        assertEquals(268435456L, json.get("memory").get("usage").asLong());
        assertEquals(48213, json.get("pid").asLong());
        assertEquals(37, json.get("processes").asLong());
        assertEquals("2024-08-23T09:15:02.5Z", json.get("started_at").asText());
        Set<String> counterNames = new TreeSet<>();
        json.get("network").get("eth0").get("counters").fieldNames().forEachRemaining(counterNames::add);
        assertEquals(new TreeSet<>(List.of("bytes_received", "bytes_sent", "packets_received", "packets_sent",
                "errors_received", "errors_sent", "packets_dropped_outbound", "packets_dropped_inbound")),
                counterNames);
        ApiInstanceState parsed = RestJson.fromJson(fixture("instance-state.json"), ApiInstanceState.class);
        assertEquals(3, parsed.network().get("eth0").counters().packetsDroppedInbound());
        assertEquals("tap8e2b3a1c", parsed.network().get("eth0").hostName());
        assertEquals("6.8.0-41-generic", parsed.osInfo().kernelVersion());
    }

    @Test
    void fullInstanceWritesTheInstanceInline() throws IOException {
        JsonNode json = conforms("instance-full.json", full(), ApiInstanceFull.class);
        assertFalse(json.has("instance"), "@JsonUnwrapped: no nested \"instance\"");
        assertEquals("web1", json.get("name").asText());
        assertEquals(103, json.get("status_code").asInt());
        assertTrue(json.get("state").get("os_info").isNull(), "a nil *InstanceStateOSInfo is null");
        assertEquals("0001-01-01T00:00:00Z", json.get("snapshots").get(0).get("expires_at").asText());
        assertEquals("2024-08-24T10:00:00.000001Z", json.get("snapshots").get(1).get("created_at").asText());
        assertEquals("2024-08-31T01:00:00Z", json.get("backups").get(0).get("expires_at").asText());
        // Go's field order: the embedded instance first, then backups, state, snapshots.
        List<String> order = new java.util.ArrayList<>();
        json.fieldNames().forEachRemaining(order::add);
        assertEquals(List.of("backups", "state", "snapshots"), order.subList(order.size() - 3, order.size()));
        assertEquals("architecture", order.get(0));
    }

    @Test
    void fieldOrderFollowsGoStructs() throws IOException {
        List<String> order = new java.util.ArrayList<>();
        PLAIN.readTree(RestJson.toJson(instance())).fieldNames().forEachRemaining(order::add);
        assertEquals(List.of("architecture", "config", "devices", "ephemeral", "profiles", "stateful", "description",
                "created_at", "expanded_config", "expanded_devices", "name", "status", "status_code", "last_used_at",
                "location", "type", "project"), order);
    }

    // ---- reading ----------------------------------------------------------------------------------------------

    @Test
    void timesWithAnOffsetAreRead() {
        ApiInstance i = RestJson.fromJson("{\"name\":\"c1\",\"created_at\":\"2021-03-23T20:00:00-04:00\"}",
                ApiInstance.class);
        assertEquals(Instant.parse("2021-03-24T00:00:00Z"), i.createdAt());
        assertEquals(Instant.parse("2021-03-24T00:00:00Z"), RestJson.parseTime("2021-03-23T20:00:00-04:00"));
        assertEquals("0001-01-01T00:00:00Z", RestJson.formatTime(RestJson.GO_ZERO_TIME));
        assertEquals("2024-01-02T03:04:05.12Z", RestJson.formatTime(Instant.parse("2024-01-02T03:04:05.120Z")));
    }

    @Test
    void configMapsAcceptNumbersAndBooleans() {
        ApiInstance i = RestJson.fromJson(
                "{\"name\":\"c1\",\"config\":{\"limits.cpu\":2,\"security.nesting\":true},\"unknown_field\":[1]}",
                ApiInstance.class);
        assertEquals("2", i.config().get("limits.cpu"));
        assertEquals("true", i.config().get("security.nesting"));
        assertEquals(Devices.EMPTY, i.devices());
    }

    @Test
    void badJsonIsRefusedWithItsReason() {
        InvalidArgumentException syntax = assertThrows(InvalidArgumentException.class,
                () -> RestJson.fromJson("{\"name\": ", ApiInstance.class));
        assertTrue(syntax.getMessage().startsWith("Invalid JSON for ApiInstance: "), syntax.getMessage());
        assertTrue(syntax.getMessage().contains("line 1"), syntax.getMessage());

        InvalidArgumentException time = assertThrows(InvalidArgumentException.class,
                () -> RestJson.fromJson("{\"created_at\": \"yesterday\"}", ApiInstance.class));
        assertTrue(time.getMessage().contains("created_at"), time.getMessage());
        assertTrue(time.getMessage().contains("yesterday"), time.getMessage());

        InvalidArgumentException type = assertThrows(InvalidArgumentException.class,
                () -> RestJson.fromJson("{\"status_code\": \"high\"}", ApiInstance.class));
        assertTrue(type.getMessage().contains("status_code"), type.getMessage());

        InvalidArgumentException rule = assertThrows(InvalidArgumentException.class,
                () -> RestJson.fromJson("{\"command\": []}", ExecRequest.class));
        assertTrue(rule.getMessage().contains("Command not found"), rule.getMessage());

        assertThrows(InvalidArgumentException.class, () -> RestJson.fromJson("", ApiInstance.class));
        assertThrows(InvalidArgumentException.class, () -> RestJson.fromJson("null", ApiInstance.class));
    }

    @Test
    void prettyJsonIsGoIndented() {
        String pretty = RestJson.toPrettyJson(new ApiInstanceFull(instance(), List.of(), null, List.of()));
        assertTrue(pretty.startsWith("{\n    \"architecture\": \"x86_64\",\n"), pretty);
        assertTrue(pretty.contains("\n    \"backups\": [],\n"), pretty);
        assertTrue(pretty.contains("\n    \"state\": null,\n"), pretty);
        assertTrue(pretty.endsWith("\n}"), pretty);
    }

    // ---- exec, profiles, images -------------------------------------------------------------------------------

    @Test
    void execRequestUsesIncusNames() throws IOException {
        ExecRequest req = ExecRequest.builder("bash", "-c", "echo hi").env("TERM", "xterm").cwd("/srv").user(1000)
                .group(1000).interactive(true).window(120, 40).recordOutput(true).build();
        JsonNode json = PLAIN.readTree(RestJson.toJson(req));
        Set<String> names = new LinkedHashSet<>();
        json.fieldNames().forEachRemaining(names::add);
        // api.InstanceExecPost
        assertEquals(new TreeSet<>(List.of("command", "wait-for-websocket", "interactive", "environment", "width",
                "height", "record-output", "user", "group", "cwd")), new TreeSet<>(names));
        assertTrue(json.get("record-output").asBoolean());
        assertFalse(json.get("wait-for-websocket").asBoolean());
        assertEquals(120, json.get("width").asInt());
        assertEquals(req, RestJson.fromJson(RestJson.toJson(req), ExecRequest.class));
        ExecRequest incus = RestJson.fromJson("{\"command\":[\"ls\"],\"wait-for-websocket\":true,"
                + "\"record-output\":true,\"environment\":{\"HOME\":\"/root\"},\"user\":0,\"group\":0,\"cwd\":\"\"}",
                ExecRequest.class);
        assertTrue(incus.waitForWebsocket());
        assertTrue(incus.recordOutput());
        assertEquals("/root", incus.environment().get("HOME"));
    }

    @Test
    void profileRoundTrips() throws IOException {
        Profile p = new Profile("web", "Web servers", Map.of("limits.memory", "2GiB"),
                Devices.EMPTY.with("eth0", Device.of("type", "nic", "network", "incusbr0")), "default",
                List.of("/1.0/instances/web1"));
        JsonNode json = PLAIN.readTree(RestJson.toJson(p));
        assertEquals(new TreeSet<>(List.of("name", "description", "config", "devices", "project", "used_by")),
                fieldNames(json).get("$"));
        assertEquals(p, RestJson.fromJson(RestJson.toJson(p), Profile.class));
    }

    static final String METADATA_YAML = String.join("\n",
            "architecture: x86_64",
            "creation_date: 1724300000",
            "expiry_date: 0",
            "properties: {description: \"Ubuntu 24.04\", os: ubuntu, release: noble}",
            "templates:",
            "  /etc/hostname: {when: [create, copy], create_only: false, template: hostname.tpl, properties: {}}",
            "  /etc/hosts:",
            "    when:",
            "    - create",
            "    - rename",
            "    create_only: true",
            "    template: hosts.tpl",
            "    properties:",
            "      default: \"127.0.1.1\"",
            "    mode: \"644\"",
            "");

    @Test
    void imageMetadataYamlRoundTrips() {
        ImageMetadata m = RestJson.fromYaml(METADATA_YAML.getBytes(StandardCharsets.UTF_8), ImageMetadata.class);
        assertEquals("x86_64", m.architecture());
        assertEquals(1724300000L, m.creationDate());
        assertEquals(0L, m.expiryDate());
        assertEquals("Ubuntu 24.04", m.properties().get("description"));
        ImageMetadataTemplate hostname = m.templates().get("/etc/hostname");
        assertEquals(List.of("create", "copy"), hostname.when());
        assertEquals("hostname.tpl", hostname.template());
        assertFalse(hostname.createOnly());
        ImageMetadataTemplate hosts = m.templates().get("/etc/hosts");
        assertTrue(hosts.createOnly());
        assertEquals("644", hosts.mode());
        assertEquals("", hosts.uid());

        String written = new String(RestJson.toYaml(m), StandardCharsets.UTF_8);
        assertFalse(written.startsWith("---"), written);
        assertTrue(written.startsWith("architecture: x86_64\ncreation_date: 1724300000\nexpiry_date: 0\n"), written);
        assertTrue(written.contains("  /etc/hostname:\n"), written);
        assertTrue(written.contains("create_only: false"), written);
        assertTrue(written.contains("mode: \"644\""), "numbers-as-strings stay quoted: " + written);
        assertTrue(written.contains("    properties: {}\n"), written);
        assertFalse(written.contains("uid:"), "uid,omitempty: " + written);
        assertEquals(m, RestJson.fromYaml(written.getBytes(StandardCharsets.UTF_8), ImageMetadata.class));
        assertEquals(m, RestJson.fromJson(RestJson.toJson(m), ImageMetadata.class));
    }

    @Test
    void yamlKeepsStringsThatLookLikeOtherTypes() {
        ApiInstance i = new ApiInstance("x86_64", Map.of("a", "true", "b", "2", "c", "", "d", "yes", "e", "null",
                "f", "line 1\nline 2\n", "g", "no newline\nat end", "h", "1.5", "i", "0o17", "j", "- x"),
                Devices.EMPTY, false, List.of(), false, "", RestJson.GO_ZERO_TIME, Map.of(), Devices.EMPTY, "c1",
                "Stopped", 102, RestJson.GO_ZERO_TIME, "", "container", "default");
        byte[] yaml = RestJson.toYaml(i);
        ApiInstance back = RestJson.fromYaml(yaml, ApiInstance.class);
        assertEquals(i, back, new String(yaml, StandardCharsets.UTF_8));
        assertNull(back.config().get("missing"));
    }
}
