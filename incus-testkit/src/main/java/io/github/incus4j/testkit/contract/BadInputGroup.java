package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.regex.Pattern;
import org.apiguardian.api.API;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The BadInput group of {@link InstanceDriverContract} (its nested {@code BadInput} runs these): refusals with Incus's
 * texts, leaving nothing behind.
 */
abstract class BadInputGroup extends ContractGroup {
    BadInputGroup(ContractSupport contract) {
        super(contract);
    }

    @ParameterizedTest(name = "\"{0}\"")
    @CsvSource(delimiter = '|', value = {
        "''|Invalid instance name: Name must be 1-63 characters long",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa|"
            + "Invalid instance name: Name must be 1-63 characters long",
        "-abc|Invalid instance name: Name must not start with \"-\" character",
        "abc-|Invalid instance name: Name must not end with \"-\" character",
        "1234|Invalid instance name: Name cannot be a number",
        "a_b|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "a b|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "a.b|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
        "a/b|The character \"/\" is reserved for snapshots"
    })
    void badInstanceNamesLeaveNothingOnDisk(String name, String message) {
        Instances in = instances();
        for (InstanceType type : dut().instanceTypes()) {
            Set<String> before = tree();
            assertRefused(InvalidArgumentException.class, message,
                    () -> in.create(InstanceArgs.builder(name).type(type).build(), dut().source(type)));
            assertEquals(before, tree(), type + ": a refused create wrote files");
            assertEquals(List.of(), ownInstances(in));
        }
    }

    @ForEachInstanceType
    void unknownKeyLeavesNothingOnDisk(InstanceType type) {
        Instances in = instances();
        Set<String> before = tree();
        // internal/instance/config.go ConfigKeyChecker (Incus 6.0.4: "Failed creating instance record: " + this).
        assertRefused(InvalidArgumentException.class, "Unknown configuration key: foo.bar",
                () -> create(args(type).config("foo.bar", "1").build()));
        assertEquals(before, tree());
        assertEquals(List.of(), ownInstances(in));
    }

    @ForEachInstanceType
    void badValueLeavesNothingOnDisk(InstanceType type) {
        Instances in = instances();
        Set<String> before = tree();
        // Incus 6.0.4: "Invalid value: lots" (shared/units ParseByteSizeString via limits.memory in
        // internal/instance/config.go); incus4j names the key.
        assertRefused(InvalidArgumentException.class, "Invalid value for config key \"limits.memory\": "
                + "Invalid value: lots", () -> create(args(type).config("limits.memory", "lots").build()));
        assertEquals(before, tree());
        assertEquals(List.of(), ownInstances(in));
    }

    @ForEachInstanceType
    void badDeviceNameLeavesNothingOnDisk(InstanceType type) {
        Instances in = instances();
        Set<String> before = tree();
        // Safer than Incus 6.0.4, which accepts "bad/name" ("incus config device add c1 bad/name disk ...");
        // the prefix is Incus's (driver_lxc.go / driver_qemu.go "Invalid devices: %w").
        assertRefused(InvalidArgumentException.class, "Invalid devices: Device validation failed for "
                + "\"bad/name\": Name cannot contain \"/\" (device names are used as file names)",
                () -> create(args(type).device("bad/name", Device.of("type", "disk", "path", "/x")).build()));
        assertEquals(before, tree());
        assertEquals(List.of(), ownInstances(in));
    }

    @ForEachInstanceType
    void duplicateCreateIsBusy(InstanceType type) {
        Instance first = create(args(type).config("user.first", "yes").build());
        Set<String> before = tree();
        assertRefused(BusyException.class, "Instance \"" + first.name() + "\" already exists",
                () -> create(args(type).name(first.name()).build()));
        assertEquals(before, tree(), "the refused create touched the files");
        assertEquals("yes", instances().load(first.name()).localConfig().get("user.first"));
    }

    @Test
    void instanceTypeAnyIsRefused() {
        Instances in = instances();
        Set<String> before = tree();
        // internal/server/instance/instancetype/instance_type.go New.
        assertRefused(InvalidArgumentException.class, "Invalid instance type", () -> in.create(
                InstanceArgs.builder(uniqueName("any")).type(InstanceType.ANY).build(), InstanceSource.none()));
        assertEquals(before, tree());
    }

    @ForEachInstanceType
    void snapshotArgumentsAreRefused(InstanceType type) {
        Instances in = instances();
        Set<String> before = tree();
        // Incus creates snapshots through the same internal call: no API text exists, this one is incus4j's.
        assertRefused(InvalidArgumentException.class,
                "Snapshots are created with Instance.snapshot, not Instances.create",
                () -> create(args(type).snapshot(true).build()));
        assertEquals(before, tree());
    }

    @ForEachInstanceType
    void unknownTemplateLeavesNothingOnDisk(InstanceType type) {
        Instances in = instances();
        Set<String> before = tree();
        // Incus has images, not templates; an unknown one is a 404 there ("Image alias not found",
        // internal/server/db/images.go): the driver's text names the template and what it provides.
        assertRefusedNaming(NotFoundException.class, "Unknown template \"no-such-template\"", "no-such-template",
                () -> in.create(args(type).build(), InstanceSource.template("no-such-template", Map.of())));
        assertEquals(before, tree());
        assertEquals(List.of(), ownInstances(in));
    }

    @ForEachInstanceType
    void missingImageLeavesNothingOnDisk(InstanceType type) {
        Instances in = instances();
        Set<String> before = tree();
        Path missing = scratch().resolve("missing.tar.gz");
        // A 404 as for Incus's "Image not found" (internal/server/db/images.go), naming the host file.
        assertRefused(NotFoundException.class, "Image tarball \"" + missing + "\" not found",
                () -> in.create(args(type).build(), InstanceSource.image(missing)));
        assertEquals(before, tree());
        assertEquals(List.of(), ownInstances(in));
    }

    @ForEachInstanceType
    void garbageImageLeavesNothingOnDisk(InstanceType type) throws IOException {
        Path garbage = scratch().resolve("garbage.tar");
        byte[] junk = new byte[4096];
        new Random(1).nextBytes(junk);
        Files.write(garbage, junk);
        Instances in = instances();
        Set<String> before = tree();
        // The reason after the path is the parser's (tar, metadata.yaml): the refusal names the host file.
        assertRefusedNaming(InvalidArgumentException.class, "Invalid image \"" + garbage + "\": ",
                garbage.toString(), () -> in.create(args(type).build(), InstanceSource.image(garbage)));
        assertEquals(before, tree());
        assertEquals(List.of(), ownInstances(in));
    }

    @ForEachInstanceType
    void missingRootfsDirectoryLeavesNothingOnDisk(InstanceType type) {
        Instances in = instances();
        Set<String> before = tree();
        Path missing = scratch().resolve("no-such-dir");
        // Incus has no such source (incus-migrate's): a 404 naming the host path; VM drivers may take a disk
        // image file there and say so.
        assertRefused(NotFoundException.class, Pattern.compile("(Root filesystem directory|Disk image) "
                + Pattern.quote("\"" + missing + "\"") + " not found(: .+)?"),
                () -> in.create(args(type).build(), InstanceSource.rootfs(missing)));
        assertEquals(before, tree());
        assertEquals(List.of(), ownInstances(in));
    }

    @Test
    void missingInstancesAreNotFound() {
        Instances in = instances();
        assertTrue(in.find("default", "missing").isEmpty());
        assertTrue(in.find("default", "missing/snap").isEmpty());
        assertTrue(in.find("other", "missing").isEmpty());
        assertRefused(NotFoundException.class, "Instance not found", () -> in.load("missing"));
    }

    @ForEachInstanceType
    void renameToBadNamesIsRefused(InstanceType type) {
        Instance i = create(type);
        String name = i.name();
        assertRefused(InvalidArgumentException.class, "Invalid instance name: Name cannot be a number",
                () -> i.rename("42", false));
        assertRefused(InvalidArgumentException.class, "The character \"/\" is reserved for snapshots",
                () -> i.rename("a/b", false));
        assertEquals(name, i.name());
        assertTrue(instances().find("default", name).isPresent());
    }

    @ForEachInstanceType
    void liveMigrationNeedsMigrationStateful(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(InvalidArgumentException.class, "Live migration requires migration.stateful to be set to true",
                () -> i.migrateSend(new MigrateSendArgs(unusableMigrateArgs(true), false)));
        assertTrue(i.isRunning());
    }

    @ForEachInstanceType
    void receivingIntoARunningInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        // The target may tell the source why, as Incus's sink does (a failed control message); nothing else moves.
        List<io.github.incus4j.api.migration.MigrationMessage> told = new java.util.concurrent.CopyOnWriteArrayList<>();
        MigrateArgs u = unusableMigrateArgs(false);
        MigrateArgs args = new MigrateArgs(told::add, u.controlReceive(), u.stateConn(), u.filesystemConn(),
                u.snapshots(), u.live(), null, null, null);
        assertRefused(InstanceStateException.class, "Instance is running",
                () -> i.migrateReceive(new MigrateReceiveArgs(args, null, false, false)));
        for (io.github.incus4j.api.migration.MigrationMessage m : told) {
            assertFalse(m.success(), "only a refusal may be sent: " + m);
            assertEquals("Instance is running", m.message());
        }
        assertTrue(i.isRunning());
    }

    @ForEachInstanceType
    void snapshotsRefuseInstanceActions(InstanceType type) {
        String name = uniqueName("ct");
        Instance i = create(args(type).name(name).build());
        i.snapshot("s1", null, false);
        Instance s = i.snapshots().get(0);
        // Incus has no routes for these (its CLI says "Invalid instance name"): incus4j's texts name the
        // snapshot.
        String snap = "\"" + name + "/s1\"";
        assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for start: " + snap,
                () -> s.start(false));
        assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for console: " + snap,
                () -> s.console("console"));
        assertRefused(InvalidArgumentException.class, "Snapshots cannot be modified",
                () -> s.volatileSet(Map.of("volatile.x", "1")));
        assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for update: " + snap,
                () -> s.update(argsOf(i).build(), true));
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void badProjectNameIsRefused(InstanceType type) {
        Instances in = instances();
        Set<String> before = tree();
        assertRefused(InvalidArgumentException.class, "Project names may not contain underscores",
                () -> create(args(type).project("bad_project").build()));
        assertEquals(before, tree());
    }

    @ForEachInstanceType
    void reloadOfUnknownDeviceIsNotFound(InstanceType type) {
        Instance i = create(type);
        assertRefused(NotFoundException.class, "Device \"nope\" not found", () -> i.reloadDevice("nope"));
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void containersRefuseUnknownHooks(InstanceType type) {
        Instance i = create(type);
        assertRefused(InvalidArgumentException.class, "Invalid stop target \"halt\"",
                () -> i.onHook("onstop", Map.of("target", "halt")));
    }

    /** Migration arguments whose connections fail: for requests that must be refused before anything is sent. */
    private static MigrateArgs unusableMigrateArgs(boolean live) {
        return new MigrateArgs(m -> fail("nothing may be sent"), t -> fail("nothing may be received"),
                t -> fail("no state connection expected"), t -> fail("no filesystem connection expected"), true,
                live, null, null, null);
    }
}
