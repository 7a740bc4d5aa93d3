package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.rest.ApiInstance;
import io.github.incus4j.api.rest.ApiInstanceState;
import java.util.List;

/**
 * The Freezing group of {@link InstanceDriverContract} (its nested {@code Freezing} runs these): freeze and unfreeze,
 * with the container driver's own refusals.
 */
abstract class FreezingGroup extends ContractGroup {
    FreezingGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void freezeAndUnfreeze(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        assertEquals(StatusCode.FROZEN, i.statusCode());
        assertEquals(110, i.statusCode().code());
        assertEquals("FROZEN", i.state());
        assertTrue(i.isFrozen());
        assertTrue(i.isRunning(), "a frozen instance counts as running");
        i.unfreeze();
        assertEquals(StatusCode.RUNNING, i.statusCode());
        assertFalse(i.isFrozen());
    }

    @ForEachInstanceType
    void freezeOfStoppedInstanceIsRefused(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "The instance isn't running", i::freeze);
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void containerFreezeTwiceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        assertRefused(InstanceStateException.class, "The container is already frozen", i::freeze);
        assertTrue(i.isFrozen());
    }

    @ForInstanceType(InstanceType.VM)
    void vmFreezeTwiceIsAccepted(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        i.freeze();
        assertTrue(i.isFrozen());
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void containerUnfreezeOfRunningInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(InstanceStateException.class, "The container is already running", i::unfreeze);
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void containerUnfreezeOfStoppedInstanceIsRefused(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "The container isn't running", i::unfreeze);
    }

    @ForInstanceType(InstanceType.VM)
    void vmUnfreezeOfStoppedInstanceIsRefused(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "The instance isn't running", i::unfreeze);
    }

    @ForEachInstanceType
    void stopOfFrozenInstance(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        i.stop(false);
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void shutdownOfFrozenInstanceThawsFirst(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        i.shutdown(timeout());
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @ForEachInstanceType
    void cleanRestartOfFrozenInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        assertRefused(InstanceStateException.class, "Instance is not running", () -> i.restart(timeout()));
        assertTrue(i.isFrozen());
    }

    @ForEachInstanceType
    void startOfFrozenInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        assertRefused(InstanceStateException.class, "The instance is already running", () -> i.start(false));
    }

    @ForEachInstanceType
    void frozenStateRenders(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        ApiInstanceState s = i.renderState(List.of());
        assertEquals("Frozen", s.status());
        assertEquals(110, s.statusCode());
        assertEquals("Frozen", ((ApiInstance) i.render().value()).status());
    }
}
