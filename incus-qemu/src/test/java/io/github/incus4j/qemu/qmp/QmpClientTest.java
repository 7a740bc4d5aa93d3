package io.github.incus4j.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.qemu.qmp.FakePeer.Conn;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The QMP client against a fake monitor that sends exactly the bytes each test needs. */
class QmpClientTest extends FakePeerTest {
    /** A client through greeting and capabilities, and the server side of its connection. */
    private record Connected(QmpClient client, Conn conn) {
    }

    private Connected connect() throws Exception {
        return connect(QmpClient.Options.defaults(threads));
    }

    private Connected connect(QmpClient.Options options) throws Exception {
        Future<QmpClient> client = pool.submit(() -> QmpClient.connect(fake.path(), options));
        Conn conn = fake.accept();
        cleanup.add(conn);
        conn.line(FakePeer.GREETING);
        JsonNode caps = conn.read();
        assertEquals("qmp_capabilities", caps.get("execute").asText());
        conn.reply(caps, "{}");
        QmpClient c = client.get(5, TimeUnit.SECONDS);
        cleanup.add(0, c);
        return new Connected(c, conn);
    }

    @Test
    void greetingAndCapabilities() throws Exception {
        Future<QmpClient> client = pool.submit(() -> QmpClient.connect(fake.path(),
                QmpClient.Options.defaults(threads)));
        Conn conn = fake.accept();
        cleanup.add(conn);
        conn.line(FakePeer.GREETING);
        JsonNode caps = conn.read();
        assertEquals("qmp_capabilities", caps.get("execute").asText());
        assertTrue(caps.get("id").isIntegralNumber(), caps.toString());
        assertFalse(caps.has("arguments"), caps.toString());
        // Events may come before the capabilities reply.
        conn.event("RTC_CHANGE", "{\"offset\": 1}").reply(caps, "{}");
        QmpClient c = client.get(5, TimeUnit.SECONDS);
        cleanup.add(0, c);
        assertEquals(7, c.greeting().path("version").path("qemu").path("major").asInt());
        assertTrue(c.isConnected());
    }

    @Test
    void commandsCarryArgumentsAndDistinctIds() throws Exception {
        Connected q = connect();
        record Args(String device, Integer size, String format) {
        }
        ObjectNode node = FakePeer.JSON.createObjectNode().put("a", 1);
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("device", "console");
        map.put("absent", null);
        List<Object> sent = List.of(new Args("serial", 16, null), node, map);
        List<Future<JsonNode>> calls = new ArrayList<>();
        for (Object args : sent) {
            calls.add(pool.submit(() -> q.client().execute("x-test", args)));
        }
        List<Long> ids = new ArrayList<>();
        for (int i = 0; i < sent.size(); i++) {
            JsonNode req = q.conn().read();
            ids.add(req.get("id").asLong());
            q.conn().reply(req, req.get("arguments").toString());
        }
        assertEquals(3, ids.stream().distinct().count(), ids.toString());
        assertEquals("{\"device\":\"serial\",\"size\":16}", calls.get(0).get(5, TimeUnit.SECONDS).toString());
        assertEquals("{\"a\":1}", calls.get(1).get(5, TimeUnit.SECONDS).toString());
        assertEquals("{\"device\":\"console\"}", calls.get(2).get(5, TimeUnit.SECONDS).toString());

        InvalidArgumentException bad = assertThrows(InvalidArgumentException.class,
                () -> q.client().execute("x-test", "not an object"));
        assertTrue(bad.getMessage().contains("\"x-test\"") && bad.getMessage().contains("STRING"), bad.getMessage());
        assertFalse(q.conn().received(Duration.ofMillis(100)), "nothing sent for bad arguments");
    }

    @Test
    void repliesOutOfOrderReachTheirCallers() throws Exception {
        Connected q = connect();
        List<CompletableFuture<JsonNode>> calls = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            calls.add(q.client().submit("echo", Map.of("n", i), Duration.ofSeconds(5)));
        }
        List<JsonNode> requests = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            requests.add(q.conn().read());
        }
        Collections.reverse(requests);
        for (JsonNode req : requests) {
            q.conn().reply(req, "{\"n\": " + req.path("arguments").path("n") + "}");
        }
        for (int i = 0; i < 5; i++) {
            assertEquals(i, calls.get(i).get(5, TimeUnit.SECONDS).path("n").asInt());
        }
    }

    @Test
    void eventsBeforeBetweenAndInsideReadsAreDeliveredInOrder() throws Exception {
        Connected q = connect();
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch all = new CountDownLatch(4);
        q.client().onEvent(e -> {
            seen.add(e.name() + ":" + e.data().path("n").asInt());
            all.countDown();
        });
        Future<JsonNode> first = pool.submit(() -> q.client().execute("query-status"));
        JsonNode req = q.conn().read();
        q.conn().event("A", "{\"n\": 1}");
        // A reply and two events in one write, the last event split over two writes.
        String reply = "{\"return\": {\"status\": \"running\"}, \"id\": " + req.get("id") + "}\r\n";
        String b = "{\"event\": \"B\", \"data\": {\"n\": 2}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n";
        String c = "{\"event\": \"C\", \"data\": {\"n\": 3}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 3}}\r\n";
        q.conn().write(reply + b + c.substring(0, 20));
        Thread.sleep(50);
        q.conn().write(c.substring(20));
        assertEquals("running", first.get(5, TimeUnit.SECONDS).path("status").asText());
        Future<JsonNode> second = pool.submit(() -> q.client().execute("query-status"));
        JsonNode req2 = q.conn().read();
        q.conn().event("D", "{\"n\": 4}").reply(req2, "{\"status\": \"paused\"}");
        assertEquals("paused", second.get(5, TimeUnit.SECONDS).path("status").asText());
        assertTrue(all.await(5, TimeUnit.SECONDS));
        assertEquals(List.of("A:1", "B:2", "C:3", "D:4"), seen);
    }

    @Test
    void eventFieldsAndMissingData() throws Exception {
        Connected q = connect();
        CompletableFuture<QmpEvent> got = new CompletableFuture<>();
        q.client().onEvent(got::complete);
        q.conn().event("POWERDOWN", null);
        QmpEvent e = got.get(5, TimeUnit.SECONDS);
        assertEquals("POWERDOWN", e.name());
        assertTrue(e.data().isObject() && e.data().isEmpty(), e.data().toString());
        assertEquals(Instant.ofEpochSecond(1700000000, 123456000), e.timestamp());
    }

    @Test
    void manyListenersKeepOrderAndAFailingOneDoesNotStopThem() throws Exception {
        Connected q = connect();
        List<Integer> first = Collections.synchronizedList(new ArrayList<>());
        List<Integer> second = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch done = new CountDownLatch(1);
        q.client().onEvent(e -> first.add(e.data().path("n").asInt()));
        q.client().onEvent(e -> {
            throw new IllegalStateException("listener bug");
        });
        q.client().onEvent(e -> {
            second.add(e.data().path("n").asInt());
            if (second.size() == 300) {
                done.countDown();
            }
        });
        StringBuilder burst = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            burst.append("{\"event\": \"E\", \"data\": {\"n\": ").append(i).append("}}\r\n");
        }
        q.conn().write(burst.toString());
        assertTrue(done.await(10, TimeUnit.SECONDS));
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            expected.add(i);
        }
        assertEquals(expected, second);
        assertEquals(expected, first);
    }

    @Test
    void aSlowListenerDoesNotDelayReplies() throws Exception {
        Connected q = connect();
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch inListener = new CountDownLatch(1);
        q.client().onEvent(e -> {
            inListener.countDown();
            try {
                release.await();
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
        });
        q.conn().event("SLOW", null);
        assertTrue(inListener.await(5, TimeUnit.SECONDS));
        for (int i = 0; i < 10; i++) {
            Future<JsonNode> call = pool.submit(() -> q.client().execute("query-status"));
            JsonNode req = q.conn().read();
            q.conn().event("MORE", null).reply(req, "{\"status\": \"running\"}");
            assertEquals("running", call.get(2, TimeUnit.SECONDS).path("status").asText());
        }
        release.countDown();
    }

    @Test
    void malformedJsonAndIdlessErrorsAreIgnored() throws Exception {
        Connected q = connect();
        Future<JsonNode> call = pool.submit(() -> q.client().execute("query-status"));
        JsonNode req = q.conn().read();
        q.conn().line("this is not json")
                .line("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '}'\"}}")
                .line("[1, 2, 3]")
                .line("{\"return\": {}, \"id\": \"not-ours\"}")
                .line("{\"return\": {}, \"id\": 987654}")
                .write("\r\n\r\n")
                .reply(req, "{\"status\": \"running\"}");
        assertEquals("running", call.get(5, TimeUnit.SECONDS).path("status").asText());
        assertTrue(q.client().isConnected());
    }

    @Test
    void aReplySplitIntoManySmallWritesIsReassembled() throws Exception {
        Connected q = connect();
        Future<JsonNode> call = pool.submit(() -> q.client().execute("query-name"));
        JsonNode req = q.conn().read();
        byte[] reply = ("{\"return\": {\"name\": \"vm\u00e9\"}, \"id\": " + req.get("id") + "}\r\n")
                .getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < reply.length; i += 3) {
            q.conn().write(java.util.Arrays.copyOfRange(reply, i, Math.min(reply.length, i + 3)));
            Thread.sleep(1);
        }
        assertEquals("vm\u00e9", call.get(5, TimeUnit.SECONDS).path("name").asText());
    }

    @Test
    void aMultiMegabyteReplyOnOneLine() throws Exception {
        Connected q = connect();
        Future<JsonNode> call = pool.submit(() -> q.client().execute("query-qmp-schema", null,
                Duration.ofSeconds(10)));
        JsonNode req = q.conn().read();
        StringBuilder big = new StringBuilder("[");
        for (int i = 0; i < 80_000; i++) {
            big.append(i == 0 ? "" : ", ").append("{\"name\": \"entry-").append(i).append("\", \"meta-type\": \"x\"}");
        }
        big.append(']');
        assertTrue(big.length() > 3_000_000, "length " + big.length());
        // An event right behind it in the same write, and the next reply.
        q.conn().write("{\"return\": " + big + ", \"id\": " + req.get("id") + "}\r\n{\"event\": \"AFTER\"}\r\n");
        JsonNode schema = call.get(10, TimeUnit.SECONDS);
        assertEquals(80_000, schema.size());
        assertEquals("entry-79999", schema.get(79_999).path("name").asText());
        Future<JsonNode> next = pool.submit(() -> q.client().execute("query-status"));
        q.conn().reply(q.conn().read(), "{\"status\": \"running\"}");
        assertEquals("running", next.get(5, TimeUnit.SECONDS).path("status").asText());
    }

    @Test
    void errorRepliesBecomeQmpErrorExceptions() throws Exception {
        Connected q = connect();
        Future<JsonNode> call = pool.submit(() -> q.client().execute("nope"));
        q.conn().error(q.conn().read(), "CommandNotFound", "The command nope has not been found");
        ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(5, TimeUnit.SECONDS));
        QmpErrorException error = assertInstanceOf(QmpErrorException.class, e.getCause());
        assertEquals("CommandNotFound: The command nope has not been found", error.getMessage());
        assertEquals("CommandNotFound", error.errorClass());
        assertEquals("The command nope has not been found", error.description());
        assertEquals(500, error.status());
    }

    @Test
    void aCommandTimesOutWithIncussTextAndItsLateReplyIsDropped() throws Exception {
        Connected q = connect();
        long start = System.nanoTime();
        Future<JsonNode> call = pool.submit(() -> q.client().execute("query-status"));
        JsonNode late = q.conn().read();
        ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(5, TimeUnit.SECONDS));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        OperationTimeoutException timeout = assertInstanceOf(OperationTimeoutException.class, e.getCause());
        assertEquals("Monitor command timed out: \"query-status\" after 500ms", timeout.getMessage());
        assertTrue(ms >= 500 && ms < 2000, ms + " ms");

        q.conn().reply(late, "{\"status\": \"late\"}");
        Future<JsonNode> next = pool.submit(() -> q.client().execute("query-status"));
        q.conn().reply(q.conn().read(), "{\"status\": \"running\"}");
        assertEquals("running", next.get(5, TimeUnit.SECONDS).path("status").asText());

        OperationTimeoutException own = assertThrows(OperationTimeoutException.class,
                () -> q.client().execute("stop", null, Duration.ofMillis(1500)));
        assertEquals("Monitor command timed out: \"stop\" after 1.5s", own.getMessage());
    }

    @Test
    void submitTimesOut() throws Exception {
        Connected q = connect();
        CompletableFuture<JsonNode> call = q.client().submit("query-status", null, Duration.ofMillis(200));
        ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(5, TimeUnit.SECONDS));
        assertInstanceOf(OperationTimeoutException.class, e.getCause());
        CompletableFuture<JsonNode> error = q.client().submit("nope", null, Duration.ofSeconds(5));
        q.conn().read();
        q.conn().error(q.conn().read(), "GenericError", "boom");
        CompletionException ce = assertThrows(CompletionException.class, error::join);
        assertEquals("GenericError: boom", assertInstanceOf(QmpErrorException.class, ce.getCause()).getMessage());
    }

    @Test
    void closingMidCommandFailsEveryPendingCallAtOnce() throws Exception {
        Connected q = connect();
        List<Future<JsonNode>> calls = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            calls.add(pool.submit(() -> q.client().execute("stop")));   // 30 s timeout each
        }
        for (int i = 0; i < 5; i++) {
            q.conn().read();
        }
        CompletableFuture<QmpEvent> lastEvent = new CompletableFuture<>();
        q.client().onEvent(lastEvent::complete);
        EventWait never = q.client().expect(e -> e.name().equals("NEVER"));
        q.conn().event("SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
        long start = System.nanoTime();
        q.conn().close();
        for (Future<JsonNode> call : calls) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(1, TimeUnit.SECONDS));
            assertEquals("Monitor is disconnected",
                    assertInstanceOf(MonitorDisconnectedException.class, e.getCause()).getMessage());
        }
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 1000);
        q.client().disconnected().toCompletableFuture().get(1, TimeUnit.SECONDS);
        // disconnected() comes after the listeners saw the last event.
        assertTrue(lastEvent.isDone());
        assertFalse(q.client().isConnected());
        assertThrows(MonitorDisconnectedException.class, () -> never.await(Duration.ofSeconds(5)));
        assertThrows(MonitorDisconnectedException.class, () -> q.client().execute("query-status"));
        assertThrows(MonitorDisconnectedException.class,
                () -> q.client().expect(e -> true).await(Duration.ofSeconds(5)));
        assertTrue(threads.allEnded(Duration.ofSeconds(2)), "reader and event threads end with the connection");
    }

    @Test
    void closeFailsPendingCallsAndEndsTheThreads() throws Exception {
        Connected q = connect();
        Future<JsonNode> call = pool.submit(() -> q.client().execute("stop"));
        q.conn().read();
        q.client().close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(1, TimeUnit.SECONDS));
        assertInstanceOf(MonitorDisconnectedException.class, e.getCause());
        assertFalse(q.client().isConnected());
        q.client().disconnected().toCompletableFuture().get(1, TimeUnit.SECONDS);
        q.client().close(); // idempotent
        assertEquals(1, threads.made.get(), "a reader, and no event thread without listeners");
        assertTrue(threads.allEnded(Duration.ofSeconds(2)));
    }

    @Test
    void theEventThreadStartsWithTheFirstListenerAndEndsWithTheConnection() throws Exception {
        Connected q = connect();
        assertEquals(1, threads.made.get(), "the handshake ran on the connecting thread; then one reader");
        QmpClient.Subscription first = q.client().onEvent(e -> { });
        q.client().onEvent(e -> { }).close();
        first.close();
        assertEquals(2, threads.made.get(), "one event thread for all listeners");
        q.conn().close();
        q.client().disconnected().toCompletableFuture().get(1, TimeUnit.SECONDS);
        assertTrue(threads.allEnded(Duration.ofSeconds(2)));
    }

    @Test
    void aLoneCallerReadsItsOwnReplyAndTheEventsBeforeIt() throws Exception {
        Connected q = connect();
        List<String> readers = Collections.synchronizedList(new ArrayList<>());
        EventWait wait = q.client().expect(e -> readers.add(Thread.currentThread().getName()) && false);
        Future<String> caller = pool.submit(() -> {
            q.client().execute("query-status");
            return Thread.currentThread().getName();
        });
        q.conn().event("BEFORE", null).reply(q.conn().read(), "{\"status\": \"running\"}");
        String name = caller.get(5, TimeUnit.SECONDS);
        assertEquals(List.of(name), readers, "no handoff through the reader thread");
        wait.close();
        // Nobody calls: the reader thread reads the next event.
        CompletableFuture<String> idle = new CompletableFuture<>();
        q.client().expect(e -> idle.complete(Thread.currentThread().getName()));
        q.conn().event("IDLE", null);
        assertTrue(idle.get(5, TimeUnit.SECONDS).startsWith("qmp-test-"), idle.get());
    }

    @Test
    void manyThreadsEachGetTheirOwnReply() throws Exception {
        Connected q = connect();
        int callers = 16;
        int perCaller = 300;
        // The server answers whatever requests it has (up to 7) in reverse order, with events in between.
        Thread server = new Thread(() -> {
            List<JsonNode> batch = new ArrayList<>();
            for (int served = 0; served < callers * perCaller; served += batch.size()) {
                batch.clear();
                batch.add(q.conn().read());
                for (JsonNode more; batch.size() < 7 && (more = q.conn().poll()) != null; ) {
                    batch.add(more);
                }
                StringBuilder out = new StringBuilder();
                for (int i = batch.size() - 1; i >= 0; i--) {
                    JsonNode r = batch.get(i);
                    out.append("{\"event\": \"TICK\"}\r\n{\"return\": ").append(r.get("arguments"))
                            .append(", \"id\": ").append(r.get("id")).append("}\r\n");
                }
                q.conn().write(out.toString());
            }
        });
        server.setDaemon(true);
        server.start();
        List<Future<Integer>> results = new ArrayList<>();
        for (int t = 0; t < callers; t++) {
            int caller = t;
            results.add(pool.submit(() -> {
                int ok = 0;
                for (int i = 0; i < perCaller; i++) {
                    JsonNode r = q.client().execute("echo", Map.of("caller", caller, "i", i), Duration.ofSeconds(10));
                    if (r.path("caller").asInt() == caller && r.path("i").asInt() == i) {
                        ok++;
                    }
                }
                return ok;
            }));
        }
        for (Future<Integer> r : results) {
            assertEquals(perCaller, r.get(60, TimeUnit.SECONDS));
        }
        server.join(5000);
    }

    @Test
    void expectMatchesTheFirstMatchingEventEvenBeforeTheReply() throws Exception {
        Connected q = connect();
        try (EventWait stop = q.client().expect(e -> e.name().equals("STOP"))) {
            Future<JsonNode> call = pool.submit(() -> q.client().execute("stop"));
            JsonNode req = q.conn().read();
            q.conn().event("RESUME", null).event("STOP", "{\"n\": 1}").event("STOP", "{\"n\": 2}").reply(req, "{}");
            call.get(5, TimeUnit.SECONDS);
            assertTrue(stop.isDone());
            assertEquals(1, stop.await(Duration.ofSeconds(1)).data().path("n").asInt());
        }
        EventWait none = q.client().expect(e -> e.name().equals("NEVER"));
        OperationTimeoutException t = assertThrows(OperationTimeoutException.class,
                () -> none.await(Duration.ofMillis(100)));
        assertEquals("No matching QMP event within 100ms", t.getMessage());
    }

    @Test
    void theWireLogHasIncussLines() throws Exception {
        Path logFile = dir.resolve("qemu.qmp.log");
        Connected q = connect(new QmpClient.Options(Duration.ofSeconds(5), threads, logFile));
        Future<JsonNode> call = pool.submit(() -> q.client().execute("query-status"));
        q.conn().reply(q.conn().read(), "{\"status\": \"running\"}");
        call.get(5, TimeUnit.SECONDS);
        Future<JsonNode> ring = pool.submit(() -> q.client().execute("ringbuf-read", Map.of("device", "c")));
        q.conn().reply(q.conn().read(), "\"secret\"");
        ring.get(5, TimeUnit.SECONDS);
        CountDownLatch events = new CountDownLatch(2);
        q.client().onEvent(e -> events.countDown());
        q.conn().event("VSERPORT_CHANGE", "{\"open\": true}").event("STOP", null);
        assertTrue(events.await(5, TimeUnit.SECONDS));
        q.client().close();
        q.client().disconnected().toCompletableFuture().get(1, TimeUnit.SECONDS);

        String log = Files.readString(logFile);
        String ts = "\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(Z|[+-]\\d\\d:\\d\\d)\\] ";
        List<String> lines = log.lines().toList();
        assertTrue(lines.get(0).matches(ts + "QUERY: \\{\"execute\":\"qmp_capabilities\",\"id\":\\d+}"), log);
        assertTrue(lines.get(1).matches(ts + "REPLY: \\{\"return\": \\{}, \"id\": \\d+}"), log);
        assertEquals("", lines.get(2));
        assertTrue(lines.get(3).matches(ts + "QUERY: \\{\"execute\":\"query-status\",\"id\":\\d+}"), log);
        assertTrue(lines.get(4).matches(ts + "REPLY: \\{\"return\": \\{\"status\": \"running\"}, \"id\": \\d+}"), log);
        assertEquals("", lines.get(5));
        assertTrue(lines.get(6).matches(ts + "Event: \\{\"timestamp\": .*\"event\": \"STOP\"}"), log);
        assertEquals(7, lines.size(), log);
        assertFalse(log.contains("ringbuf") || log.contains("secret") || log.contains("VSERPORT"), log);
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(logFile)));
    }

    @Test
    void noGreetingIsAConnectionTimeout() throws Exception {
        long start = System.nanoTime();
        Future<QmpClient> client = pool.submit(() -> QmpClient.connect(fake.path(),
                new QmpClient.Options(Duration.ofMillis(300), threads, null)));
        Conn conn = fake.accept();
        cleanup.add(conn);
        ExecutionException e = assertThrows(ExecutionException.class, () -> client.get(5, TimeUnit.SECONDS));
        assertEquals("QMP connection timed out",
                assertInstanceOf(OperationTimeoutException.class, e.getCause()).getMessage());
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(ms >= 300 && ms < 2000, ms + " ms");
        assertTrue(threads.allEnded(Duration.ofSeconds(2)), "a failed connect leaves no thread behind");
    }

    /**
     * A monitor held by another client, whose backlog is full too (a second client waits in it): the connect itself
     * blocks. It used to hang in the JDK's connect (8 min and more); it is bounded by the connect timeout now.
     */
    @Test
    void aFullBacklogIsAConnectionTimeoutNotAHang() throws Exception {
        try (FakePeer.Jammed jammed = new FakePeer.Jammed(dir)) {
            for (int attempt = 0; attempt < 2; attempt++) { // the next call too: nothing is left blocked or broken
                long start = System.nanoTime();
                Future<QmpClient> client = pool.submit(() -> QmpClient.connect(jammed.path(),
                        new QmpClient.Options(Duration.ofMillis(300), threads, null)));
                ExecutionException e = assertThrows(ExecutionException.class, () -> client.get(5, TimeUnit.SECONDS));
                assertEquals("QMP connection timed out",
                        assertInstanceOf(OperationTimeoutException.class, e.getCause()).getMessage());
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(ms >= 300 && ms < 2000, ms + " ms");
            }
            assertTrue(threads.allEnded(Duration.ofSeconds(2)), "no thread is left blocked in a connect");
        }
    }

    @Test
    void noCapabilitiesReplyIsAConnectionTimeoutToo() throws Exception {
        Future<QmpClient> client = pool.submit(() -> QmpClient.connect(fake.path(),
                new QmpClient.Options(Duration.ofMillis(300), threads, null)));
        Conn conn = fake.accept();
        cleanup.add(conn);
        conn.line(FakePeer.GREETING);
        ExecutionException e = assertThrows(ExecutionException.class, () -> client.get(5, TimeUnit.SECONDS));
        assertEquals("QMP connection timed out", e.getCause().getMessage());
    }

    @Test
    void eofDuringTheHandshakeIsADisconnect() throws Exception {
        Future<QmpClient> client = pool.submit(() -> QmpClient.connect(fake.path(),
                QmpClient.Options.defaults(threads)));
        fake.accept().close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> client.get(5, TimeUnit.SECONDS));
        assertInstanceOf(MonitorDisconnectedException.class, e.getCause());
    }

    @Test
    void nothingListeningNamesTheSocket() {
        Path missing = dir.resolve("missing.sock");
        QmpException e = assertThrows(QmpException.class,
                () -> QmpClient.connect(missing, QmpClient.Options.defaults(threads)));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }

    @Test
    void timeoutsFollowIncussTable() {
        assertEquals(Duration.ofMillis(500), QmpTimeouts.forCommand("query-status"));
        assertEquals(Duration.ofMillis(500), QmpTimeouts.forCommand("quit"));
        assertEquals(Duration.ofSeconds(5), QmpTimeouts.forCommand("block-commit"));
        assertEquals(Duration.ofSeconds(5), QmpTimeouts.forCommand("transaction"));
        assertEquals(Duration.ofSeconds(30), QmpTimeouts.forCommand("cont"));
        assertEquals(Duration.ofSeconds(30), QmpTimeouts.forCommand("query-migrate"));
        assertEquals(Duration.ofSeconds(10), QmpTimeouts.forCommand("screendump"));
    }
}
