package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.rest.ApiInstanceSnapshot;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The Snapshots group of {@link InstanceDriverContract} (its nested {@code Snapshots} runs these): snapshot creation,
 * listing, expiry, restore, rename and delete.
 */
abstract class SnapshotsGroup extends ContractGroup {
    SnapshotsGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void snapshotIsNamedParentSlashName(InstanceType type) {
        Instance i = create(type);
        i.snapshot("snap0", null, false);
        List<Instance> snaps = i.snapshots();
        assertEquals(1, snaps.size());
        Instance s = snaps.get(0);
        assertEquals(i.name() + "/snap0", s.name());
        assertTrue(s.isSnapshot());
        assertEquals(StatusCode.STOPPED, s.statusCode());
        assertTrue(s.expiryDate().isEmpty(), "no expiry given");
        assertEquals(type, s.type());
        assertEquals(List.of(), s.snapshots(), "a snapshot has no snapshots");
    }

    @ForEachInstanceType
    void snapshotsAreListedOldestFirst(InstanceType type) {
        Instance i = create(type);
        for (String n : List.of("zeta", "alpha", "mid")) {
            i.snapshot(n, null, false);
        }
        assertEquals(List.of(i.name() + "/zeta", i.name() + "/alpha", i.name() + "/mid"), snapshotNames(i));
    }

    @ForEachInstanceType
    void snapshotKeepsItsExpiry(InstanceType type) {
        Instance i = create(type);
        Instant expiry = nowSeconds().plus(Duration.ofDays(3));
        i.snapshot("expiring", expiry, false);
        Instance s = i.snapshots().get(0);
        assertEquals(expiry, s.expiryDate().orElseThrow());
        assertEquals(expiry, ((ApiInstanceSnapshot) s.render().value()).expiresAt());
    }

    @ForEachInstanceType
    void snapshotCapturesTheConfigOfItsTime(InstanceType type) {
        Instance i = create(args(type).config("user.v", "1").build());
        i.snapshot("s1", null, false);
        i.update(withConfig(i, "user.v", "2"), true);
        assertEquals("1", i.snapshots().get(0).localConfig().get("user.v"));
    }

    @ForEachInstanceType
    void duplicateSnapshotNameIsRefused(InstanceType type) {
        String name = uniqueName("ct");
        Instance i = create(args(type).name(name).build());
        i.snapshot("s1", null, false);
        // internal/server/instance/instance_utils.go CreateInternal: "%s %q already exists" with the full name.
        assertRefused(BusyException.class, "Snapshot \"" + name + "/s1\" already exists",
                () -> i.snapshot("s1", null, false));
        assertEquals(1, i.snapshots().size());
    }

    @ParameterizedTest(name = "\"{0}\"")
    @CsvSource(delimiter = '|', value = {
        "a b|Invalid instance snapshot name: Cannot contain space or / characters",
        "a/b|Invalid instance snapshot name: Cannot contain space or / characters",
        "''|Invalid instance snapshot name: Names must start and end with an alphanumeric character",
        "-x|Invalid instance snapshot name: Names must start and end with an alphanumeric character",
        "a$b|Invalid instance snapshot name: Name contains invalid character \"$\"",
        "a*b|Invalid instance snapshot name: Name contains invalid character \"*\""
    })
    void badSnapshotNamesLeaveNothingBehind(String name, String message) {
        for (InstanceType type : dut().instanceTypes()) {
            Instance i = create(type);
            Set<String> before = tree();
            assertRefused(InvalidArgumentException.class, message, () -> i.snapshot(name, null, false));
            assertEquals(List.of(), i.snapshots(), type + ": no snapshot");
            assertEquals(before, tree(), type + ": a refused snapshot wrote files");
        }
    }

    @ForEachInstanceType
    void snapshotOfSnapshotIsRefused(InstanceType type) {
        String name = uniqueName("ct");
        Instance i = create(args(type).name(name).build());
        i.snapshot("s1", null, false);
        Instance s = i.snapshots().get(0);
        // Incus has no route for it (its CLI says "Invalid instance name: c1/s1"): incus4j's text names it.
        assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for snapshot: \"" + name + "/s1\"",
                () -> s.snapshot("s2", null, false));
        assertEquals(1, i.snapshots().size());
    }

    @ForEachInstanceType
    void snapshotsAreFoundByFullName(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        Instance s = instances().find("default", i.name() + "/s1").orElseThrow();
        assertTrue(s.isSnapshot());
        assertEquals(i.name() + "/s1", s.name());
        assertTrue(instances().find("default", i.name() + "/nope").isEmpty());
        assertFalse(instances().list().stream().anyMatch(Instance::isSnapshot), "list has no snapshots");
    }

    @ForEachInstanceType
    void deleteSnapshot(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        i.snapshot("s2", null, false);
        i.snapshots().get(0).delete(false);
        assertEquals(List.of(i.name() + "/s2"), snapshotNames(i));
        assertTrue(instances().find("default", i.name() + "/s1").isEmpty());
        assertEquals(List.of(i.name() + "/s2"), snapshotNames(reopen().load(i.name())));
    }

    @ForEachInstanceType
    void deleteOfADeletedSnapshotIsNotFound(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        Instance s = i.snapshots().get(0);
        s.delete(false);
        // Incus: 'Failed to fetch snapshot "s1" of instance "c1" in project "default": Instance_snapshot not
        // found' (cmd/incusd/instance_snapshot.go around the db mapper's 404); incus4j names the snapshot alike.
        assertRefused(NotFoundException.class, "Snapshot \"s1\" not found", () -> s.delete(false));
    }

    @ForEachInstanceType
    void renameSnapshot(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        i.snapshots().get(0).rename("renamed", false);
        assertEquals(List.of(i.name() + "/renamed"), snapshotNames(i));
        assertTrue(instances().find("default", i.name() + "/s1").isEmpty());
        assertTrue(instances().find("default", i.name() + "/renamed").isPresent());
    }

    @ForEachInstanceType
    void renameSnapshotToATakenNameIsRefused(InstanceType type) {
        String name = uniqueName("ct");
        Instance i = create(args(type).name(name).build());
        i.snapshot("s1", null, false);
        i.snapshot("s2", null, false);
        // cmd/incusd/instance_snapshot.go snapshotPost: "Name '%s' already in use" with the full name.
        assertRefused(BusyException.class, "Name '" + name + "/s2' already in use",
                () -> i.snapshots().get(0).rename("s2", false));
        assertEquals(List.of(i.name() + "/s1", i.name() + "/s2"), snapshotNames(i));
    }

    @ForEachInstanceType
    void renameOfInstanceRenamesItsSnapshots(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        String newName = uniqueName("renamed");
        i.rename(newName, false);
        assertEquals(List.of(newName + "/s1"), snapshotNames(instances().load(newName)));
        assertTrue(instances().find("default", newName + "/s1").isPresent());
    }

    @ForEachInstanceType
    void restoreBringsTheConfigBack(InstanceType type) {
        Instance i = create(args(type).config("user.v", "1").description("then").build());
        i.snapshot("s1", null, false);
        i.update(argsOf(i).config("user.v", "2").config("user.extra", "x").description("now").build(), true);
        i.restore(i.snapshots().get(0), false);
        assertEquals("1", i.localConfig().get("user.v"));
        assertFalse(i.localConfig().containsKey("user.extra"));
        assertEquals("then", i.description());
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void restoreOfRunningInstanceKeepsItRunning(InstanceType type) {
        Instance i = createRunning(type);
        i.snapshot("s1", null, false);
        assertTrue(i.isRunning(), "a snapshot leaves the instance running");
        i.restore(i.snapshots().get(0), false);
        assertTrue(i.isRunning(), "restored instance runs again");
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.FILES)
    void restoreBringsTheFilesBack(InstanceType type) {
        Instance i = filesInstance(type);
        writeFile(i, "/root/data.txt", "version 1");
        i.snapshot("s1", null, false);
        writeFile(i, "/root/data.txt", "version 2");
        writeFile(i, "/root/later.txt", "added after the snapshot");
        i.restore(i.snapshots().get(0), false);
        assertEquals("version 1", readFile(i, "/root/data.txt"));
        try (SftpClient sftp = i.fileSftp()) {
            assertFalse(sftp.exists("/root/later.txt"), "file added after the snapshot survived the restore");
        }
    }

    @ForEachInstanceType
    void restoreOfAnotherInstancesSnapshotIsRefused(InstanceType type) {
        String na = uniqueName("ct");
        String nb = uniqueName("ct");
        Instance a = create(args(type).name(na).build());
        Instance b = create(args(type).name(nb).build());
        b.snapshot("s1", null, false);
        // Incus hands another instance's snapshot to the storage driver, which says "Snapshot not found"
        // (storage/drivers/driver_dir_volumes.go); incus4j refuses before touching storage, naming both.
        assertRefused(NotFoundException.class, "Snapshot \"" + nb + "/s1\" of instance \"" + na + "\" not found",
                () -> a.restore(b.snapshots().get(0), false));
        assertRefused(NotFoundException.class, "Snapshot \"" + nb + "\" of instance \"" + na + "\" not found",
                () -> a.restore(b, false));
    }

    @ForEachInstanceType
    void statefulRestoreOfStatelessSnapshotIsRefused(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        assertRefused(InvalidArgumentException.class,
                "Stateful snapshot restore requested but snapshot is stateless",
                () -> i.restore(i.snapshots().get(0), true));
    }

    @ForEachInstanceType
    void statefulSnapshotNeedsMigrationStateful(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(InvalidArgumentException.class, expectedStatefulSnapshot(type),
                () -> i.snapshot("s1", null, true));
        assertEquals(List.of(), i.snapshots());
    }

    @ForEachInstanceType
    void statefulSnapshotOfStoppedInstanceIsRefused(InstanceType type) {
        Instance i = create(args(type).config("migration.stateful", "true").build());
        assertRefused(InstanceStateException.class,
                "Unable to create a stateful snapshot. The instance isn't running",
                () -> i.snapshot("s1", null, true));
    }

    @ForEachInstanceType
    void deleteOfInstanceRemovesSnapshotsFromDisk(InstanceType type) {
        Instance i = create(type);
        i.snapshot("s1", null, false);
        i.snapshot("s2", null, false);
        String name = i.name();
        i.delete(false);
        assertTrue(instances().find("default", name + "/s1").isEmpty());
        Set<String> left = tree().stream().filter(p -> Arrays.asList(p.split("/")).contains(name))
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(Set.of(), left, "files of the deleted instance left under the root");
    }

    private static String expectedStatefulSnapshot(InstanceType type) {
        return type == InstanceType.VM ? "Stateful snapshot requires migration.stateful to be set to true"
                : "Stateful snapshots require that the instance has migration.stateful be set to true";
    }
}
