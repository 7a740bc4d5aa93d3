package io.github.incus4j.remote;

import static io.github.incus4j.remote.MisbehavingServerTest.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link RemoteInstance#copyTo} in push and pull mode between two in-test servers (no incusd needed): the
 * preconditions Incus's Go client checks before anything is started, what the target is asked for, and a failed
 * transfer, which must release the source's migration operation (never DELETE it) and delete the instance the target
 * left behind, within the sessions' timeouts.
 */
class TransferFaultsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(2);
    private static final String ALL_EXTENSIONS = "[\"container_push\",\"container_push_target\","
            + "\"container_only_migration\"]";
    private static final String INSTANCE = "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"name\":\"c1\","
            + "\"type\":\"container\",\"status\":\"Stopped\",\"status_code\":102,\"architecture\":\"x86_64\","
            + "\"config\":{\"volatile.base_image\":\"abc\",\"volatile.uuid\":\"u1\",\"volatile.last_state.power\":"
            + "\"STOPPED\",\"user.k\":\"v\"},\"devices\":{},\"profiles\":[\"default\"],\"ephemeral\":false,"
            + "\"description\":\"d\"}}";
    private static final String NOT_FOUND = "{\"type\":\"error\",\"error\":\"Instance not found\",\"error_code\":404}";

    @TempDir
    Path dir;
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    private static String server(String extensions, String addresses) {
        return "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"auth\":\"trusted\",\"api_extensions\":"
                + extensions + ",\"environment\":{\"server_version\":\"6.0.4\",\"addresses\":" + addresses
                + ",\"certificate\":\"CERT\"}}}";
    }

    /** A server whose {@code GET /1.0} answers {@code info}, whose events are refused, and then {@code rest}. */
    private MisbehavingServerTest.Server serve(String name, String info, BiFunction<String, String, String> rest)
            throws IOException {
        MisbehavingServerTest.Server s = new MisbehavingServerTest.Server(dir.resolve(name + ".socket"),
                (method, path) -> {
                    if (path.equals("/1.0")) {
                        return json(200, info);
                    }
                    if (path.startsWith("/1.0/events")) {
                        return json(403, "{\"type\":\"error\",\"error\":\"not allowed\",\"error_code\":403}");
                    }
                    return rest.apply(method, path);
                });
        open.add(s);
        return s;
    }

    private Instances session(MisbehavingServerTest.Server s, String name) {
        Instances i = new IncusDriver().open(dir.resolve(name), s.socket, TIMEOUT);
        open.add(0, i);
        return i;
    }

    private static String instanceOr404(String method, String path) {
        return method.equals("GET") && path.startsWith("/1.0/instances/c1?") ? json(200, INSTANCE)
                : json(404, NOT_FOUND);
    }

    private static boolean wrote(MisbehavingServerTest.Server s) {
        return s.requests.stream().anyMatch(r -> !r.startsWith("GET "));
    }

    @Test
    void aSourceThatDoesNotListenIsRefusedBeforeAnythingStarts() throws IOException {
        var src = serve("src", server(ALL_EXTENSIONS, "[]"), TransferFaultsTest::instanceOr404);
        var tgt = serve("tgt", server(ALL_EXTENSIONS, "[\"127.0.0.1:8443\"]"), (m, p) -> json(404, NOT_FOUND));
        RemoteInstance c1 = (RemoteInstance) session(src, "a").load("c1");
        Instances target = session(tgt, "b");
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> c1.copyTo(target, null, TransferMode.PULL, true));
        assertTrue(e.getMessage().startsWith("The source server isn't listening on the network"), e.getMessage());
        assertFalse(wrote(src) || wrote(tgt), "nothing was started: " + src.requests + tgt.requests);
    }

    @Test
    void aMissingApiExtensionIsRefusedWithIncusText() throws IOException {
        var src = serve("src", server(ALL_EXTENSIONS, "[\"127.0.0.1:8443\"]"), TransferFaultsTest::instanceOr404);
        var tgt = serve("tgt", server("[\"container_only_migration\"]", "[\"127.0.0.1:8443\"]"),
                (m, p) -> json(404, NOT_FOUND));
        RemoteInstance c1 = (RemoteInstance) session(src, "a").load("c1");
        Instances target = session(tgt, "b");
        NotSupportedException e = assertThrows(NotSupportedException.class,
                () -> c1.copyTo(target, null, TransferMode.PUSH, true));
        assertEquals("The target server is missing the required \"container_push\" API extension", e.getMessage());
        assertFalse(wrote(src) || wrote(tgt), "nothing was started");
    }

    @Test
    void aFailedPullReleasesTheSourceAndDeletesWhatTheTargetLeft() throws Exception {
        CountDownLatch released = new CountDownLatch(1);
        var src = serve("src", server(ALL_EXTENSIONS, "[\"127.0.0.1:8443\"]"), (method, path) -> {
            if (method.equals("POST") && path.startsWith("/1.0/instances/c1?")) {
                return json(202, "{\"type\":\"async\",\"status_code\":100,\"operation\":\"/1.0/operations/src1\","
                        + "\"metadata\":{\"id\":\"src1\",\"class\":\"websocket\",\"status_code\":103,"
                        + "\"metadata\":{\"control\":\"sc\",\"fs\":\"sf\"},\"may_cancel\":false}}");
            }
            if (path.startsWith("/1.0/operations/src1/websocket")) {
                released.countDown();
                return json(404, NOT_FOUND); // refused upgrade: the release goes on regardless
            }
            if (path.startsWith("/1.0/operations/src1/wait")) {
                // As incusd: the offering operation ends only once its websockets were connected (or after long).
                try {
                    released.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"id\":\"src1\","
                        + "\"status_code\":400,\"err\":\"Failed waiting for migration control connection\"}}");
            }
            return instanceOr404(method, path);
        });
        AtomicBoolean created = new AtomicBoolean();
        var tgt = serve("tgt", server(ALL_EXTENSIONS, "[\"127.0.0.1:8443\"]"), (method, path) -> {
            if (method.equals("POST") && path.startsWith("/1.0/instances?")) {
                created.set(true);
                return json(202, "{\"type\":\"async\",\"status_code\":100,\"operation\":\"/1.0/operations/tgt1\","
                        + "\"metadata\":{\"id\":\"tgt1\",\"class\":\"task\",\"status_code\":103}}");
            }
            if (path.startsWith("/1.0/operations/tgt1/wait")) {
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"id\":\"tgt1\","
                        + "\"status_code\":400,\"err\":\"Error transferring instance data: boom\"}}");
            }
            if (method.equals("DELETE") && path.startsWith("/1.0/instances/c1?")) {
                return json(202, "{\"type\":\"async\",\"status_code\":100,\"operation\":\"/1.0/operations/del1\","
                        + "\"metadata\":{\"id\":\"del1\",\"class\":\"task\",\"status_code\":103}}");
            }
            if (path.startsWith("/1.0/operations/del1/wait")) {
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"id\":\"del1\","
                        + "\"status_code\":200}}");
            }
            // The half-created instance: there once the create was sent (the server left it).
            return created.get() ? instanceOr404(method, path) : json(404, NOT_FOUND);
        });
        RemoteInstance c1 = (RemoteInstance) session(src, "a").load("c1");
        Instances target = session(tgt, "b");
        long t0 = System.nanoTime();
        IncusException e = assertThrows(IncusException.class, () -> c1.copyTo(target, null, TransferMode.PULL,
                true));
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(15), "bounded by the sessions' timeouts");
        assertEquals("Failed instance creation: Error transferring instance data: boom", e.getMessage());
        assertEquals(0, released.getCount(), "the source's websockets were connected to release it: "
                + src.requests);
        List<String> all = new ArrayList<>(src.requests);
        all.addAll(tgt.requests);
        assertTrue(all.stream().noneMatch(r -> r.startsWith("DELETE /1.0/operations")), "never cancelled: " + all);
        assertTrue(tgt.requests.stream().anyMatch(r -> r.startsWith("DELETE /1.0/instances/c1?")),
                "the instance the target left was deleted: " + tgt.requests);

        // What the target was asked for: the source's definition without its volatile keys but the base image,
        // and where to pull from.
        String create = tgt.requests.stream().filter(r -> r.startsWith("POST /1.0/instances?")).findFirst()
                .orElseThrow();
        JsonNode body = Transport.JSON.readTree(create.substring(create.indexOf('{')));
        assertEquals("{\"user.k\":\"v\",\"volatile.base_image\":\"abc\"}", body.path("config").toString());
        JsonNode source = body.path("source");
        assertEquals("pull", source.path("mode").asText());
        assertEquals("https://127.0.0.1:8443/1.0/operations/src1", source.path("operation").asText());
        assertEquals("CERT", source.path("certificate").asText());
        assertEquals("{\"control\":\"sc\",\"fs\":\"sf\"}", source.path("secrets").toString());
        assertEquals("abc", source.path("base-image").asText());
    }

    @Test
    void aRefusedPushReleasesTheTargetAndDeletesWhatItLeft() throws Exception {
        var src = serve("src", server(ALL_EXTENSIONS, "[]"), (method, path) -> {
            if (method.equals("POST") && path.startsWith("/1.0/instances/c1?")) {
                return json(400, "{\"type\":\"error\",\"error\":\"Invalid target operation\",\"error_code\":400}");
            }
            return instanceOr404(method, path);
        });
        CountDownLatch released = new CountDownLatch(2);
        AtomicBoolean created = new AtomicBoolean();
        var tgt = serve("tgt", server(ALL_EXTENSIONS, "[\"127.0.0.1:8443\"]"), (method, path) -> {
            if (method.equals("POST") && path.startsWith("/1.0/instances?")) {
                created.set(true);
                return json(202, "{\"type\":\"async\",\"status_code\":100,\"operation\":\"/1.0/operations/tgt1\","
                        + "\"metadata\":{\"id\":\"tgt1\",\"class\":\"websocket\",\"status_code\":103,"
                        + "\"metadata\":{\"control\":\"tc\",\"fs\":\"tf\"}}}");
            }
            if (path.startsWith("/1.0/operations/tgt1/websocket")) {
                released.countDown();
                return json(404, NOT_FOUND);
            }
            if (path.startsWith("/1.0/operations/tgt1/wait")) {
                try {
                    released.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"id\":\"tgt1\","
                        + "\"status_code\":400,\"err\":\"Failed waiting for migration control connection\"}}");
            }
            if (method.equals("DELETE") && path.startsWith("/1.0/instances/c1?")) {
                return json(200, "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{}}");
            }
            return created.get() ? instanceOr404(method, path) : json(404, NOT_FOUND);
        });
        RemoteInstance c1 = (RemoteInstance) session(src, "a").load("c1");
        Instances target = session(tgt, "b");
        long t0 = System.nanoTime();
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> c1.copyTo(target, null, TransferMode.PUSH, false));
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(15), "bounded by the sessions' timeouts");
        assertEquals("Failed instance migration: Invalid target operation", e.getMessage());
        assertEquals(0, released.getCount(), "both of the target's websockets were released: " + tgt.requests);
        assertTrue(tgt.requests.stream().noneMatch(r -> r.startsWith("DELETE /1.0/operations")), "never cancelled");
        assertTrue(tgt.requests.stream().anyMatch(r -> r.startsWith("DELETE /1.0/instances/c1?")),
                "the instance the target left was deleted: " + tgt.requests);
        String migrate = src.requests.stream().filter(r -> r.startsWith("POST /1.0/instances/c1?")).findFirst()
                .orElseThrow();
        JsonNode body = Transport.JSON.readTree(migrate.substring(migrate.indexOf('{')));
        assertTrue(body.path("migration").asBoolean() && body.path("instance_only").asBoolean(), migrate);
        assertEquals("https://127.0.0.1:8443/1.0/operations/tgt1", body.path("target").path("operation").asText());
        assertEquals("CERT", body.path("target").path("certificate").asText());
        assertEquals("{\"control\":\"tc\",\"fs\":\"tf\"}", body.path("target").path("secrets").toString());
    }
}
