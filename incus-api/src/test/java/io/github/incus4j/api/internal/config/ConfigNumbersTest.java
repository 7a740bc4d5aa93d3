package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import org.junit.jupiter.api.Test;

class ConfigNumbersTest {
    @Test
    void cpuSetSizeCountsRangesAndSingleCpus() {
        assertEquals(4, ConfigNumbers.cpuSetSize("0-3"));
        assertEquals(6, ConfigNumbers.cpuSetSize("0-3,6,8"));
        assertEquals(1, ConfigNumbers.cpuSetSize("5"));
        assertEquals(1, ConfigNumbers.cpuSetSize("3-1"), "a reversed range names none; at least one CPU");
        assertEquals(ConfigKeys.MAX_CPUS, ConfigNumbers.cpuSetSize("0-99999999999"));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> ConfigNumbers.cpuSetSize("0-x"));
        assertTrue(e.getMessage().contains("\"limits.cpu\"") && e.getMessage().contains("\"x\""), e.getMessage());
    }
}
