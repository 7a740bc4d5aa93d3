package io.github.incus4j.remote;

import static io.github.incus4j.remote.MisbehavingServerTest.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cluster requests the driver sends, checked against an in-test server (runs everywhere; {@link IncusClusterTest}
 * runs them on a real cluster): placement with {@code target}, a member's operation path with a query, the move,
 * metrics asked of the instance's member.
 */
class ClusterRequestsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private static final String TRUSTED = "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"auth\":\"trusted\","
            + "\"api_extensions\":[],\"environment\":{\"server_version\":\"6.0.4\",\"server_clustered\":true}}}";
    private static final String DONE = "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"id\":\"op3\","
            + "\"status\":\"Success\",\"status_code\":200,\"err\":\"\"}}";

    @TempDir
    Path dir;
    private MisbehavingServerTest.Server server;
    private Instances session;
    private final List<String> seen = Collections.synchronizedList(new ArrayList<>());
    private volatile String location = "m2";

    @AfterEach
    void tearDown() throws IOException {
        if (session != null) {
            session.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private String answer(String method, String path) {
        seen.add(method + " " + path);
        if (path.equals("/1.0")) {
            return json(200, TRUSTED);
        }
        if (path.startsWith("/1.0/events")) {
            return json(403, "{\"type\":\"error\",\"error\":\"not allowed\",\"error_code\":403}");
        }
        if (method.equals("POST") && path.startsWith("/1.0/instances")) {
            // A forwarded request's operation path carries the project, as a cluster member answers it.
            if (path.contains("target=m1")) {
                location = "m1";
            }
            return json(202, "{\"type\":\"async\",\"status_code\":100,"
                    + "\"operation\":\"/1.0/operations/op3?project=default\",\"metadata\":{\"id\":\"op3\","
                    + "\"class\":\"task\",\"status\":\"Running\",\"status_code\":103,\"may_cancel\":false}}");
        }
        if (path.startsWith("/1.0/operations/op3/wait")) {
            return json(200, DONE);
        }
        if (method.equals("GET") && path.startsWith("/1.0/instances/c1?")) {
            return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"name\":\"c1\",\"project\":"
                    + "\"default\",\"type\":\"container\",\"status\":\"Running\",\"status_code\":103,\"location\":\""
                    + location + "\"}}");
        }
        if (path.startsWith("/1.0/metrics")) {
            byte[] b = ("incus_cpu_seconds_total{cpu=\"0\",mode=\"user\",name=\"c1\",project=\"default\","
                    + "type=\"container\"} 1.5\n").getBytes(StandardCharsets.UTF_8);
            return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + b.length + "\r\n\r\n"
                    + new String(b, StandardCharsets.UTF_8);
        }
        return json(404, "{\"type\":\"error\",\"error\":\"Not found\",\"error_code\":404}");
    }

    private Instances open(String target) throws IOException {
        server = new MisbehavingServerTest.Server(dir.resolve("incus.socket"), this::answer);
        session = new IncusDriver().open(dir.resolve("root"),
                IncusRemote.unix(server.socket).timeout(TIMEOUT).target(target).build());
        return session;
    }

    @Test
    void createPlacesOnTheSessionsTargetAndWaitsForTheMembersOperation() throws IOException {
        Instances s = open("m2");
        RemoteInstance c1 = (RemoteInstance) s.create(InstanceArgs.builder("c1").build(),
                InstanceSource.template("busybox", Map.of()));
        assertTrue(seen.contains("POST /1.0/instances?project=default&target=m2"), seen.toString());
        assertTrue(seen.stream().anyMatch(r -> r.startsWith("GET /1.0/operations/op3/wait?")), seen.toString());
        assertEquals("m2", c1.location());
    }

    @Test
    void withoutATargetTheServerPlaces() throws IOException {
        Instances s = open(null);
        s.create(InstanceArgs.builder("c1").build(), InstanceSource.template("busybox", Map.of()));
        assertTrue(seen.contains("POST /1.0/instances?project=default"), seen.toString());
    }

    @Test
    void moveAsksForAMigrationToTheMember() throws IOException {
        RemoteInstance c1 = (RemoteInstance) open(null).load("c1");
        c1.move("m1");
        assertTrue(seen.contains("POST /1.0/instances/c1?target=m1&project=default"), seen.toString());
        assertEquals("m1", c1.location());
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> c1.move(""));
        assertTrue(e.getMessage().contains("c1"), e.getMessage());
        assertThrows(InvalidArgumentException.class, () -> c1.move(null));
    }

    @Test
    void metricsAreAskedOfTheInstancesMember() throws IOException {
        RemoteInstance c1 = (RemoteInstance) open(null).load("c1");
        MetricSet m = c1.metrics(List.of());
        assertTrue(seen.contains("GET /1.0/metrics?project=default&target=m2"), seen.toString());
        assertFalse(m.samples(MetricType.CPU_SECONDS_TOTAL).isEmpty(), m.toText());
    }
}
