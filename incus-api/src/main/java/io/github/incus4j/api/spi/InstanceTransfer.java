package io.github.incus4j.api.spi;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.migration.MigrationWire;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.operation.ProgressTracker;
import java.io.OutputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * An instance leaving or arriving whole, Incus's {@code MigrateSend}, {@code MigrateReceive} and {@code Export}: the
 * preconditions and locks around the driver's {@code doMigrateSend}, {@code doMigrateReceive} and {@code doExport}
 * hooks, a target's refusal sent to the waiting source before anything is received, and the received definition
 * adopted under the target's own name and project.
 */
final class InstanceTransfer {
    private final AbstractInstance instance;

    InstanceTransfer(AbstractInstance instance) {
        this.instance = instance;
    }

    /** {@link Instance#migrateSend}. */
    void send(MigrateSendArgs sendArgs) {
        instance.requireInstance("migrate");
        Objects.requireNonNull(sendArgs, "args");
        if (sendArgs.common().live() && !instance.canLiveMigrate()) {
            throw new InvalidArgumentException(ErrorTexts.LIVE_MIGRATION_NEEDS_STATEFUL);
        }
        InstanceOperation op;
        try {
            op = instance.owner().locks().create(instance.args().project(), instance.args().name(),
                    instance.operation().orElse(null), OperationLocks.Action.MIGRATE, false, true);
        } catch (BusyException e) {
            throw new BusyException(ErrorTexts.ALREADY_MIGRATING, e);
        }
        instance.runHeld(op, () -> instance.doMigrateSend(sendArgs));
    }

    /** {@link Instance#migrateReceive}. */
    void receive(MigrateReceiveArgs receiveArgs) {
        instance.requireInstance("migrate");
        Objects.requireNonNull(receiveArgs, "args");
        // Refusals before anything is received tell the source at once (it waits for the target's answer).
        if (instance.isRunning()) {
            throw MigrationWire.abandon(receiveArgs.common(),
                    new InstanceStateException(ErrorTexts.INSTANCE_IS_RUNNING, instance.statusCode()));
        }
        if (receiveArgs.instanceOperation() != null) {
            instance.doMigrateReceive(receiveArgs);
            return;
        }
        InstanceOperation op;
        try {
            op = instance.owner().locks().create(instance.args().project(), instance.args().name(),
                    instance.operation().orElse(null), OperationLocks.Action.CREATE, false, false);
        } catch (IncusException e) {
            throw MigrationWire.abandon(receiveArgs.common(), e);
        }
        instance.runHeld(op, () -> instance.doMigrateReceive(receiveArgs));
    }

    /** See {@link AbstractInstance#adoptDefinition}; the caller holds the instance's monitor. */
    void adopt(InstanceRecord received) {
        InstanceArgs args = instance.args();
        InstanceArgs src = received.instance();
        InstanceArgs merged = args.toBuilder().config(src.config()).devices(src.devices()).profiles(src.profiles())
                .description(src.description()).ephemeral(src.ephemeral()).architecture(src.architecture())
                .stateful(src.stateful()).build();
        List<InstanceArgs> snaps = new ArrayList<>();
        for (InstanceArgs s : received.snapshots()) {
            snaps.add(s.toBuilder().project(args.project())
                    .name(NameRules.snapshotFullName(instance.name(), NameRules.snapshotPart(s.name()))).build());
        }
        instance.setDefinition(merged, snaps);
        instance.persist();
    }

    /** {@link Instance#export}. */
    ImageMetadata export(OutputStream meta, OutputStream rootfs, Map<String, String> properties, Instant expiration,
            ProgressTracker tracker) {
        Objects.requireNonNull(meta, "meta");
        instance.requireExists();
        if (instance.isRunning()) {
            throw new InstanceStateException(ErrorTexts.EXPORT_RUNNING, instance.statusCode());
        }
        return instance.doExport(meta, rootfs, properties == null ? Map.of() : properties, expiration, tracker);
    }
}
