package io.github.incus4j.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.qemu.qmp.FakePeer.Conn;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The guest-agent client against a fake qemu-ga that answers as qemu-ga 7.2 does (checked against the real one). */
class GuestAgentClientTest extends FakePeerTest {
    private record Connected(GuestAgentClient agent, Conn conn) {
    }

    /** Connects through the sync: stale bytes of an earlier client first, then the agent's 0xFF mark and answer. */
    private Connected connect() throws Exception {
        Future<GuestAgentClient> agent = pool.submit(() -> GuestAgentClient.connect(fake.path(), Duration.ofSeconds(5),
                threads));
        Conn conn = fake.accept();
        cleanup.add(conn);
        JsonNode sync = conn.read();
        assertEquals("guest-sync-delimited", sync.get("execute").asText());
        assertFalse(sync.has("id"), "matched by its argument, not by a QMP id: " + sync);
        long id = sync.path("arguments").path("id").asLong();
        assertTrue(id > 0, sync.toString());
        // What an earlier client left behind: a whole reply with an id this client will use, and half a reply.
        conn.write("{\"return\": {\"pid\": 666}, \"id\": 1}\n{\"return\": {\"pi");
        // The agent's answer to the 0xFF this client sent, and the sync answer behind the agent's own 0xFF.
        conn.write("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n");
        conn.write(new byte[] {(byte) 0xFF});
        conn.line("{\"return\": " + id + "}");
        GuestAgentClient a = agent.get(5, TimeUnit.SECONDS);
        cleanup.add(0, a);
        return new Connected(a, conn);
    }

    @Test
    void connectSynchronisesPastStaleBytes() throws Exception {
        Connected g = connect();
        assertTrue(g.agent().isConnected());
        Future<?> ping = pool.submit(() -> g.agent().ping(Duration.ofSeconds(5)));
        JsonNode req = g.conn().read();
        assertEquals("guest-ping", req.get("execute").asText());
        g.conn().reply(req, "{}");
        ping.get(5, TimeUnit.SECONDS);
        assertEquals(1, threads.made.get(), "one reader thread");
    }

    @Test
    void syncIsRepeatedUntilTheAgentAnswers() throws Exception {
        Future<GuestAgentClient> agent = pool.submit(() -> GuestAgentClient.connect(fake.path(), Duration.ofSeconds(5),
                threads));
        Conn conn = fake.accept();
        cleanup.add(conn);
        JsonNode first = conn.read();
        JsonNode second = conn.read(Duration.ofSeconds(3)); // the guest was still booting: asked again
        assertEquals("guest-sync-delimited", second.get("execute").asText());
        long firstId = first.path("arguments").path("id").asLong();
        assertTrue(firstId != second.path("arguments").path("id").asLong());
        // The agent starts and answers both; the first answer syncs, the second is dropped.
        conn.write(new byte[] {(byte) 0xFF}).line("{\"return\": " + firstId + "}");
        conn.write(new byte[] {(byte) 0xFF}).line("{\"return\": " + second.path("arguments").path("id") + "}");
        GuestAgentClient a = agent.get(5, TimeUnit.SECONDS);
        cleanup.add(0, a);
        Future<JsonNode> info = pool.submit(() -> a.osInfo());
        conn.reply(conn.read(), "{\"id\": \"busybox\", \"kernel-release\": \"6.1\"}");
        assertEquals("busybox", info.get(5, TimeUnit.SECONDS).path("id").asText());
    }

    @Test
    void anAgentThatNeverAnswersIsAConnectionTimeout() throws Exception {
        long start = System.nanoTime();
        Future<GuestAgentClient> agent = pool.submit(() -> GuestAgentClient.connect(fake.path(),
                Duration.ofMillis(400), threads));
        cleanup.add(fake.accept());
        ExecutionException e = assertThrows(ExecutionException.class, () -> agent.get(5, TimeUnit.SECONDS));
        assertEquals("Guest agent connection timed out",
                assertInstanceOf(OperationTimeoutException.class, e.getCause()).getMessage());
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(ms >= 400 && ms < 2000, ms + " ms");
        assertTrue(threads.allEnded(Duration.ofSeconds(2)));
    }

    /** An agent socket held by another client, its backlog full: the connect is bounded by the timeout too. */
    @Test
    void aFullBacklogIsAConnectionTimeoutNotAHang() throws Exception {
        try (FakePeer.Jammed jammed = new FakePeer.Jammed(dir)) {
            long start = System.nanoTime();
            Future<GuestAgentClient> agent = pool.submit(() -> GuestAgentClient.connect(jammed.path(),
                    Duration.ofMillis(400), threads));
            ExecutionException e = assertThrows(ExecutionException.class, () -> agent.get(5, TimeUnit.SECONDS));
            assertEquals("Guest agent connection timed out",
                    assertInstanceOf(OperationTimeoutException.class, e.getCause()).getMessage());
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(ms >= 400 && ms < 2000, ms + " ms");
            assertTrue(threads.allEnded(Duration.ofSeconds(2)), "no thread is left blocked in a connect");
        }
    }

    @Test
    void execAndStatusDecodeBase64Output() throws Exception {
        Connected g = connect();
        byte[] input = "stdin bytes\n".getBytes(StandardCharsets.UTF_8);
        Future<Integer> exec = pool.submit(() -> g.agent().exec("/bin/sh", List.of("-c", "cat; echo err >&2; exit 3"),
                List.of("PATH=/bin"), input, true));
        JsonNode req = g.conn().read();
        assertEquals("guest-exec", req.get("execute").asText());
        JsonNode args = req.get("arguments");
        assertEquals("/bin/sh", args.path("path").asText());
        assertEquals("[\"-c\",\"cat; echo err >&2; exit 3\"]", args.path("arg").toString());
        assertEquals("[\"PATH=/bin\"]", args.path("env").toString());
        assertArrayEquals(input, Base64.getDecoder().decode(args.path("input-data").asText()));
        assertTrue(args.path("capture-output").asBoolean());
        g.conn().reply(req, "{\"pid\": 4242}");
        int pid = exec.get(5, TimeUnit.SECONDS);
        assertEquals(4242, pid);

        Future<GuestAgentClient.ExecStatus> running = pool.submit(() -> g.agent().execStatus(pid));
        JsonNode statusReq = g.conn().read();
        assertEquals(4242, statusReq.path("arguments").path("pid").asInt());
        g.conn().reply(statusReq, "{\"exited\": false}");
        GuestAgentClient.ExecStatus s = running.get(5, TimeUnit.SECONDS);
        assertFalse(s.exited());
        assertNull(s.exitCode());
        assertEquals(0, s.out().length);

        Future<GuestAgentClient.ExecStatus> exited = pool.submit(() -> g.agent().execStatus(pid));
        g.conn().reply(g.conn().read(), "{\"exitcode\": 3, \"out-data\": \""
                + Base64.getEncoder().encodeToString(input) + "\", \"err-data\": \"ZXJyCg==\", \"exited\": true,"
                + " \"out-truncated\": true}");
        s = exited.get(5, TimeUnit.SECONDS);
        assertTrue(s.exited());
        assertEquals(3, s.exitCode());
        assertNull(s.signal());
        assertArrayEquals(input, s.out());
        assertEquals("err\n", new String(s.err(), StandardCharsets.UTF_8));
        assertTrue(s.outTruncated());
        assertFalse(s.errTruncated());

        Future<Integer> bare = pool.submit(() -> g.agent().exec("/bin/true", null, null, null, false));
        JsonNode bareReq = g.conn().read();
        assertEquals("{\"path\":\"/bin/true\",\"capture-output\":false}", bareReq.get("arguments").toString());
        g.conn().reply(bareReq, "{\"pid\": 7}");
        assertEquals(7, bare.get(5, TimeUnit.SECONDS));
    }

    @Test
    void fileOperations() throws Exception {
        Connected g = connect();
        Future<Long> open = pool.submit(() -> g.agent().fileOpen("/etc/hostname", "r"));
        JsonNode openReq = g.conn().read();
        assertEquals("{\"path\":\"/etc/hostname\",\"mode\":\"r\"}", openReq.get("arguments").toString());
        g.conn().reply(openReq, "1000");
        long handle = open.get(5, TimeUnit.SECONDS);
        assertEquals(1000, handle);

        Future<byte[]> read = pool.submit(() -> g.agent().fileRead(handle, 4096));
        JsonNode readReq = g.conn().read();
        assertEquals(4096, readReq.path("arguments").path("count").asInt());
        g.conn().reply(readReq, "{\"count\": 3, \"buf-b64\": \"dm0K\", \"eof\": false}");
        assertEquals("vm\n", new String(read.get(5, TimeUnit.SECONDS), StandardCharsets.UTF_8));
        Future<byte[]> eof = pool.submit(() -> g.agent().fileRead(handle, 4096));
        g.conn().reply(g.conn().read(), "{\"count\": 0, \"buf-b64\": \"\", \"eof\": true}");
        assertEquals(0, eof.get(5, TimeUnit.SECONDS).length);
        assertThrows(InvalidArgumentException.class, () -> g.agent().fileRead(handle, 0));

        // 1.5 MiB goes in two requests; the agent writing less than asked is followed by the rest.
        byte[] data = new byte[(3 << 20) / 2];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) i;
        }
        Future<?> write = pool.submit(() -> g.agent().fileWrite(handle, data));
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        List<Integer> sizes = new ArrayList<>();
        while (received.size() < data.length) {
            JsonNode w = g.conn().read();
            assertEquals("guest-file-write", w.get("execute").asText());
            byte[] chunk = Base64.getDecoder().decode(w.path("arguments").path("buf-b64").asText());
            assertEquals(chunk.length, w.path("arguments").path("count").asInt());
            int taken = sizes.isEmpty() ? 1000 : chunk.length;
            sizes.add(chunk.length);
            received.write(chunk, 0, taken);
            g.conn().reply(w, "{\"count\": " + taken + ", \"eof\": false}");
        }
        write.get(5, TimeUnit.SECONDS);
        assertArrayEquals(data, received.toByteArray());
        assertEquals(List.of(1 << 20, 1 << 20, data.length - 1000 - (1 << 20)), sizes);

        Future<?> close = pool.submit(() -> g.agent().fileClose(handle));
        JsonNode closeReq = g.conn().read();
        assertEquals("guest-file-close", closeReq.get("execute").asText());
        g.conn().reply(closeReq, "{}");
        close.get(5, TimeUnit.SECONDS);
    }

    @Test
    void agentErrorsAndTimeouts() throws Exception {
        Connected g = connect();
        Future<Long> open = pool.submit(() -> g.agent().fileOpen("/nonexistent/x", "r"));
        g.conn().error(g.conn().read(), "GenericError",
                "failed to open file '/nonexistent/x' (mode: 'r'): No such file or directory");
        ExecutionException e = assertThrows(ExecutionException.class, () -> open.get(5, TimeUnit.SECONDS));
        assertEquals("GenericError: failed to open file '/nonexistent/x' (mode: 'r'): No such file or directory",
                assertInstanceOf(QmpErrorException.class, e.getCause()).getMessage());

        OperationTimeoutException t = assertThrows(OperationTimeoutException.class,
                () -> g.agent().execute("guest-info", null, Duration.ofMillis(200)));
        assertEquals("Guest agent command timed out: \"guest-info\" after 200ms", t.getMessage());
        g.conn().reply(g.conn().read(), "{\"version\": \"late\"}"); // dropped: nobody waits for it
        Future<JsonNode> info = pool.submit(() -> g.agent().execute("guest-info"));
        g.conn().reply(g.conn().read(), "{\"version\": \"7.2\"}");
        assertEquals("7.2", info.get(5, TimeUnit.SECONDS).path("version").asText());
    }

    @Test
    void shutdownWaitsBrieflyForAnErrorOnly() throws Exception {
        Connected g = connect();
        InvalidArgumentException bad = assertThrows(InvalidArgumentException.class, () -> g.agent().shutdown("off"));
        assertEquals("Invalid shutdown mode \"off\": must be one of powerdown, reboot, halt", bad.getMessage());

        Future<?> failing = pool.submit(() -> g.agent().shutdown("powerdown"));
        JsonNode req = g.conn().read();
        assertEquals("{\"mode\":\"powerdown\"}", req.get("arguments").toString());
        g.conn().error(req, "GenericError", "child process has failed to shutdown");
        ExecutionException e = assertThrows(ExecutionException.class, () -> failing.get(5, TimeUnit.SECONDS));
        assertInstanceOf(QmpErrorException.class, e.getCause());

        long start = System.nanoTime();
        Future<?> accepted = pool.submit(() -> g.agent().shutdown("reboot"));
        g.conn().read(); // a shutdown that works gets no answer
        accepted.get(5, TimeUnit.SECONDS);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(ms >= 900 && ms < 3000, ms + " ms");

        Future<?> poweredOff = pool.submit(() -> g.agent().shutdown("halt"));
        g.conn().read();
        g.conn().close(); // QEMU exits with the guest
        poweredOff.get(5, TimeUnit.SECONDS);
    }

    @Test
    void aClosedSocketFailsPendingCallsAtOnce() throws Exception {
        Connected g = connect();
        Future<JsonNode> pending = pool.submit(() -> g.agent().execute("guest-exec-status", null,
                Duration.ofSeconds(30)));
        g.conn().read();
        g.conn().close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> pending.get(1, TimeUnit.SECONDS));
        assertEquals("Guest agent is disconnected",
                assertInstanceOf(MonitorDisconnectedException.class, e.getCause()).getMessage());
        assertFalse(g.agent().isConnected());
        assertThrows(MonitorDisconnectedException.class, () -> g.agent().ping(Duration.ofSeconds(1)));
        assertTrue(threads.allEnded(Duration.ofSeconds(2)));
    }
}
