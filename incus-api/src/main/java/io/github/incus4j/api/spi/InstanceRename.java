package io.github.incus4j.api.spi;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.model.InstanceArgs;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Renaming one instance, Incus's {@code Rename}: the preconditions, both names locked (the old one for the update,
 * the new one as a create, so no create, rename or delete of the new name runs meanwhile), the session's registry
 * moved first and put back if the driver's {@code doRename} fails, then the snapshots renamed along, a new
 * cloud-init instance id and the deferred rename template recorded. Snapshot renames are {@link InstanceSnapshots}'.
 */
final class InstanceRename {
    private final AbstractInstance instance;

    InstanceRename(AbstractInstance instance) {
        this.instance = instance;
    }

    /** {@link Instance#rename} of an instance (not a snapshot). */
    void rename(String newName, boolean applyTemplateTrigger) {
        NameRules.validateInstanceName(newName, false);
        instance.requireExists();
        if (instance.isRunning()) {
            throw new InstanceStateException(ErrorTexts.RENAME_RUNNING, instance.statusCode());
        }
        if (newName.equals(instance.name())) {
            return;
        }
        OperationLocks locks = instance.owner().locks();
        InstanceOperation renaming = locks.create(instance.args().project(), instance.args().name(),
                instance.operation().orElse(null), OperationLocks.Action.UPDATE, false, false);
        // The new name is locked too, as a create: no create, rename or delete of that name can run meanwhile.
        InstanceOperation target;
        try {
            target = locks.create(instance.args().project(), newName, instance.operation().orElse(null),
                    OperationLocks.Action.CREATE, false, false);
        } catch (RuntimeException e) {
            renaming.done(e);
            throw e;
        }
        try {
            instance.runHeld(renaming, () -> renameLocked(newName, applyTemplateTrigger));
        } finally {
            target.done(null);
        }
    }

    private void renameLocked(String newName, boolean applyTemplateTrigger) {
        synchronized (instance) {
            instance.requireExists();
            InstanceArgs args = instance.args();
            String oldName = instance.name();
            String oldFull = instance.fullName();
            String newFull = AbstractInstances.key(args.project(), newName);
            renameInRegistry(oldName, newName);
            try {
                instance.doRename(oldFull, newFull);
            } catch (RuntimeException e) {
                unrenameInRegistry(oldName, newName);
                throw e;
            }
            List<InstanceArgs> snaps = new ArrayList<>();
            for (InstanceArgs s : instance.snapshotArgs()) {
                snaps.add(s.toBuilder().name(NameRules.snapshotFullName(newName, NameRules.snapshotPart(s.name())))
                        .build());
            }
            Map<String, String> c = new HashMap<>(args.config());
            c.put("volatile.cloud-init.instance-id", UUID.randomUUID().toString());
            if (applyTemplateTrigger && !c.containsKey("volatile.apply_template")) {
                c.put("volatile.apply_template", TemplateTrigger.RENAME.value());
            }
            instance.setDefinition(args.toBuilder().name(newName).config(c).build(), snaps);
            instance.persist();
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void renameInRegistry(String oldName, String newName) {
        ((AbstractInstances) instance.owner()).rename(instance, instance.args().project(), oldName, newName);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void unrenameInRegistry(String oldName, String newName) {
        ((AbstractInstances) instance.owner()).unrename(instance, instance.args().project(), oldName, newName);
    }
}
