package io.github.incus4j.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.junit.jupiter.api.parallel.Resources;

@ResourceLock(Resources.SYSTEM_PROPERTIES)
class InstanceDriversTest {

    @AfterEach
    void clearProperties() {
        System.clearProperty(InstanceDrivers.DRIVER_PROPERTY);
        System.clearProperty(InstanceDrivers.ROOT_PROPERTY);
    }

    @Test
    void listsProvidersHighestPriorityFirst() {
        List<String> names = InstanceDrivers.available().stream().map(Driver::name)
                .collect(Collectors.toList());
        assertEquals(List.of("test-broken", "test-throwing", "test-alpha", "test-omega"), names);
    }

    @Test
    void driversTellWhetherTheyApplyAndWhyNot() {
        Map<String, Driver> byName = InstanceDrivers.available().stream()
                .collect(Collectors.toMap(Driver::name, d -> d));
        assertTrue(byName.get("test-alpha").applicable());
        assertEquals("", byName.get("test-alpha").unusableReason());
        assertFalse(byName.get("test-broken").applicable());
        assertEquals("no /dev/kvm on this host", byName.get("test-broken").unusableReason());
        assertFalse(byName.get("test-throwing").applicable(), "a probe that throws means not applicable");
        assertTrue(byName.get("test-throwing").unusableReason().contains("probe exploded"),
                byName.get("test-throwing").unusableReason());
        assertEquals("Driver[test-omega]", byName.get("test-omega").toString());
    }

    @Test
    void picksTheApplicableDriverOfHighestPriority() {
        assertEquals("test-alpha", InstanceDrivers.select().name());
    }

    @Test
    void explicitNameWinsOverPriority() {
        assertEquals("test-omega", InstanceDrivers.select("test-omega").name());
    }

    @Test
    void systemPropertyChoosesTheDriver() {
        System.setProperty(InstanceDrivers.DRIVER_PROPERTY, "test-omega");
        assertEquals("test-omega", InstanceDrivers.select().name());
        assertEquals("test-alpha", InstanceDrivers.select("test-alpha").name(), "an explicit name beats the property");
    }

    @Test
    void unknownNameListsEveryProvider() {
        NoDriverException e = assertThrows(NoDriverException.class, () -> InstanceDrivers.select("lxd"));
        assertTrue(e.getMessage().startsWith("No instance driver named \"lxd\""), e.getMessage());
        assertEquals(4, e.attempts().size());
        for (String name : List.of("test-alpha", "test-broken", "test-omega", "test-throwing")) {
            assertTrue(e.getMessage().contains(name), e.getMessage());
        }
    }

    @Test
    void inapplicableRequestedDriverExplainsWhy() {
        NoDriverException e = assertThrows(NoDriverException.class, () -> InstanceDrivers.select("test-broken"));
        assertTrue(e.getMessage().contains("no /dev/kvm on this host"), e.getMessage());
        assertEquals(404, e.status());
    }

    @Test
    void throwingApplicabilityIsReportedAsARefusal() {
        NoDriverException e = assertThrows(NoDriverException.class, () -> InstanceDrivers.select("test-throwing"));
        assertTrue(e.getMessage().contains("probe exploded"), e.getMessage());
    }

    @Test
    void noDriverExceptionFormatsEveryAttempt() {
        NoDriverException e = new NoDriverException("No applicable instance driver; tried:",
                List.of(new NoDriverException.Attempt("lxc", "liblxc.so.1 not found"),
                        new NoDriverException.Attempt("qemu", "qemu-system-x86_64 not found")));
        String[] lines = e.getMessage().split(System.lineSeparator());
        assertEquals(3, lines.length);
        assertEquals("  - lxc: liblxc.so.1 not found", lines[1]);
        assertEquals("  - qemu: qemu-system-x86_64 not found", lines[2]);
    }

    @Test
    void rootPropertyOverridesTheDefaultRoot() {
        System.setProperty(InstanceDrivers.ROOT_PROPERTY, "/tmp/incus4j-x");
        assertEquals(Path.of("/tmp/incus4j-x"), InstanceDrivers.defaultRoot());
        System.clearProperty(InstanceDrivers.ROOT_PROPERTY);
        assertTrue(InstanceDrivers.defaultRoot().endsWith("incus4j"));
    }
}
