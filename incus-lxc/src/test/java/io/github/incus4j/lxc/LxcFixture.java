package io.github.incus4j.lxc;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * For tests on real containers: each test gets the lxc driver opened on a fresh root under its temporary directory
 * (skipped, naming why, where real containers cannot run), and every container is deleted after it.
 */
abstract class LxcFixture {
    /** The bound of a command's or a state change's wait. */
    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;
    LxcInstances lxc;

    @BeforeEach
    void open() {
        LxcHost.require();
        lxc = new LxcDriver().open(LxcHost.searchable(dir.resolve("root")), Duration.ofSeconds(30));
    }

    @AfterEach
    void close() {
        LxcHost.deleteAll(lxc);
    }
}
