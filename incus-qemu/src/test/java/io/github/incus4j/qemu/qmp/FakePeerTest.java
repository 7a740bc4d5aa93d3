package io.github.incus4j.qemu.qmp;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fixture of the tests against a {@link FakePeer}: the fake server in a temporary directory, a pool to run the
 * client's blocking calls while the test plays the server, the client's thread factory, and what to close after.
 */
@Timeout(60)
abstract class FakePeerTest {
    @TempDir
    Path dir;

    FakePeer fake;
    final FakePeer.Threads threads = new FakePeer.Threads();
    final ExecutorService pool = Executors.newCachedThreadPool();
    /** Closed after the test, first to last. */
    final List<AutoCloseable> cleanup = new ArrayList<>();

    @BeforeEach
    void listen() {
        fake = new FakePeer(dir);
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : cleanup) {
            c.close();
        }
        pool.shutdownNow();
        fake.close();
    }
}
