package io.github.incus4j.api.internal.store;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.spi.InstanceRecord;
import org.junit.jupiter.api.Test;

/** backup.yaml refusals with their exact texts, and the defaults for what old files leave out. */
class BackupYamlTextsTest {
    private static String refusal(String yaml) {
        return assertThrows(InvalidArgumentException.class, () -> BackupYaml.read(yaml.getBytes(UTF_8)))
                .getMessage();
    }

    @Test
    void eachRefusalHasItsOwnText() {
        assertEquals("Invalid backup.yaml: empty file", refusal(""));
        assertEquals("Invalid backup.yaml: empty file",
                assertThrows(InvalidArgumentException.class, () -> BackupYaml.read(null)).getMessage());
        assertEquals("Invalid backup.yaml: empty document", refusal("~\n"));
        assertEquals("Invalid backup.yaml: missing \"container\" section", refusal("container: c1\n"));
        assertEquals("Invalid backup.yaml: missing \"container\" section", refusal("snapshots: []\n"));
        assertEquals("Invalid backup.yaml: the instance has no name", refusal("container:\n  name: ''\n"));
        assertEquals("Invalid backup.yaml: Invalid instance type: jail (at container.type)",
                refusal("container:\n  name: c1\n  type: jail\n"));
    }

    @Test
    void typeAndArchitectureDefaults() {
        assertEquals(InstanceType.CONTAINER, read("container:\n  name: c1\n").instance().type());
        assertEquals(InstanceType.CONTAINER, read("container:\n  name: c1\n  type: ''\n").instance().type());
        assertEquals(InstanceType.CONTAINER, read("container:\n  name: c1\n  type: container\n").instance().type());
        assertEquals(InstanceType.VM, read("container:\n  name: c1\n  type: virtual-machine\n").instance().type());
        assertEquals(Architectures.UNKNOWN, read("container:\n  name: c1\n  architecture: ''\n").instance()
                .architecture());
        assertEquals(Architectures.UNKNOWN, read("container:\n  name: c1\n  architecture: "
                + Architectures.name(Architectures.UNKNOWN) + "\n").instance().architecture());
        assertEquals("default", read("container:\n  name: c1\n").instance().project());
        assertEquals("dev", read("container:\n  name: c1\n  project: dev\n").instance().project());
    }

    private static InstanceRecord read(String yaml) {
        return BackupYaml.read(yaml.getBytes(UTF_8));
    }
}
