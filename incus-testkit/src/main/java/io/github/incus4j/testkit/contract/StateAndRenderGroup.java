package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.rest.ApiInstance;
import io.github.incus4j.api.rest.ApiInstanceFull;
import io.github.incus4j.api.rest.ApiInstanceSnapshot;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.rest.RestJson;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The StateAndRender group of {@link InstanceDriverContract} (its nested {@code StateAndRender} runs these): {@code
 * render}, {@code renderState}, {@code renderFull}, ETags, and records that survive a reopen.
 */
abstract class StateAndRenderGroup extends ContractGroup {
    StateAndRenderGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void renderOfStoppedInstance(InstanceType type) {
        // Expected values come from what the test asked for and from the host, not from the instance's getters.
        InstanceArgs a = args(type).description("a description").config("user.given", "yes").build();
        Instant before = Instant.now();
        Instance i = create(a);
        Instant after = Instant.now();
        ApiInstance r = assertInstanceOf(ApiInstance.class, i.render().value());
        assertEquals(a.name(), r.name());
        assertEquals(type.apiName(), r.type());
        assertEquals("Stopped", r.status());
        assertEquals(102, r.statusCode());
        assertEquals("default", r.project());
        String hostArch = hostArchitecture();
        if (hostArch != null) {
            assertEquals(hostArch, r.architecture(), "an instance runs the host's architecture by default");
        }
        assertEquals("a description", r.description());
        assertFalse(r.createdAt().isBefore(before.minusSeconds(1)) || r.createdAt().isAfter(after.plusSeconds(1)),
                "created_at " + r.createdAt() + " outside the create call " + before + ".." + after);
        assertEquals("none", r.location(), "a standalone server's location, as Incus renders it");
        assertFalse(r.ephemeral());
        assertFalse(r.stateful());
        for (Map.Entry<String, String> e : a.config().entrySet()) {
            assertEquals(e.getValue(), r.config().get(e.getKey()), "config " + e.getKey());
        }
        // Beyond what the test set: the driver's volatile keys and, from an image source, its image.* properties.
        for (String k : r.config().keySet()) {
            assertTrue(a.config().containsKey(k) || k.startsWith("volatile.") || k.startsWith("image."),
                    "config key nobody set: " + k);
        }
        assertTrue(r.config().containsKey("volatile.uuid"), "volatile.uuid is set on create: " + r.config());
        assertEquals(r.config(), r.expandedConfig(), "no profiles: the expanded config is the local one");
    }

    @ForEachInstanceType
    void renderOfRunningInstance(InstanceType type) {
        Instance i = createRunning(type);
        ApiInstance r = (ApiInstance) i.render().value();
        assertEquals("Running", r.status());
        assertEquals(103, r.statusCode());
    }

    @ForEachInstanceType
    void renderJsonHasIncusFieldNames(InstanceType type) {
        Instance i = create(type);
        String json = RestJson.toJson(i.render().value());
        for (String field : List.of("architecture", "config", "devices", "ephemeral", "profiles", "stateful",
                "description", "created_at", "expanded_config", "expanded_devices", "name", "status",
                "status_code", "last_used_at", "location", "type", "project")) {
            if (field.equals("expanded_devices") && i.expandedDevices().isEmpty()) {
                continue;
            }
            assertTrue(json.contains("\"" + field + "\":"), "missing " + field + " in " + json);
        }
        assertTrue(json.contains("\"status_code\":102"), json);
        assertTrue(json.contains("\"status\":\"Stopped\""), json);
        assertTrue(json.contains("\"type\":\"" + type.apiName() + "\""), json);
        assertTrue(json.contains("\"name\":\"" + i.name() + "\""), json);
    }

    @ForEachInstanceType
    void stateOfStoppedInstanceHasStatusAndDiskOnly(InstanceType type) {
        Instance i = create(type);
        ApiInstanceState s = i.renderState(List.of());
        assertEquals("Stopped", s.status());
        assertEquals(102, s.statusCode());
        assertEquals(Set.of("root"), s.disk().keySet(), "disks " + s.disk());
        assertTrue(s.disk().get("root").usage() > 0, "a root disk holding the image uses space: " + s.disk());
        assertEquals(0, s.pid());
        assertTrue(s.network().isEmpty(), "no network when stopped: " + s.network());
        assertEquals(ApiInstanceState.Memory.ZERO, s.memory());
        assertEquals(ApiInstanceState.Cpu.ZERO, s.cpu());
        assertEquals(type == InstanceType.VM ? -1 : 0, s.processes());
        assertNull(s.osInfo());
    }

    @ForEachInstanceType
    void stateOfRunningInstanceIsLive(InstanceType type) {
        Instant before = Instant.now();
        Instance i = createRunning(type);
        Instant after = Instant.now();
        ApiInstanceState s = i.renderState(List.of());
        assertEquals("Running", s.status());
        assertEquals(103, s.statusCode());
        assertTrue(s.pid() > 0, "pid " + s.pid());
        assertEquals(i.initPid(), s.pid());
        if (type == InstanceType.CONTAINER) {
            assertTrue(s.processes() >= 1, "processes " + s.processes());
        } else {
            assertTrue(s.processes() == -1 || s.processes() >= 1, "processes " + s.processes());
        }
        assertTrue(s.memory().usage() > 0, "memory " + s.memory());
        // CPU usage is checked against work done in cpuUsageGrowsWithWorkDone.
        // A VM's interfaces come from its guest agent, which answers once the guest has booted (Incus's too);
        // before that a VM without NICs has nothing to report.
        if (type == InstanceType.CONTAINER) {
            assertFalse(s.network().isEmpty(), "network of a running instance");
        }
        // started_at is the start the test made: within the call (with slack for a kernel's clock ticks).
        assertNotNull(s.startedAt(), "started_at");
        assertFalse(s.startedAt().isBefore(before.minusSeconds(5)) || s.startedAt().isAfter(after.plusSeconds(5)),
                "started_at " + s.startedAt() + " outside the start call " + before + ".." + after);
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void cpuUsageGrowsWithWorkDone(InstanceType type) {
        Instance i = createRunning(type);
        long before = i.renderState(List.of()).cpu().usage();
        burnCpu(i);
        long after = i.renderState(List.of()).cpu().usage();
        assertTrue(after - before >= MIN_BURN_NANOS, "cpu usage " + before + " ns, then " + after
                + " ns after copying " + BURN_MIB + " MiB with dd");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.EXEC)
    void processCountFollowsRunningCommands(InstanceType type) throws InterruptedException {
        Instance i = createRunning(type);
        int before = steady(() -> (int) i.renderState(List.of()).processes());
        List<Cmd> sleepers = startSleepers(i, 3);
        try {
            int now = awaitValue(() -> (int) i.renderState(List.of()).processes(), n -> n >= before + 3,
                    "processes with 3 more sleep commands than " + before);
            for (Cmd c : sleepers) {
                c.signal(9);
                assertEquals(137, c.waitFor(timeout()));
            }
            awaitValue(() -> (int) i.renderState(List.of()).processes(), n -> n <= now - 3,
                    "processes once the 3 sleep commands were killed (" + now + " with them)");
        } finally {
            sleepers.forEach(Cmd::close);
        }
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.FILES)
    void diskUsageFollowsWrittenFiles(InstanceType type) {
        Instance i = filesInstance(type);
        long before = i.renderState(List.of()).disk().get("root").usage();
        byte[] data = new byte[4 << 20];
        new Random(7).nextBytes(data); // incompressible: no storage can make it smaller
        try (SftpClient sftp = i.fileSftp()) {
            sftp.write("/root/incus4j-disk-usage", data);
        }
        if (i.isRunning() && dut().capabilities().contains(Capability.EXEC)) {
            assertEquals(0, run(i, "sync").exitCode(), "sync"); // a VM's writes reach its disk file
        }
        long after = i.renderState(List.of()).disk().get("root").usage();
        assertTrue(after - before >= data.length, "root disk usage " + before + ", then " + after
                + " after writing " + data.length + " bytes");
    }

    @ForEachInstanceType
    void stateJsonHasIncusFieldNames(InstanceType type) {
        Instance i = createRunning(type);
        String json = RestJson.toJson(i.renderState(List.of()));
        for (String field : List.of("status", "status_code", "disk", "memory", "network", "pid", "processes",
                "cpu", "started_at")) {
            assertTrue(json.contains("\"" + field + "\":"), "missing " + field + " in " + json);
        }
        assertTrue(json.contains("\"usage\":"), json);
    }

    @ForEachInstanceType
    void renderFullHasSnapshotsAndState(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        i.snapshot("s2", null, false);
        ApiInstanceFull full = i.renderFull(List.of()).value();
        assertEquals(i.name(), full.instance().name());
        assertEquals(List.of("s1", "s2"),
                full.snapshots().stream().map(ApiInstanceSnapshot::name).collect(Collectors.toList()));
        assertNotNull(full.state());
        assertEquals("Stopped", full.state().status());
        assertEquals(List.of(), full.backups());
        String json = RestJson.toJson(full);
        assertTrue(json.contains("\"snapshots\":["), json);
        assertTrue(json.contains("\"state\":{"), json);
        assertTrue(json.contains("\"backups\":[]"), json);
        assertFalse(json.contains("\"instance\":"), "instance fields are inline: " + json);
        assertTrue(json.contains("\"name\":\"" + i.name() + "\""), json);
    }

    @ForEachInstanceType
    void renderFullOfRunningInstanceHasLiveState(InstanceType type) {
        Instance i = createRunning(type);
        ApiInstanceFull full = i.renderFull(List.of()).value();
        assertEquals("Running", full.instance().status());
        assertEquals("Running", full.state().status());
        assertTrue(full.state().pid() > 0);
    }

    @ForEachInstanceType
    void renderFullOfSnapshotIsRefused(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        Instance snap = i.snapshots().get(0);
        assertRefused(InvalidArgumentException.class, type == InstanceType.VM
                ? "RenderFull doesn't work with snapshots" : "RenderFull only works with containers",
                () -> snap.renderFull(List.of()));
    }

    @ForEachInstanceType
    void etagIsStableAndFollowsConfig(InstanceType type) {
        Instance i = create(type);
        List<Object> first = i.render().etag();
        assertEquals(first, i.render().etag(), "same definition, same etag");
        assertEquals(first, i.etag());
        i.update(withConfig(i, "user.changed", "yes"), true);
        assertNotEquals(first, i.render().etag(), "config change must change the etag");
    }

    @ForEachInstanceType
    void etagOfSnapshotIsItsExpiry(InstanceType type) {
        Instance i = create(type);
        Instant expiry = nowSeconds().plus(Duration.ofDays(2));
        i.snapshot("s1", expiry, false);
        assertEquals(List.of(expiry), i.snapshots().get(0).etag());
    }

    @ForEachInstanceType
    void snapshotRendersAsSnapshot(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        ApiInstanceSnapshot r = assertInstanceOf(ApiInstanceSnapshot.class, i.snapshots().get(0).render().value());
        assertEquals("s1", r.name());
        assertEquals(-1, r.size());
        assertEquals(RestJson.GO_ZERO_TIME, r.expiresAt());
        String json = RestJson.toJson(r);
        assertTrue(json.contains("\"expires_at\":\"0001-01-01T00:00:00Z\""), json);
        assertTrue(json.contains("\"size\":-1"), json);
        assertTrue(json.contains("\"name\":\"s1\""), json);
    }

    @ForEachInstanceType
    void recordsSurviveReopen(InstanceType type) {
        Profile p = Profile.of("base", Map.of("user.from-profile", "p"), null);
        Instance i = create(args(type).description("kept across restarts").config("user.k", "v")
                .profiles(List.of(p)).build());
        i.snapshot("s1", null, false);
        i.snapshot("s2", nowSeconds().plus(Duration.ofDays(1)), false);
        Instant created = i.creationDate();
        Instance again = reopen().load(i.name());
        assertEquals(type, again.type());
        assertEquals("kept across restarts", again.description());
        assertEquals("v", again.localConfig().get("user.k"));
        assertEquals("p", again.expandedConfig().get("user.from-profile"));
        assertEquals(List.of("base"), again.profiles().stream().map(Profile::name).collect(Collectors.toList()));
        assertEquals(List.of(i.name() + "/s1", i.name() + "/s2"), snapshotNames(again));
        assertEquals(i.snapshots().get(1).expiryDate(), again.snapshots().get(1).expiryDate());
        assertTrue(Duration.between(created, again.creationDate()).abs().compareTo(Duration.ofSeconds(1)) < 0,
                "creation date " + created + " vs " + again.creationDate());
        assertEquals(i.architecture(), again.architecture());
        assertEquals(i.localConfig().get("volatile.uuid"), again.localConfig().get("volatile.uuid"));
    }

    @ForEachInstanceType
    void ephemeralFlagSurvivesReopen(InstanceType type) {
        Instance i = create(args(type).ephemeral(true).build());
        assertTrue(reopen().load(i.name()).isEphemeral());
    }

    @ForEachInstanceType
    void profilesExpandInOrderThenLocalConfig(InstanceType type) {
        Profile p1 = Profile.of("p1", Map.of("user.a", "1", "user.b", "1"), null);
        Profile p2 = Profile.of("p2", Map.of("user.b", "2", "user.c", "2"), null);
        Instance i = create(args(type).profiles(List.of(p1, p2)).config("user.c", "3").build());
        assertEquals("1", i.expandedConfig().get("user.a"));
        assertEquals("2", i.expandedConfig().get("user.b"));
        assertEquals("3", i.expandedConfig().get("user.c"));
        assertFalse(i.localConfig().containsKey("user.a"), "profile keys are not local");
        assertEquals(List.of("p1", "p2"), ((ApiInstance) i.render().value()).profiles());
    }

    @ForEachInstanceType
    void profileDevicesExpandUnderLocalDevices(InstanceType type) {
        // none devices (with user keys to tell them apart): every driver applies them, whatever it supports.
        Profile p = Profile.of("disks", Map.of(), Devices.EMPTY
                .with("data", Device.of("type", "none", "user.source", "/srv/a"))
                .with("logs", Device.of("type", "none", "user.source", "/srv/logs")));
        Instance i = create(args(type).profiles(List.of(p))
                .device("data", Device.of("type", "none", "user.source", "/srv/b")).build());
        assertEquals("/srv/b", i.expandedDevices().get("data").get("user.source"), "local device wins");
        assertEquals("/srv/logs", i.expandedDevices().get("logs").get("user.source"));
        assertNull(i.localDevices().get("logs"));
    }

    @ForEachInstanceType
    void nonDefaultProjectsAreSeparate(InstanceType type) {
        Instance i = create(args(type).project("proj1").build());
        assertEquals("proj1", i.project().name());
        assertTrue(instances().find("proj1", i.name()).isPresent());
        assertTrue(instances().find("default", i.name()).isEmpty());
        assertTrue(i.path().getFileName().toString().equals("proj1_" + i.name()), "path " + i.path());
        assertEquals("proj1", ((ApiInstance) i.render().value()).project());
    }

    @ForEachInstanceType
    void idIsStable(InstanceType type) {
        Instance i = create(type);
        assertTrue(i.id() > 0, "id " + i.id());
        assertEquals(i.id(), instances().load(i.name()).id());
        assertNotEquals(i.id(), create(type).id());
    }

    @ForEachInstanceType
    void datesAndDefaults(InstanceType type) {
        Instant before = Instant.now().minusSeconds(2);
        Instance i = create(type);
        assertTrue(i.creationDate().isAfter(before), "creation date " + i.creationDate());
        assertTrue(i.expiryDate().isEmpty(), "instances do not expire");
        assertNotNull(i.localConfig().get("volatile.uuid"), "volatile.uuid is set on create");
        assertEquals(i.render().value(), i.renderWithUsage().value());
    }

    @ForEachInstanceType
    void pathsFollowIncusLayout(InstanceType type) {
        Instance i = create(type);
        assertTrue(i.path().startsWith(root()), "path " + i.path() + " under " + root());
        assertEquals(i.path().resolve("rootfs"), i.rootfsPath());
        assertEquals(i.path().resolve("templates"), i.templatesPath());
        assertEquals(i.logPath().resolve("console.log"), i.consoleBufferLogPath());
        assertEquals(i.logPath().resolve(type == InstanceType.VM ? "qemu.log" : "lxc.log"), i.logFilePath());
        assertTrue(Files.exists(i.path().resolve("backup.yaml")), "record " + i.path().resolve("backup.yaml"));
    }
}
