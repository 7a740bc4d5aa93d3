package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.TestDescriptor;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.TestSource;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;
import org.junit.platform.testkit.engine.EventType;

/**
 * The gating of the contract checked from outside: {@link GatingSamples}' small contracts run through the JUnit
 * Platform with chosen capabilities and instance types, and every test that did not pass is listed with how it ended
 * and why. A test that does not run must show up as skipped (or failed) with its reason, never vanish.
 */
class ContractGatingTest {

    /** Runs {@code sample}; returns what ran and, for everything else, "name: OUTCOME reason". */
    private static Outcome run(Class<?> sample) {
        GatingSamples.RAN.clear();
        EngineExecutionResults results = EngineTestKit.engine("junit-jupiter")
                .configurationParameter(GatingSamples.ENABLED, "true")
                .selectors(DiscoverySelectors.selectClass(sample))
                .execute();
        Map<String, String> notPassed = new TreeMap<>();
        for (Event e : results.allEvents().list()) {
            TestDescriptor d = e.getTestDescriptor();
            if (e.getType() == EventType.SKIPPED) {
                notPassed.put(name(d), "SKIPPED " + e.getPayload(String.class).orElse("(no reason)"));
            } else if (e.getType() == EventType.FINISHED) {
                TestExecutionResult r = e.getRequiredPayload(TestExecutionResult.class);
                if (r.getStatus() != TestExecutionResult.Status.SUCCESSFUL) {
                    notPassed.put(name(d), r.getStatus() + " "
                            + r.getThrowable().map(Throwable::getMessage).orElse("(no reason)"));
                }
            }
        }
        List<String> ran = new ArrayList<>(GatingSamples.RAN);
        return new Outcome(ran, notPassed);
    }

    /** A test's method name, or a group's simple class name (after its enclosing class's). */
    private static String name(TestDescriptor d) {
        TestSource s = d.getSource().orElseThrow();
        if (s instanceof MethodSource m) {
            return m.getMethodName() + (d.getParent().flatMap(TestDescriptor::getSource)
                    .filter(p -> p instanceof MethodSource).isPresent() ? "[" + d.getDisplayName() + "]" : "");
        }
        String n = ((ClassSource) s).getJavaClass().getName();
        return n.substring(n.lastIndexOf('.') + 1);
    }

    record Outcome(List<String> ran, Map<String, String> notPassed) {
        List<String> ranSorted() {
            return ran.stream().sorted().toList();
        }
    }

    @Test
    void aContainerDriverSkipsVmTestsAndGroupsItLacksNamingTheReason() {
        Outcome o = run(GatingSamples.ContainersOnly.class);
        String vm = "SKIPPED driver containers-only runs no virtual-machine instances (its instance types: [container])";
        assertEquals(List.of("containers-only.Freezing.Deeper.inInnerGroup",
                "containers-only.Freezing.eachTypeInGroup(CONTAINER)", "containers-only.Freezing.inGroup",
                "containers-only.containerOnly(CONTAINER)", "containers-only.eachType(CONTAINER)",
                "containers-only.ungated"), o.ranSorted());
        assertEquals(Map.of(
                "execAndFiles", "SKIPPED driver containers-only lacks capability [FILES]",
                "filesInGroup", "SKIPPED driver containers-only lacks capability [FILES]",
                "eachType[virtual-machine]", vm,
                "eachTypeInGroup[virtual-machine]", vm,
                "GatingSamples$Sample$CGroups", "SKIPPED driver containers-only lacks capability [CGROUPS]",
                "vmOnly", vm),
                o.notPassed());
    }

    @Test
    void aVmDriverDoesNotLackContainerOnlyCapabilitiesButReportsTheContainerTestsItDoesNotRun() {
        Outcome o = run(GatingSamples.VmsOnly.class);
        assertEquals(List.of("vms-only.Freezing.Deeper.inInnerGroup", "vms-only.Freezing.eachTypeInGroup(VM)",
                "vms-only.Freezing.filesInGroup",
                "vms-only.Freezing.inGroup", "vms-only.eachType(VM)", "vms-only.execAndFiles", "vms-only.ungated",
                "vms-only.vmOnly(VM)"), o.ranSorted());
        String ct = "SKIPPED driver vms-only runs no container instances (its instance types: [virtual-machine])";
        assertEquals(Map.of("containerOnly", ct, "cgroup", ct, "eachType[container]", ct,
                "eachTypeInGroup[container]", ct),
                o.notPassed());
    }

    @Test
    void aDriverWithEverythingRunsEverythingOncePerTypeInTypeOrder() {
        Outcome o = run(GatingSamples.Everything.class);
        assertEquals(Map.of(), o.notPassed());
        assertEquals(List.of("everything.CGroups.cgroup(CONTAINER)", "everything.Freezing.Deeper.inInnerGroup",
                "everything.Freezing.eachTypeInGroup(CONTAINER)", "everything.Freezing.eachTypeInGroup(VM)",
                "everything.Freezing.filesInGroup",
                "everything.Freezing.inGroup", "everything.containerOnly(CONTAINER)", "everything.eachType(CONTAINER)",
                "everything.eachType(VM)", "everything.execAndFiles", "everything.ungated", "everything.vmOnly(VM)"),
                o.ranSorted());
        List<String> each = o.ran().stream().filter(s -> s.startsWith("everything.eachType(")).toList();
        assertEquals(List.of("everything.eachType(CONTAINER)", "everything.eachType(VM)"), each);
    }

    @Test
    void theDeclaredInstanceTypesDecideNotTheTypeCapabilities() {
        Outcome o = run(GatingSamples.NarrowedTypes.class);
        assertTrue(o.ran().contains("narrowed.eachType(VM)"), o.ran().toString());
        assertTrue(o.ran().stream().noneMatch(s -> s.contains("CONTAINER")), o.ran().toString());
        String ct = "SKIPPED driver narrowed runs no container instances (its instance types: [virtual-machine])";
        assertEquals(Map.of("containerOnly", ct, "cgroup", ct, "eachType[container]", ct,
                "eachTypeInGroup[container]", ct),
                o.notPassed());
    }

    @Test
    void aDriverWithoutInstanceTypesFailsItsPerTypeTestsAndSkipsItsTypeTests() {
        Outcome o = run(GatingSamples.NoTypes.class);
        assertEquals(List.of("no-types.Freezing.Deeper.inInnerGroup", "no-types.Freezing.filesInGroup",
                "no-types.Freezing.inGroup",
                "no-types.execAndFiles", "no-types.ungated"), o.ranSorted());
        String noType = "FAILED driver no-types declares no instance type: tests for each instance type cannot run";
        String none = "SKIPPED driver no-types runs no %s instances (its instance types: [])";
        assertEquals(Map.of(
                "eachType", noType,
                "eachTypeInGroup", noType,
                "containerOnly", none.formatted("container"),
                "vmOnly", none.formatted("virtual-machine"),
                "cgroup", none.formatted("container")), o.notPassed());
    }

    @Test
    void aDriverWithNothingButContainersRunsOnlyTheUngatedTestsAndNamesWhatEachOtherLacks() {
        Outcome o = run(GatingSamples.Bare.class);
        assertEquals(List.of("bare.containerOnly(CONTAINER)", "bare.eachType(CONTAINER)", "bare.ungated"),
                o.ranSorted());
        String vm = "SKIPPED driver bare runs no virtual-machine instances (its instance types: [container])";
        assertEquals(Map.of(
                "execAndFiles", "SKIPPED driver bare lacks capability [EXEC, FILES]",
                "eachType[virtual-machine]", vm,
                "vmOnly", vm,
                // A group is skipped as a whole (Maven's reports list each of its tests as skipped with the reason).
                "GatingSamples$Sample$Freezing", "SKIPPED driver bare lacks capability [FREEZE]",
                "GatingSamples$Sample$CGroups", "SKIPPED driver bare lacks capability [CGROUPS]"),
                o.notPassed());
    }

    @Test
    void theSamplesDoNotRunOutsideThisTest() {
        GatingSamples.RAN.clear();
        EngineExecutionResults results = EngineTestKit.engine("junit-jupiter")
                .selectors(DiscoverySelectors.selectClass(GatingSamples.Everything.class)).execute();
        assertEquals(0, results.testEvents().started().count());
        assertEquals(List.of(), List.copyOf(GatingSamples.RAN));
    }
}
