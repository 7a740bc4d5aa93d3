package io.github.incus4j.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.OperationTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The QMP client against a real QEMU (a bare, paused q35 machine under TCG). Skipped when QEMU is not installed. */
@Timeout(120)
class QmpQemuTest {
    @TempDir
    Path dir;

    private TestQemu qemu;
    private QmpClient qmp;
    private final FakePeer.Threads threads = new FakePeer.Threads();

    @BeforeEach
    void start() throws Exception {
        assumeTrue(TestQemu.binary().isPresent(), TestQemu.BINARY + " is not installed (package qemu-system-x86)");
        qemu = TestQemu.start(dir);
        qmp = qemu.connect(new QmpClient.Options(Duration.ofSeconds(10), threads, dir.resolve("qemu.qmp.log")));
    }

    @AfterEach
    void stop() {
        try {
            if (qmp != null) {
                qmp.close();
            }
        } finally {
            if (qemu != null) {
                qemu.close();
            }
        }
    }

    @Test
    void greetingAndQueryStatus() {
        JsonNode version = qmp.greeting().path("version").path("qemu");
        assertTrue(version.path("major").asInt() >= 7, qmp.greeting().toString());
        JsonNode status = qmp.execute("query-status");
        assertEquals("prelaunch", status.path("status").asText());
        assertFalse(status.path("running").asBoolean());
        QmpErrorException e = assertThrows(QmpErrorException.class, () -> qmp.execute("no-such-command"));
        assertEquals("CommandNotFound: The command no-such-command has not been found", e.getMessage());
    }

    @Test
    void contAndStopEmitResumeAndStop() throws Exception {
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        qmp.onEvent(e -> events.add(e.name()));
        try (EventWait resume = qmp.expect(e -> e.name().equals("RESUME"))) {
            qmp.execute("cont");
            assertEquals("RESUME", resume.await(Duration.ofSeconds(5)).name());
        }
        assertEquals("running", qmp.execute("query-status").path("status").asText());
        try (EventWait stop = qmp.expect(e -> e.name().equals("STOP"))) {
            qmp.execute("stop");
            stop.await(Duration.ofSeconds(5));
        }
        assertEquals("paused", qmp.execute("query-status").path("status").asText());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (events.size() < 2 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(List.of("RESUME", "STOP"), events);
        String log = Files.readString(dir.resolve("qemu.qmp.log"));
        assertTrue(log.contains("] QUERY: {\"execute\":\"cont\",\"id\":"), log);
        assertTrue(log.contains("] Event: {\"timestamp\": "), log);
    }

    @Test
    void theSchemaIsOneBigReply() {
        JsonNode schema = qmp.execute("query-qmp-schema", null, Duration.ofSeconds(10));
        assertTrue(schema.isArray() && schema.size() > 1000, "entries: " + schema.size());
        // The client reads on after it.
        assertEquals("prelaunch", qmp.execute("query-status").path("status").asText());
    }

    @Test
    void argumentsReachQemu() {
        JsonNode machine = qmp.execute("qom-get", Map.of("path", "/machine", "property", "type"));
        assertTrue(machine.asText().contains("q35"), machine.toString());
        QmpErrorException e = assertThrows(QmpErrorException.class,
                () -> qmp.execute("qom-get", Map.of("path", "/nowhere", "property", "type")));
        assertEquals("DeviceNotFound", e.errorClass());
    }

    @Test
    void aSecondClientGetsNoGreetingWhileTheFirstIsConnected() {
        long start = System.nanoTime();
        OperationTimeoutException e = assertThrows(OperationTimeoutException.class,
                () -> QmpClient.connect(qemu.monitor(), new QmpClient.Options(Duration.ofMillis(500), threads, null)));
        assertEquals("QMP connection timed out", e.getMessage());
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 3000);
        assertEquals("prelaunch", qmp.execute("query-status").path("status").asText());
    }

    @Test
    void quitEmitsShutdownAndDisconnects() throws Exception {
        CompletableFuture<QmpEvent> shutdown = new CompletableFuture<>();
        qmp.onEvent(e -> {
            if (e.name().equals("SHUTDOWN")) {
                shutdown.complete(e);
            }
        });
        qmp.execute("quit");
        qmp.disconnected().toCompletableFuture().get(5, TimeUnit.SECONDS);
        // The listeners have seen every event when disconnected() completes.
        assertTrue(shutdown.isDone());
        assertEquals("host-qmp-quit", shutdown.get().data().path("reason").asText());
        assertFalse(qmp.isConnected());
        assertThrows(MonitorDisconnectedException.class, () -> qmp.execute("query-status"));
        assertTrue(qemu.process().waitFor(10, TimeUnit.SECONDS));
        assertTrue(threads.allEnded(Duration.ofSeconds(2)));
    }

    @Test
    void killingQemuFailsThePendingCallsWithinASecond() throws Exception {
        qemu.signal("STOP"); // frozen: the commands stay pending
        // One caller reads for itself, the other call is left to the reader thread.
        CompletableFuture<JsonNode> reading = CompletableFuture.supplyAsync(
                () -> qmp.execute("query-status", null, Duration.ofSeconds(30)));
        CompletableFuture<JsonNode> submitted = qmp.submit("query-status", null, Duration.ofSeconds(30));
        Thread.sleep(200);
        assertFalse(reading.isDone() || submitted.isDone());
        long start = System.nanoTime();
        qemu.signal("KILL");
        for (CompletableFuture<JsonNode> pending : List.of(reading, submitted)) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> pending.get(1, TimeUnit.SECONDS));
            assertEquals("Monitor is disconnected",
                    assertInstanceOf(MonitorDisconnectedException.class, e.getCause()).getMessage());
        }
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 1000);
        qmp.disconnected().toCompletableFuture().get(1, TimeUnit.SECONDS);
    }
}
