package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.internal.config.ConfigKeys;
import io.github.incus4j.api.internal.text.GoStrings;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Config checks at the edges of their value ranges: addresses, Go integers, cron fields, expiries, quoting. */
class ConfigKeysBoundsTest {
    private static final String ADDRESSES = "volatile.eth0.last_state.ip_addresses";

    private static boolean accepted(String key, String value) {
        try {
            ConfigKeys.validateKey(InstanceType.CONTAINER, key, value);
            return true;
        } catch (InvalidArgumentException e) {
            assertTrue(e.getMessage().startsWith("Invalid value for config key \"" + key + "\": "), e.getMessage());
            return false;
        }
    }

    private static String refusal(String key, String value) {
        return assertThrows(InvalidArgumentException.class,
                () -> ConfigKeys.validateKey(InstanceType.CONTAINER, key, value), key + "=" + value).getMessage();
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "1.2.3.4, true", "255.255.255.255, true", "0.0.0.0, true", "1.2.3.256, false", "1.2.3, false",
        "1.2.3.4.5, false",
        "1:2:3:4:5:6:7:8, true", "1:2:3:4:5:6:7, false", "1:2:3:4:5:6:7:8:9, false",
        "::, true", "::1, true", "1::, true", "1:2:3:4:5:6::7, true", "1:2:3:4:5:6:7::, true",
        "1:2:3:4:5:6:7::8, false", "1::2::3, false", "::1::, false", "1:::2, false",
        "::ffff:1.2.3.4, true", "1:2:3:4:5:6:1.2.3.4, true", "1:2:3:4:5:6:7:1.2.3.4, false",
        "::ffff:1.2.3.999, false", "::1.2.3.4:1, false", "1.2.3.4::, false", "fe80::1:abcd, true",
        "12345::1, false",
    })
    void addresses(String address, boolean valid) {
        assertEquals(valid, accepted(ADDRESSES, address), address);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "0, true", "+5, true", "-5, true", "-, false", "+, false", "1a, false", "1/2, false", "12:, false",
        "9223372036854775807, true", "-9223372036854775808, true", "9223372036854775808, false",
        "-9223372036854775809, false", "18446744073709551616, false", "--1, false",
    })
    void signedIntegers(String value, boolean valid) {
        assertEquals(valid, accepted("boot.autostart.delay", value), value);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "0, true", "4294967295, true", "4294967296, false", "+1, false", "-1, false",
    })
    void unsignedIntegers(String value, boolean valid) {
        assertEquals(valid, accepted("security.idmap.base", value), value);
    }

    @Test
    void integerErrorsAreGosTexts() {
        assertEquals("Invalid value for config key \"snapshots.expiry\": strconv.Atoi: parsing "
                + "\"9223372036854775808\": value out of range (value \"9223372036854775808d\")",
                refusal("snapshots.expiry", "9223372036854775808d"));
        assertEquals("Invalid value for config key \"security.idmap.base\": Invalid value for uint32 \"-1\": "
                + "strconv.ParseUint: parsing \"-1\": invalid syntax", refusal("security.idmap.base", "-1"));
        assertEquals("Invalid value for config key \"security.idmap.base\": Invalid value for uint32 \"4294967296\": "
                + "strconv.ParseUint: parsing \"4294967296\": value out of range",
                refusal("security.idmap.base", "4294967296"));
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
        "0 0 * * *|true", "*/1 * * * *|true", "*/0 * * * *|false", "5-5 * * * *|true", "6-5 * * * *|false",
        "0 0 1 jan *|true", "0 0 1 dec sun|true", "0 0 1 13 *|false", "0 0 0 * *|false", "60 * * * *|false",
        "59 23 31 12 7|true", "0 0 l * *|true", "0 0 * * 5l|true", "0 0 * * 1#2|true", "0 0 * * *, @daily|true",
        "@hourly|true", "0 0 * *|false", "1- * * * *|false", "100 * * * *|false", "0 0 * * *,|false",
    })
    void schedules(String value, boolean valid) {
        assertEquals(valid, accepted("snapshots.schedule", value), value);
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource({
        "1d, true", "0d 1d, true", "1d 1d, false", "1d 2H, true", "1x, false",
    })
    void expiries(String value, boolean valid) {
        assertEquals(valid, accepted("snapshots.expiry", value), value);
    }

    @Test
    void repeatedExpiryUnitIsGosText() {
        assertEquals("Invalid value for config key \"snapshots.expiry\": Invalid expiry expression (value \"1d 1d\")",
                refusal("snapshots.expiry", "1d 1d"));
    }

    @Test
    void quotingFollowsGosStrconvQuote() {
        assertEquals("\"\\x7f\"", GoStrings.quote("\u007f"));
        assertEquals("\"\\u0080\"", GoStrings.quote("\u0080"));
        assertEquals("\"\\uffff\"", GoStrings.quote("\uffff"));
        assertEquals("\"\\U000e0001\"", GoStrings.quote(new String(Character.toChars(0xE0001))));
        assertEquals("\"\u00e9\\n\\t\\r\\v\"", GoStrings.quote("\u00e9\n\t\r\u000b"));
    }

    @Test
    void rulesAcrossKeys() {
        // The first key in sorted order is reported, whatever the map's order.
        Map<String, String> twoBad = new LinkedHashMap<>();
        twoBad.put("zz.unknown", "1");
        twoBad.put("aa.unknown", "1");
        assertEquals("Unknown configuration key: aa.unknown", assertThrows(InvalidArgumentException.class,
                () -> ConfigKeys.validateConfig(InstanceType.CONTAINER, twoBad, false)).getMessage());
        assertEquals("Invalid instance type: null", assertThrows(InvalidArgumentException.class,
                () -> ConfigKeys.validateConfig(null, Map.of(), false)).getMessage());
        assertEquals("Invalid instance type: null", assertThrows(InvalidArgumentException.class,
                () -> LiveUpdates.canUpdateLive(null, "limits.cpu")).getMessage());
        assertFalse(LiveUpdates.canUpdateLive(InstanceType.VM, null));
        assertTrue(LiveUpdates.canUpdateLive(InstanceType.CONTAINER, null));
        // nvidia.runtime conflicts only with a privileged container.
        assertDoesNotThrow(() -> ConfigKeys.validateConfig(InstanceType.CONTAINER,
                Map.of("security.privileged", "true", "nvidia.runtime", "false"), false));
        assertDoesNotThrow(() -> ConfigKeys.validateConfig(InstanceType.CONTAINER,
                Map.of("security.privileged", "false", "nvidia.runtime", "true"), false));
        // A key set to "" is present: its (empty) value is used, not its alias's.
        assertDoesNotThrow(() -> ConfigKeys.validateConfig(InstanceType.CONTAINER, Map.of(
                "security.syscalls.allow", "read", "security.syscalls.deny_default", "",
                "security.syscalls.blacklist_default", "true"), false));
        assertEquals("Invalid config key \"user.\\ud800\": unpaired UTF-16 surrogates cannot be stored",
                assertThrows(InvalidArgumentException.class, () -> ConfigKeys.validateConfig(InstanceType.CONTAINER,
                        Map.of("user.\ud800", "x"), false)).getMessage());
    }
}
