package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One broken container never makes a root unusable, and a deleted container's handle cannot bring it back. */
class LxcRootRecoveryTest {
    @TempDir
    Path dir;
    private Path root;
    private LxcInstances lxc;

    @BeforeEach
    void open() {
        LxcHost.require();
        root = LxcHost.searchable(dir.resolve("root"));
        lxc = new LxcDriver().open(root, Duration.ofSeconds(30));
    }

    @AfterEach
    void close() {
        LxcHost.deleteAll(lxc);
    }

    private Instance busybox(String prefix) {
        return lxc.create(InstanceArgs.builder(prefix + "-" + UUID.randomUUID().toString().substring(0, 8)).build(),
                InstanceSource.template("busybox", Map.of()));
    }

    @Test
    void aContainerLiblxcRefusesIsListedInErrorAndTheOthersWork() throws IOException {
        Instance good = busybox("good");
        Instance bad = busybox("bad");
        bad.start(false);
        bad.stop(false);
        // liblxc refuses to load a configuration with an unknown key: lxc_container_new returns NULL.
        Files.writeString(lxc.lxcpath().resolve(((LxcContainerInstance) bad).lxcName()).resolve("config"), "lxc.no_such_key = 1\n",
                StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        lxc.close();

        lxc = new LxcDriver().open(root, Duration.ofSeconds(30));
        List<String> names = lxc.list().stream().map(Instance::name).sorted().toList();
        assertEquals(List.of(bad.name(), good.name()).stream().sorted().toList(), names);
        Instance broken = lxc.load(bad.name());
        assertEquals(StatusCode.ERROR, broken.statusCode());
        Instance working = lxc.load(good.name());
        working.start(false);
        assertTrue(working.isRunning());
        working.stop(false);
        broken.delete(true);
        assertEquals(List.of(good.name()), lxc.list().stream().map(Instance::name).toList());
    }

    @Test
    void aDeletedContainersHandleRecreatesNothing() {
        Instance c = busybox("gone");
        String name = c.name();
        String lxcName = ((LxcContainerInstance) c).lxcName();
        c.delete(true);
        assertThrows(NotFoundException.class, () -> c.start(false));
        assertThrows(NotFoundException.class, () -> c.snapshot("s0", null, false));
        assertThrows(NotFoundException.class, () -> c.rename("zombie", false));
        assertThrows(NotFoundException.class, () -> c.volatileSet(Map.of("volatile.cluster.group", "x")));
        assertTrue(lxc.find("default", name).isEmpty());
        assertTrue(lxc.find("default", "zombie").isEmpty());
        assertTrue(Files.notExists(lxc.lxcpath().resolve(lxcName)), "no liblxc directory left behind");
        lxc.close();
        lxc = new LxcDriver().open(root, Duration.ofSeconds(30));
        assertEquals(List.of(), lxc.list(), "nothing comes back on reopen");
    }
}
