package io.github.incus4j.api.internal.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.config.ConfigKeys;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.InstanceRecord;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code backup.yaml} keeps every BMP code point exactly, as a config value and in a key, alone, between letters and
 * in multi-line text; unpaired surrogates are refused before anything is written.
 */
class BackupYamlCodePointTest {
    private static final int CHUNK = 512;

    @Test
    void everyBmpCodePointRoundTripsAsValueAndKey() {
        List<String> changed = new ArrayList<>();
        int tried = 0;
        for (int start = 0; start < 0x10000; start += CHUNK) {
            Map<String, String> config = new LinkedHashMap<>();
            for (int cp = start; cp < start + CHUNK; cp++) {
                if (Character.isSurrogate((char) cp)) {
                    continue;
                }
                String c = String.valueOf((char) cp);
                config.put("user.v" + cp, c);
                config.put("user.m" + cp, "a" + c + "b");
                config.put("user.l" + cp, "line one\n" + c + " line two" + c + "\n");
                config.put("user.k" + c + cp, "key");
                tried += 4;
            }
            Map<String, String> back = roundTrip(config);
            for (Map.Entry<String, String> e : config.entrySet()) {
                if (!e.getValue().equals(back.get(e.getKey()))) {
                    changed.add(e.getKey().codePoints().mapToObj(Integer::toHexString).toList().toString());
                }
            }
            if (back.size() != config.size()) {
                changed.add("size " + config.size() + " -> " + back.size() + " from U+" + Integer.toHexString(start));
            }
        }
        assertTrue(tried > 4 * 60_000, "tried " + tried);
        assertEquals(List.of(), changed.stream().limit(20).toList(), changed.size() + " entries changed");
    }

    @Test
    void unpairedSurrogatesAreRefusedUpFront() {
        for (String bad : List.of("\ud800", "a\udfffb", "\udc00\ud800")) {
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                    () -> BackupYaml.write(record(Map.of("user.x", bad))));
            assertTrue(e.getMessage().startsWith("Invalid backup.yaml: "), e.getMessage());
            assertThrows(InvalidArgumentException.class, () -> BackupYaml.write(record(Map.of("user." + bad, "x"))));
            assertThrows(InvalidArgumentException.class,
                    () -> ConfigKeys.validateConfig(InstanceType.CONTAINER, Map.of("user.x", bad), false));
        }
        // A proper pair (outside the BMP) is kept.
        assertEquals("\ud83d\ude00", roundTrip(Map.of("user.x", "\ud83d\ude00")).get("user.x"));
    }

    @Test
    void plainRecordsKeepTheUsualLayout() {
        String yaml = new String(BackupYaml.write(record(Map.of("user.note", "hello\nworld\n"))),
                java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(yaml.contains("user.note: |"), yaml);
    }

    private static Map<String, String> roundTrip(Map<String, String> config) {
        return BackupYaml.read(BackupYaml.write(record(config))).instance().config();
    }

    private static InstanceRecord record(Map<String, String> config) {
        return new InstanceRecord(InstanceArgs.builder("c1").type(InstanceType.CONTAINER).config(config).build(),
                List.of());
    }
}
