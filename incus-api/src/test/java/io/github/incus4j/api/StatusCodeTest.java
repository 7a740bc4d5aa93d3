package io.github.incus4j.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class StatusCodeTest {

    @ParameterizedTest
    @CsvSource({"100,Operation created", "101,Started", "102,Stopped", "103,Running", "104,Cancelling",
        "105,Pending", "106,Starting", "107,Stopping", "108,Aborting", "109,Freezing", "110,Frozen", "111,Thawed",
        "112,Error", "113,Ready", "200,Success", "400,Failure", "401,Cancelled"})
    void codesAndTextsAreIncus(int code, String text) {
        StatusCode s = StatusCode.ofCode(code);
        assertEquals(text, s.text());
        assertEquals(s, StatusCode.ofText(text));
        assertEquals(text.toUpperCase(java.util.Locale.ROOT), s.upperText());
    }

    @Test
    void runningMeansNeitherStoppedNorError() {
        assertFalse(StatusCode.STOPPED.isRunning());
        assertFalse(StatusCode.ERROR.isRunning());
        assertTrue(StatusCode.FROZEN.isRunning());
        assertTrue(StatusCode.READY.isRunning());
        assertTrue(StatusCode.STARTING.isRunning());
    }

    @Test
    void finalCodesStartAt200() {
        assertFalse(StatusCode.RUNNING.isFinal());
        assertTrue(StatusCode.SUCCESS.isFinal());
        assertTrue(StatusCode.CANCELLED.isFinal());
    }

    @Test
    void unknownValuesAreRefusedByName() {
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> StatusCode.ofCode(999));
        assertEquals("Unknown status code: 999", e.getMessage());
        assertEquals("Unknown status: Sleeping",
                assertThrows(InvalidArgumentException.class, () -> StatusCode.ofText("Sleeping")).getMessage());
    }

    @Test
    void instanceTypesUseIncusNames() {
        assertEquals("container", InstanceType.CONTAINER.apiName());
        assertEquals("virtual-machine", InstanceType.VM.apiName());
        assertEquals(InstanceType.VM, InstanceType.ofApiName("virtual-machine"));
        assertEquals(0, InstanceType.CONTAINER.id());
        assertEquals(1, InstanceType.VM.id());
        assertEquals(-1, InstanceType.ANY.id());
        assertThrows(InvalidArgumentException.class, () -> InstanceType.ofApiName("vm"));
    }

    @Test
    void architecturesRoundTrip() {
        assertEquals("x86_64", Architectures.name(Architectures.X86_64));
        assertEquals(Architectures.X86_64, Architectures.id("amd64"));
        assertEquals(Architectures.AARCH64, Architectures.id("arm64"));
        assertEquals("Architecture isn't supported: sparc",
                assertThrows(InvalidArgumentException.class, () -> Architectures.id("sparc")).getMessage());
    }
}
