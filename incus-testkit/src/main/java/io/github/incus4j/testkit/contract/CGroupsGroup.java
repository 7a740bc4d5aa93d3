package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.cgroup.CGroup;

/**
 * The CGroups group of {@link InstanceDriverContract} (its nested {@code CGroups} runs these): the container cgroup
 * handle.
 */
abstract class CGroupsGroup extends ContractGroup {
    CGroupsGroup(ContractSupport contract) {
        super(contract);
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void runningContainerReportsUsage(InstanceType type) {
        Instance i = createRunning(type);
        CGroup cg = i.cgroup();
        assertTrue(cg.memoryUsage() > 0, "memory.current");
        assertTrue(cg.processes() >= 1, "pids.current");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void setThenGet(InstanceType type) {
        Instance i = createRunning(type);
        i.cgroup().setMemoryLimit(64L << 20);
        assertEquals(64L << 20, i.cgroup().memoryLimit().getAsLong());
        i.cgroup().setMemoryLimit(-1);
        assertTrue(i.cgroup().memoryLimit().isEmpty(), "no limit after -1");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void setOnStoppedContainerIsRefused(InstanceType type) {
        Instance i = create(type);
        // driver_lxc.go cgroup set on a stopped container.
        assertRefused(InstanceStateException.class, "Can't set cgroups on a stopped container",
                () -> i.cgroup().set("memory.max", "1000000"));
    }
}
