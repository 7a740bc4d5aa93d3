package io.github.incus4j.testkit.contract;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Small contracts for {@link ContractGatingTest}, which runs them through the JUnit Platform's {@code EngineTestKit}
 * with chosen capabilities and instance types. They are not tests of their own: the class name matches no test
 * pattern, and run any other way they are disabled.
 */
final class GatingSamples {
    /** The configuration parameter {@link ContractGatingTest} sets; without it the samples do not run. */
    static final String ENABLED = "incus4j.gating-samples";

    /** What ran, in order: "<sample>.<test>" or "<sample>.<test>(<type>)". */
    static final Queue<String> RAN = new ConcurrentLinkedQueue<>();

    private GatingSamples() {
    }

    /** Disables the samples outside {@link ContractGatingTest}. */
    static final class OnlyFromTheGatingTest implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            return context.getConfigurationParameter(ENABLED).isPresent()
                    ? ConditionEvaluationResult.enabled("run by ContractGatingTest")
                    : ConditionEvaluationResult.disabled("a sample for ContractGatingTest, not a test of its own");
        }
    }

    /** A driver that only declares: nothing is ever opened. */
    record Declared(String name, Set<Capability> capabilities, Set<InstanceType> types) implements DriverUnderTest {
        @Override
        public Instances open(Path root) {
            throw new UnsupportedOperationException("the gating samples open no driver");
        }

        @Override
        public InstanceSource source(InstanceType type) {
            throw new UnsupportedOperationException("the gating samples create no instance");
        }

        @Override
        public Set<InstanceType> instanceTypes() {
            return types == null ? DriverUnderTest.super.instanceTypes() : types;
        }
    }

    /** The same tests for every sample driver; the subclasses choose the driver. */
    @ExtendWith(OnlyFromTheGatingTest.class)
    abstract static class Sample extends ContractSupport {
        private final DriverUnderTest driver;

        Sample(String name, Set<Capability> capabilities, Set<InstanceType> types) {
            driver = new Declared(name, capabilities, types);
        }

        @Override
        protected DriverUnderTest driver() {
            return driver;
        }

        void ran(String test) {
            RAN.add(driver.name() + "." + test);
        }

        @Test
        void ungated() {
            ran("ungated");
        }

        @Test
        @RequiresCapability({Capability.EXEC, Capability.FILES})
        void execAndFiles() {
            ran("execAndFiles");
        }

        @ForEachInstanceType
        void eachType(InstanceType type) {
            ran("eachType(" + type.name() + ")");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void containerOnly(InstanceType type) {
            ran("containerOnly(" + type.name() + ")");
        }

        @ForInstanceType(InstanceType.VM)
        void vmOnly(InstanceType type) {
            ran("vmOnly(" + type.name() + ")");
        }

        @Nested
        @RequiresCapability(Capability.FREEZE)
        class Freezing {
            @Test
            void inGroup() {
                ran("Freezing.inGroup");
            }

            @ForEachInstanceType
            void eachTypeInGroup(InstanceType type) {
                ran("Freezing.eachTypeInGroup(" + type.name() + ")");
            }

            /** Needs the group's capability and its own: a driver lacking both is told both. */
            @Test
            @RequiresCapability(Capability.FILES)
            void filesInGroup() {
                ran("Freezing.filesInGroup");
            }

            @Nested
            class Deeper {
                @Test
                void inInnerGroup() {
                    ran("Freezing.Deeper.inInnerGroup");
                }
            }
        }

        /** CGROUPS concerns containers only: a driver running no containers does not lack it. */
        @Nested
        @RequiresCapability(Capability.CGROUPS)
        class CGroups {
            @ForInstanceType(InstanceType.CONTAINER)
            void cgroup(InstanceType type) {
                ran("CGroups.cgroup(" + type.name() + ")");
            }
        }
    }

    /** Containers, exec and freezing: no files, no VMs, no cgroups. */
    static class ContainersOnly extends Sample {
        ContainersOnly() {
            super("containers-only", EnumSet.of(Capability.CONTAINERS, Capability.EXEC, Capability.FREEZE), null);
        }
    }

    /** VMs with everything else a VM can have: CGROUPS is not declared and not needed. */
    static class VmsOnly extends Sample {
        VmsOnly() {
            super("vms-only", EnumSet.complementOf(EnumSet.of(Capability.CONTAINERS, Capability.CGROUPS)), null);
        }
    }

    /** Every capability. */
    static class Everything extends Sample {
        Everything() {
            super("everything", EnumSet.allOf(Capability.class), null);
        }
    }

    /** Declares both types as capabilities but narrows the instance types to VMs. */
    static class NarrowedTypes extends Sample {
        NarrowedTypes() {
            super("narrowed", EnumSet.allOf(Capability.class), EnumSet.of(InstanceType.VM));
        }
    }

    /** Runs no instance type at all: a broken declaration. */
    static class NoTypes extends Sample {
        NoTypes() {
            super("no-types", EnumSet.of(Capability.EXEC, Capability.FILES, Capability.FREEZE), null);
        }
    }

    /** Containers only, nothing else: every gated group and test is skipped, naming all it lacks. */
    static class Bare extends Sample {
        Bare() {
            super("bare", EnumSet.of(Capability.CONTAINERS), null);
        }
    }

    /** Every sample, for the listing below. */
    static final List<Class<?>> ALL = List.of(ContainersOnly.class, VmsOnly.class, Everything.class,
            NarrowedTypes.class, NoTypes.class, Bare.class);
}
