package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.model.InstanceArgs;
import java.nio.file.Path;
import java.util.List;

/**
 * The Migration group of {@link InstanceDriverContract} (its nested {@code Migration} runs these): moving an instance
 * from one root to another through {@link DriverUnderTest#migrationPipe()}.
 */
abstract class MigrationGroup extends ContractGroup {
    MigrationGroup(ContractSupport contract) {
        super(contract);
    }

    /** Sends {@code source} to a new instance of the same name on {@code target}, both ends in parallel. */
    private Instance migrate(Instance source, Instances target, boolean snapshots) {
        Instance receiver = target.create(InstanceArgs.builder(source.name()).type(source.type()).build(),
                InstanceSource.none());
        MigrationPipe pipe = dut().migrationPipe();
        try {
            List<Throwable> failures = inParallel(2, side -> {
                if (side == 0) {
                    source.migrateSend(new MigrateSendArgs(withFlags(pipe.sender(), snapshots, false), false));
                } else {
                    receiver.migrateReceive(new MigrateReceiveArgs(withFlags(pipe.receiver(), snapshots, false),
                            null, false, false));
                }
            });
            for (int n = 0; n < 2; n++) {
                if (failures.get(n) != null) {
                    fail((n == 0 ? "migrateSend" : "migrateReceive") + " failed", failures.get(n));
                }
            }
        } finally {
            try {
                pipe.closer().close();
            } catch (Exception e) {
                fail("closing the migration pipe", e);
            }
        }
        return target.load(source.name());
    }

    @ForEachInstanceType
    void instanceMovesWithItsSnapshots(InstanceType type) {
        Instance source = create(args(type).description("travelling").config("user.k", "v").build());
        source.snapshot("s1", null, false);
        source.snapshot("s2", null, false);
        Path targetRoot = root().resolveSibling("target-root");
        Instances target = openMigrationTarget(targetRoot);
        Instance moved = migrate(source, target, true);
        assertEquals(type, moved.type());
        assertEquals("travelling", moved.description());
        assertEquals("v", moved.localConfig().get("user.k"));
        assertEquals(List.of(moved.name() + "/s1", moved.name() + "/s2"), snapshotNames(moved));
        assertTrue(instances().find("default", source.name()).isPresent(), "the source stays until deleted");
        target.close();
        assertEquals(List.of(moved.name() + "/s1", moved.name() + "/s2"),
                snapshotNames(openMigrationTarget(targetRoot).load(moved.name())), "the received instance is durable");
    }

    @ForEachInstanceType
    void snapshotsStayBehindWhenNotAsked(InstanceType type) {
        Instance source = create(type);
        source.snapshot("s1", null, false);
        Instance moved = migrate(source, openMigrationTarget(root().resolveSibling("target-root")), false);
        assertEquals(List.of(), moved.snapshots());
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.FILES)
    void filesArrive(InstanceType type) {
        Instance source = filesInstance(type);
        writeFile(source, "/srv/moved.txt", "moved with the instance");
        if (source.isRunning()) {
            source.stop(false);
        }
        Instance moved = migrate(source, openMigrationTarget(root().resolveSibling("target-root")), true);
        if (type == InstanceType.VM) {
            moved.start(false);
        }
        assertEquals("moved with the instance", readFile(moved, "/srv/moved.txt"));
    }

    private static MigrateArgs withFlags(MigrateArgs a, boolean snapshots, boolean live) {
        return new MigrateArgs(a.controlSend(), a.controlReceive(), a.stateConn(), a.filesystemConn(), snapshots,
                live, a.disconnect(), a.clusterMoveSourceName(), a.storagePool());
    }
}
