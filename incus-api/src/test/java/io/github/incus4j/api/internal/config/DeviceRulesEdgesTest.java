package io.github.incus4j.api.internal.config;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.DeviceRules;
import io.github.incus4j.api.model.Device;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Device maps with holes (no devices, a device without config) and options that cannot be stored. */
class DeviceRulesEdgesTest {
    private static String refusal(Map<String, Device> devices) {
        return assertThrows(InvalidArgumentException.class,
                () -> DeviceRules.validate(InstanceType.CONTAINER, devices)).getMessage();
    }

    @Test
    void noDevicesIsValid() {
        assertDoesNotThrow(() -> DeviceRules.validate(InstanceType.CONTAINER, null));
    }

    @Test
    void aDeviceWithoutConfigHasNoType() {
        Map<String, Device> devices = new HashMap<>();
        devices.put("eth0", null);
        assertEquals("Invalid devices: Device validation failed for \"eth0\": Failed loading device \"eth0\": Missing"
                + " device type in config", refusal(devices));
    }

    @Test
    void aDeviceWithoutANameIsRefusedAsAnEmptyName() {
        Map<String, Device> devices = new HashMap<>();
        devices.put(null, Device.of("type", "none"));
        assertEquals(refusal(Map.of("", Device.of("type", "none"))), refusal(devices));
    }

    @Test
    void unpairedSurrogatesInAnOptionAreRefused() {
        String inKey = refusal(Map.of("d", Device.of("type", "disk", "path", "/mnt", "source", "/srv",
                "user.\ud800", "x")));
        assertTrue(inKey.endsWith(": Invalid device option \"user.\\ud800\": unpaired UTF-16 surrogate"), inKey);
        String inValue = refusal(Map.of("d", Device.of("type", "disk", "path", "/mnt", "source", "/srv",
                "user.note", "x\ud800")));
        assertTrue(inValue.endsWith(": Invalid device option \"user.note\": unpaired UTF-16 surrogate"), inValue);
    }

    @Test
    void anUnknownNicOptionIsNamed() {
        String m = refusal(Map.of("eth0", Device.of("type", "nic", "network", "incusbr0", "bogus", "1")));
        assertTrue(m.endsWith(": Invalid device option \"bogus\""), m);
    }
}
