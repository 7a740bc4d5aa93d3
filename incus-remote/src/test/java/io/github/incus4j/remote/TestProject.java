package io.github.incus4j.remote;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.NotFoundException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The project the contract's migration group moves instances to on the one incusd the tests share: a second
 * "server" for {@code migrateSend}/{@code migrateReceive}, one per JVM. It uses the default project's images and
 * profiles (the busybox alias, the root disk), and goes with the test class that created it.
 */
final class TestProject {
    static final String NAME = "i4j-mig-" + ProcessHandle.current().pid();
    private static boolean created;

    private TestProject() {
    }

    /** Creates the project unless this JVM already did; returns its name. */
    static synchronized String ensure(Path socket, Duration timeout) {
        if (created) {
            return NAME;
        }
        try (Transport t = new Transport(socket, timeout)) {
            ObjectNode body = Transport.JSON.createObjectNode();
            body.put("name", NAME);
            body.put("description", "incus4j contract tests (IncusContractTest), deleted after them");
            ObjectNode config = body.putObject("config");
            config.put("features.images", "false");
            config.put("features.profiles", "false");
            config.put("features.storage.volumes", "false");
            t.call("POST", "/1.0/projects", body);
            created = true;
        }
        return NAME;
    }

    /** Deletes the project if this JVM created it; its instances must be gone (the contract deletes them). */
    static synchronized void delete() {
        if (!created) {
            return;
        }
        try (Transport t = new Transport(IncusDriver.findSocket(), Duration.ofSeconds(30))) {
            t.call("DELETE", "/1.0/projects/" + NAME, null);
        } catch (NotFoundException gone) {
            // deleted by someone else: nothing left to do
        }
        created = false;
    }
}
