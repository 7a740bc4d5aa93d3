package io.github.incus4j.api.internal.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceType;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The texts as Incus words them (driver_common.go, driver_lxc.go, driver_qemu.go), Go's {@code time.Duration} text,
 * and the surrogate check that guards every name and value on its way to UTF-8.
 */
class ErrorTextsTest {
    @Test
    void statusTextsQuoteAsIncusDoes() {
        assertEquals("The instance cannot be started as in Error status", ErrorTexts.cannotStartIn("Error"));
        assertEquals("The instance cannot be cleanly shutdown as in Frozen status",
                ErrorTexts.cannotShutdownIn("Frozen"));
        assertEquals("Failed shutting down instance, status is \"Running\"",
                ErrorTexts.failedShuttingDown("Running"));
        assertEquals("Failed stopping instance, status is \"Running\"", ErrorTexts.failedStopping("Running"));
        assertEquals("Invalid stop target \"a\\nb\"", ErrorTexts.invalidStopTarget("a\nb"));
        assertEquals("Name 'c1/s1' already in use", ErrorTexts.snapshotNameInUse("c1/s1"));
        assertEquals("Snapshot \"c1/s1\" already exists", ErrorTexts.snapshotExists("c1/s1"));
        assertEquals("Instance \"c1\" already exists", ErrorTexts.instanceExists("c1"));
        assertEquals("Name \"c2\" already in use", ErrorTexts.nameInUse("c2"));
        assertEquals("Container instances don't support \"vga\" output",
                ErrorTexts.containerConsoleUnsupported("vga"));
        assertEquals("Unknown protocol \"x\"", ErrorTexts.unknownConsoleProtocol("x"));
    }

    @Test
    void statefulRefusalsAreWordedPerDriver() {
        assertEquals("Stateful start requires migration.stateful to be set to true",
                ErrorTexts.statefulStartNeedsMigrationStateful(InstanceType.VM));
        assertEquals("Stateful start requires that the instance migration.stateful be set to true",
                ErrorTexts.statefulStartNeedsMigrationStateful(InstanceType.CONTAINER));
        assertEquals("Stateful stop requires migration.stateful to be set to true",
                ErrorTexts.statefulStopNeedsMigrationStateful(InstanceType.VM));
        assertEquals("Stateful snapshot requires migration.stateful to be set to true",
                ErrorTexts.statefulSnapshotNeedsMigrationStateful(InstanceType.VM));
        assertEquals("Stateful stop requires the instance to have migration.stateful be set to true",
                ErrorTexts.statefulStopNeedsMigrationStateful(InstanceType.CONTAINER));
        assertEquals("Stateful snapshots require that the instance has migration.stateful be set to true",
                ErrorTexts.statefulSnapshotNeedsMigrationStateful(InstanceType.CONTAINER));
    }

    @Test
    void durationIsGosText() {
        // Outputs of Go's time.Duration.String() for the same values.
        assertEquals("0s", ErrorTexts.duration(Duration.ZERO));
        assertEquals("1ms", ErrorTexts.duration(Duration.ofMillis(1)));
        assertEquals("999ms", ErrorTexts.duration(Duration.ofMillis(999)));
        assertEquals("1s", ErrorTexts.duration(Duration.ofSeconds(1)));
        assertEquals("1.5s", ErrorTexts.duration(Duration.ofMillis(1500)));
        assertEquals("59.999s", ErrorTexts.duration(Duration.ofMillis(59_999)));
        assertEquals("1m0s", ErrorTexts.duration(Duration.ofMinutes(1)));
        assertEquals("10m0.25s", ErrorTexts.duration(Duration.ofMillis(600_250)));
        assertEquals("59m59s", ErrorTexts.duration(Duration.ofSeconds(3599)));
        assertEquals("1h0m0s", ErrorTexts.duration(Duration.ofHours(1)));
        assertEquals("25h1m1.5s", ErrorTexts.duration(Duration.ofMillis(90_061_500)));
        assertEquals("The command is still running after 200ms",
                ErrorTexts.commandStillRunning(Duration.ofMillis(200)));
    }

    @Test
    void onlyUnpairedSurrogatesAreFound() {
        String pair = new String(Character.toChars(0x1F600));
        assertFalse(ErrorTexts.hasUnpairedSurrogate(""));
        assertFalse(ErrorTexts.hasUnpairedSurrogate("a" + pair + "b"));
        assertFalse(ErrorTexts.hasUnpairedSurrogate(pair + pair));
        assertTrue(ErrorTexts.hasUnpairedSurrogate("a" + pair.charAt(0)), "a high surrogate at the end");
        assertTrue(ErrorTexts.hasUnpairedSurrogate(pair.charAt(0) + "x"), "a high surrogate before a non-surrogate");
        assertTrue(ErrorTexts.hasUnpairedSurrogate(pair.charAt(1) + "x"), "a low surrogate alone");
        assertTrue(ErrorTexts.hasUnpairedSurrogate(pair.charAt(1) + pair), "a low surrogate before a pair");
        assertTrue(ErrorTexts.hasUnpairedSurrogate("" + pair.charAt(0) + pair.charAt(0) + pair.charAt(1)),
                "two highs then a low: the first is unpaired");
    }
}
