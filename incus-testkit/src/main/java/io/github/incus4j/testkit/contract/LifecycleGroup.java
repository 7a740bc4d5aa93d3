package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Container;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.VM;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The Lifecycle group of {@link InstanceDriverContract} (its nested {@code Lifecycle} runs these): start, stop,
 * shutdown, restart, delete, rename and their refusals.
 */
abstract class LifecycleGroup extends ContractGroup {
    LifecycleGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void newInstanceIsStopped(InstanceType type) {
        Instance i = create(type);
        assertEquals(StatusCode.STOPPED, i.statusCode());
        assertEquals(102, i.statusCode().code());
        assertEquals("STOPPED", i.state());
        assertFalse(i.isRunning());
        assertFalse(i.isFrozen());
        assertFalse(i.isSnapshot());
        assertEquals(type, i.type());
    }

    @ForEachInstanceType
    void startRunsTheInstance(InstanceType type) {
        Instance i = create(type);
        i.start(false);
        assertEquals(StatusCode.RUNNING, i.statusCode());
        assertEquals(103, i.statusCode().code());
        assertEquals("RUNNING", i.state());
        assertTrue(i.isRunning());
    }

    @ForEachInstanceType
    void startWhenRunningIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        InstanceStateException e = assertRefused(InstanceStateException.class, "The instance is already running",
                () -> i.start(false));
        assertEquals(StatusCode.RUNNING, e.statusCode());
        assertTrue(i.isRunning());
    }

    @ForEachInstanceType
    void stopWhenStoppedIsRefused(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "The instance is already stopped", () -> i.stop(false));
    }

    @ForEachInstanceType
    void shutdownWhenStoppedIsRefused(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "The instance is already stopped",
                () -> i.shutdown(timeout()));
    }

    @ForEachInstanceType
    void negativeTimeoutsAreRefusedNamingTheValue(InstanceType type) {
        Instance i = create(type);
        // Checked before the state: a negative wait is the caller's mistake whatever the instance does.
        assertRefused(InvalidArgumentException.class, "Invalid shutdown timeout -5000 ms: must be zero or more",
                () -> i.shutdown(Duration.ofSeconds(-5)));
        assertRefused(InvalidArgumentException.class, "Invalid restart timeout -1 ms: must be zero or more",
                () -> i.restart(Duration.ofMillis(-1)));
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void restartWhenStoppedIsRefused(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "The instance is already stopped",
                () -> i.restart(Duration.ZERO));
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void stopStopsAtOnce(InstanceType type) {
        Instance i = createRunning(type);
        i.stop(false);
        assertEquals(StatusCode.STOPPED, i.statusCode());
        assertEquals("STOPPED", i.state());
    }

    @ForEachInstanceType
    void shutdownStopsCleanly(InstanceType type) {
        Instance i = createRunning(type);
        i.shutdown(timeout());
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void restartWithTimeoutKeepsItRunning(InstanceType type) {
        Instance i = createRunning(type);
        i.restart(timeout());
        assertEquals(StatusCode.RUNNING, i.statusCode());
    }

    @ForEachInstanceType
    void restartWithZeroTimeoutStopsHardAndStarts(InstanceType type) {
        Instance i = createRunning(type);
        i.restart(Duration.ZERO);
        assertEquals(StatusCode.RUNNING, i.statusCode());
    }

    @ForEachInstanceType
    void startStopCyclesRepeat(InstanceType type) {
        Instance i = create(type);
        for (int n = 0; n < 3; n++) {
            i.start(false);
            assertTrue(i.isRunning(), "cycle " + n);
            i.stop(false);
            assertFalse(i.isRunning(), "cycle " + n);
        }
    }

    @ForEachInstanceType
    void ephemeralInstanceIsGoneAfterStop(InstanceType type) {
        Instance i = create(args(type).ephemeral(true).build());
        Path path = i.path();
        i.start(false);
        i.stop(false);
        assertTrue(instances().find("default", i.name()).isEmpty(), "ephemeral instance still listed");
        assertFalse(Files.exists(path), "ephemeral instance's directory left behind: " + path);
    }

    @ForEachInstanceType
    void ephemeralInstanceIsGoneAfterShutdown(InstanceType type) {
        Instance i = create(args(type).ephemeral(true).build());
        i.start(false);
        i.shutdown(timeout());
        assertTrue(instances().find("default", i.name()).isEmpty(), "ephemeral instance still listed");
    }

    @ForEachInstanceType
    void restartKeepsAnEphemeralInstance(InstanceType type) {
        Instance i = create(args(type).ephemeral(true).build());
        i.start(false);
        i.restart(Duration.ZERO);
        Instance again = instances().load(i.name());
        assertTrue(again.isRunning());
        assertTrue(again.isEphemeral());
    }

    @ForEachInstanceType
    void deleteOfRunningInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(InstanceStateException.class, "Instance is running", () -> i.delete(false));
        assertRefused(InstanceStateException.class, "Instance is running", () -> i.delete(true));
        assertTrue(instances().find("default", i.name()).isPresent());
    }

    @ForEachInstanceType
    void deleteRemovesTheInstance(InstanceType type) {
        Instance i = create(type);
        Path path = i.path();
        assertTrue(Files.exists(path), "instance directory " + path);
        i.delete(false);
        assertTrue(instances().find("default", i.name()).isEmpty());
        assertRefused(NotFoundException.class, "Instance not found", () -> instances().load(i.name()));
        assertFalse(Files.exists(path), "directory left behind: " + path);
        assertFalse(instances().list().stream().anyMatch(x -> x.name().equals(i.name())));
    }

    @ForEachInstanceType
    void aDeletedInstancesHandlesRefuseEverythingAndRecreateNothing(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s0", null, false);
        Instance snap = i.snapshots().get(0);
        String name = i.name();
        Set<String> before = tree();
        i.delete(true);
        Set<String> after = tree();
        String gone = "Instance not found";
        assertRefused(NotFoundException.class, gone, () -> i.start(false));
        assertRefused(NotFoundException.class, gone, () -> i.stop(false));
        assertRefused(NotFoundException.class, gone, () -> i.shutdown(Duration.ofSeconds(1)));
        assertRefused(NotFoundException.class, gone, () -> i.restart(Duration.ZERO));
        assertRefused(NotFoundException.class, gone, i::freeze);
        assertRefused(NotFoundException.class, gone, i::unfreeze);
        assertRefused(NotFoundException.class, gone, () -> i.snapshot("s1", null, false));
        assertRefused(NotFoundException.class, gone, () -> i.rename(uniqueName("zombie"), false));
        assertRefused(NotFoundException.class, gone, () -> i.update(withConfig(i, "user.k", "v"), true));
        assertRefused(NotFoundException.class, gone, () -> i.volatileSet(Map.of("volatile.cluster.group", "x")));
        assertRefused(NotFoundException.class, gone, () -> i.restore(snap, false));
        assertRefused(NotFoundException.class, gone, () -> i.delete(true));
        assertRefused(NotFoundException.class, gone, () -> snap.delete(false));
        assertRefused(NotFoundException.class, gone, () -> snap.rename("s2", false));
        assertRefused(NotFoundException.class, gone, i::lockExclusive);
        assertEquals(after, tree(), "a refused action writes nothing");
        assertTrue(instances().find("default", name).isEmpty());
        assertTrue(instances().list().isEmpty(), "nothing listed: " + instances().list());
        assertTrue(reopen().list().isEmpty(), "nothing comes back after a reopen");
        assertTrue(before.size() > after.size(), "the delete removed files");
    }

    @ForEachInstanceType
    void deleteProtectionNeedsForce(InstanceType type) {
        Instance i = create(args(type).config("security.protection.delete", "true").build());
        assertRefused(InstanceStateException.class, "Instance has delete protection enabled",
                () -> i.delete(false));
        assertTrue(instances().find("default", i.name()).isPresent());
        i.delete(true);
        assertTrue(instances().find("default", i.name()).isEmpty());
    }

    @ForEachInstanceType
    void deleteThroughInstances(InstanceType type) {
        Instance i = create(type);
        instances().delete("default", i.name(), false);
        assertTrue(instances().find("default", i.name()).isEmpty());
        assertRefused(NotFoundException.class, "Instance not found",
                () -> instances().delete("default", i.name(), false));
    }

    @ForEachInstanceType
    void startupProtectionRefusesStart(InstanceType type) {
        Instance i = create(args(type).config("security.protection.start", "true").build());
        assertRefused(InstanceStateException.class, "Instance has startup protection enabled",
                () -> i.start(false));
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void renameOfRunningInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        String newName = uniqueName("renamed");
        assertRefused(InstanceStateException.class, "Renaming of running instance not allowed",
                () -> i.rename(newName, false));
        assertTrue(instances().find("default", newName).isEmpty());
    }

    @ForEachInstanceType
    void renameMovesTheInstance(InstanceType type) {
        Instance i = create(args(type).config("user.mark", "kept").build());
        String oldName = i.name();
        Path oldPath = i.path();
        String newName = uniqueName("renamed");
        i.rename(newName, false);
        assertEquals(newName, i.name());
        assertTrue(instances().find("default", oldName).isEmpty(), "old name still found");
        Instance loaded = instances().load(newName);
        assertEquals("kept", loaded.localConfig().get("user.mark"));
        assertFalse(Files.exists(oldPath), "old directory left behind");
        assertTrue(Files.exists(loaded.path()), "new directory " + loaded.path());
    }

    @ForEachInstanceType
    void renameToATakenNameIsRefused(InstanceType type) {
        Instance a = create(type);
        Instance b = create(type);
        assertRefused(BusyException.class, "Name \"" + b.name() + "\" already in use",
                () -> a.rename(b.name(), false));
        assertTrue(instances().find("default", a.name()).isPresent());
    }

    @ForEachInstanceType
    void renameResetsTheCloudInitId(InstanceType type) {
        Instance i = create(type);
        assertEquals(i.name(), i.cloudInitId());
        String newName = uniqueName("renamed");
        i.rename(newName, false);
        assertNotEquals(newName, i.cloudInitId(), "rename must give a new cloud-init instance id");
        assertNotNull(i.localConfig().get("volatile.cloud-init.instance-id"));
    }

    @ForEachInstanceType
    void renameWithTemplateTriggerDefersRename(InstanceType type) {
        Instance i = create(type);
        i.rename(uniqueName("renamed"), true);
        assertEquals("rename", i.localConfig().get("volatile.apply_template"));
    }

    @ForEachInstanceType
    void powerStateIsRecorded(InstanceType type) {
        Instance i = create(type);
        i.start(false);
        assertEquals("RUNNING", i.localConfig().get("volatile.last_state.power"));
        i.stop(false);
        assertEquals("STOPPED", i.localConfig().get("volatile.last_state.power"));
    }

    @ForEachInstanceType
    void startRecordsLastUse(InstanceType type) {
        Instance i = create(type);
        assertEquals(Instant.EPOCH, i.lastUsedDate(), "never started");
        Instant before = Instant.now().minusSeconds(1);
        i.start(false);
        assertTrue(i.lastUsedDate().isAfter(before), "last use " + i.lastUsedDate() + " not after " + before);
    }

    @ForEachInstanceType
    void initPidFollowsTheState(InstanceType type) {
        Instance i = create(type);
        assertEquals(-1, i.initPid(), "stopped");
        i.start(false);
        assertTrue(i.initPid() > 0, "running init pid " + i.initPid());
        i.stop(false);
        assertEquals(-1, i.initPid(), "stopped again");
    }

    @ForEachInstanceType
    void statefulStopNeedsMigrationStateful(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(InvalidArgumentException.class, expectedStatefulStop(type), () -> i.stop(true));
        assertTrue(i.isRunning());
    }

    @ForEachInstanceType
    void statefulStartNeedsMigrationStateful(InstanceType type) {
        Instance i = create(type);
        assertRefused(InvalidArgumentException.class, expectedStatefulStart(type), () -> i.start(true));
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void listIsSortedByName(InstanceType type) {
        String suffix = uniqueName("");
        Instance b = create(args(type).name("b" + suffix).build());
        Instance a = create(args(type).name("a" + suffix).build());
        List<String> names = instances().list().stream().map(Instance::name).collect(Collectors.toList());
        assertTrue(names.indexOf(a.name()) >= 0 && names.indexOf(a.name()) < names.indexOf(b.name()),
                "list order " + names);
    }

    @ForEachInstanceType
    void handlesHaveTheirTypesInterface(InstanceType type) {
        Instance i = create(type);
        if (type == InstanceType.VM) {
            assertInstanceOf(VM.class, i);
        } else {
            assertInstanceOf(Container.class, i);
        }
        assertEquals(instances().info(), i.info());
        assertTrue(i.info().isOperational(), "driver info " + i.info());
    }

    private static String expectedStatefulStop(InstanceType type) {
        return type == InstanceType.VM ? "Stateful stop requires migration.stateful to be set to true"
                : "Stateful stop requires the instance to have migration.stateful be set to true";
    }

    private static String expectedStatefulStart(InstanceType type) {
        return type == InstanceType.VM ? "Stateful start requires migration.stateful to be set to true"
                : "Stateful start requires that the instance migration.stateful be set to true";
    }
}
