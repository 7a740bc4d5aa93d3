package io.github.incus4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.testkit.junit.IncusInstance;
import io.github.incus4j.testkit.junit.IncusTest;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * What a test of your own code looks like with the testkit. {@code @IncusTest} gives the class an instance driver
 * (the in-memory fake unless {@code -Dincus4j.driver=lxc} names a real one) on a temporary root that is deleted
 * afterwards; {@code @IncusInstance} declares instances, created and started before each test and deleted after it.
 */
@IncusTest
class ConsumerExampleTest {

    /** A fresh, running busybox container for every test, with a CPU limit. */
    @IncusInstance(config = "limits.cpu=1")
    Instance web;

    @Test
    void runsACommand() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd cmd = web.exec(ExecRequest.of("echo", "it works"), null, out, null)) {
            assertEquals(0, cmd.waitFor(Duration.ofSeconds(10)));
        }
        assertEquals("it works\n", out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void writesAndReadsAFile() {
        try (SftpClient files = web.fileSftp()) {
            files.write("/root/config.txt", "port=8080".getBytes(StandardCharsets.UTF_8));
            assertEquals("port=8080", new String(files.readAllBytes("/root/config.txt"), StandardCharsets.UTF_8));
        }
    }

    @Test
    void stopsAndStartsAgain() {
        web.stop(false);
        assertEquals(StatusCode.STOPPED, web.statusCode());
        web.start(false);
        assertTrue(web.isRunning());
    }

    /** Parameters work too: here a second instance, left stopped, and the driver itself. */
    @Test
    void comparesTwoInstances(@IncusInstance(start = false) Instance spare, Instances incus) {
        assertEquals(StatusCode.STOPPED, spare.statusCode());
        assertEquals("1", web.expandedConfig().get("limits.cpu"));
        assertFalse(spare.expandedConfig().containsKey("limits.cpu"));
        assertEquals(2, incus.list().size());
    }
}
