package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import org.junit.jupiter.api.Test;

/**
 * The edges of raw.lxc and snapshot-schedule validation, one rule at a time with the value just on each side of it
 * (mutation testing found these bounds and keys unchecked).
 */
class ConfigKeysEdgesTest {
    private static final InstanceType CT = InstanceType.CONTAINER;

    private static void valid(String key, String... values) {
        for (String v : values) {
            assertDoesNotThrow(() -> ConfigKeys.validateKey(CT, key, v), v);
        }
    }

    private static String refusal(String key, String value) {
        return assertThrows(InvalidArgumentException.class, () -> ConfigKeys.validateKey(CT, key, value), value)
                .getMessage();
    }

    private static void rawLxcRefused(String value, String text) {
        assertEquals("Invalid value for config key \"raw.lxc\": " + text + " (value \"" + value + "\")",
                refusal("raw.lxc", value));
    }

    @Test
    void rawLxcReservedKeys() {
        rawLxcRefused("lxc.log.file = /x", "Setting lxc.logfile is not allowed");
        rawLxcRefused("lxc.syslog = daemon", "Setting lxc.log.syslog is not allowed");
        rawLxcRefused("lxc.log.syslog = daemon", "Setting lxc.log.syslog is not allowed");
        rawLxcRefused("   lxc.ephemeral = 1", "Setting lxc.ephemeral is not allowed");
        valid("raw.lxc", "lxc.log.level = 1", "lxc.logfiles = x", "lxc.ephemerals = 1", "lxc.prlimit = 1");
    }

    @Test
    void rawLxcNetworkKeys() {
        valid("raw.lxc", "lxc.net.0.ipv4.address = 10.0.0.2/24", "lxc.net.1.ipv6.gateway = fd00::1",
                "lxc.net.0.ipv6.address = fd00::2/64", "lxc.net.0.ipv4.gateway = 10.0.0.1");
        String only = "Only interface-specific ipv4/ipv6 lxc.net. keys are allowed";
        rawLxcRefused("lxc.net.0.type = veth", only);
        rawLxcRefused("lxc.net.0.ipv4.mtu = 1", only);
        rawLxcRefused("lxc.net.0.ipv5.address = 1", only);
        rawLxcRefused("lxc.net.0.ipv4.address.x = 1", only);
        rawLxcRefused("lxc.network.0.ipv4.address = 10.0.0.2", only);
    }

    @Test
    void rawLxcLinesWithoutKeysAndNuls() {
        // A line "= value" has an empty key, which Incus skips; a line without "=" is refused.
        valid("raw.lxc", "= value", "  # lxc.logfile = x", "\n\n");
        assertEquals("Invalid value for config key \"raw.lxc\": Invalid raw.lxc line: x", refusal("raw.lxc", "x"));
        String nul = refusal("raw.lxc", "\0lxc.apparmor.profile = x");
        assertTrue(nul.contains("raw.lxc lines cannot contain NUL characters"), nul);
        String nulLater = refusal("raw.lxc", "lxc.apparmor.profile = x\0y");
        assertTrue(nulLater.contains("raw.lxc lines cannot contain NUL characters"), nulLater);
    }

    private static void cronRefused(String expr) {
        assertEquals("Invalid value for config key \"snapshots.schedule\": Error parsing cron expr: " + expr,
                refusal("snapshots.schedule", expr));
    }

    @Test
    void cronFieldBounds() {
        valid("snapshots.schedule", "59 23 31 12 7", "0 0 1 1 0", "0-59 0-23 1-31 1-12 0-7", "0 0 1 dec sat",
                "0 0 1 jan sun", "0 0 1 jan-dec mon-fri", "0 0 l * *", "0 0 lw * *", "0 0 15w * *", "0 0 * * 5l",
                "0 0 * * 1#3", "0 0 ? * ?", "*/1 * * * *", "0 0 1,15 * *", "1-1 * * * *");
        cronRefused("60 * * * *");
        cronRefused("* 24 * * *");
        cronRefused("* * 0 * *");
        cronRefused("* * 32 * *");
        cronRefused("* * * 0 *");
        cronRefused("* * * * 8");
        cronRefused("5-4 * * * *");
        cronRefused("*/0 * * * *");
        cronRefused("*/x * * * *");
        cronRefused("001 * * * *");
        cronRefused("-1 * * * *");
        cronRefused("1- * * * *");
        cronRefused("0 0 * * 1#6");
        cronRefused("0 0 * feb-jan *");
        cronRefused("0 0 * * sat-sun");
        cronRefused("0 0 * * * *");
        cronRefused("   ");
        cronRefused("1,,2 * * * *");
    }
}
