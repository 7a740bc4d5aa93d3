package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.testkit.contract.MigrationPipe;
import io.github.incus4j.testkit.fake.FakeDriver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The migration relay's failures against a real incusd (the contract's migration group covers the moves that work):
 * a side that cannot go on stops the other one, and leaves the source as it was and no operation running. And
 * {@link RemoteInstance#copyTo}/{@link RemoteInstance#moveTo} in pull and push mode between two projects of the one
 * daemon, which dials itself over HTTPS on a loopback address ({@link #requireListener()}).
 */
class IncusMigrationTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private IncusInstances source;
    private IncusInstances target;
    private final List<Instance> created = new ArrayList<>();

    @BeforeEach
    void open(@TempDir Path root) {
        Applicability a = new IncusDriver().applicability();
        assumeTrue(a.applicable(), () -> "no trusted incusd here (.ci/incusd start runs one): " + a.reason());
        source = (IncusInstances) new IncusDriver().open(root.resolve("a"), IncusDriver.findSocket(), TIMEOUT);
        target = (IncusInstances) new IncusDriver().open(root.resolve("b"), IncusRemote.unix(IncusDriver.findSocket())
                .timeout(TIMEOUT).project(TestProject.ensure(IncusDriver.findSocket(), TIMEOUT)).build());
    }

    @AfterEach
    void close() {
        List<RuntimeException> failures = new ArrayList<>();
        for (Instance i : created) {
            for (IncusInstances s : List.of(source, target)) {
                try {
                    s.find("default", i.name()).ifPresent(found -> {
                        if (found.isRunning()) {
                            found.stop(false);
                        }
                        found.delete(true);
                    });
                } catch (RuntimeException e) {
                    failures.add(e);
                }
            }
        }
        // Null where the test was skipped before (or while) opening them.
        for (IncusInstances s : java.util.Arrays.asList(source, target)) {
            if (s != null) {
                s.close();
            }
        }
        if (!failures.isEmpty()) {
            throw failures.get(0);
        }
    }

    /** The address this class set as {@code core.https_address}, to unset after it; null when it set none. */
    private static String listenerSet;

    @AfterAll
    static void deleteProject() throws Exception {
        TestProject.delete();
        if (listenerSet != null) {
            // Only what this class set, and only if nobody changed it since.
            try (Transport t = new Transport(IncusDriver.findSocket(), TIMEOUT)) {
                if (httpsAddress(t).equals(listenerSet)) {
                    setHttpsAddress(t, "");
                }
            }
            listenerSet = null;
        }
    }

    /**
     * The daemon listens on HTTPS for push and pull (it dials its own operation): on its {@code core.https_address}
     * when that is a loopback address, else (none set) this class sets one on a free port of 127.0.0.1 and unsets it
     * afterwards. Every address the server gives must route through {@code lo}: no packet leaves the machine.
     */
    private void requireListener() throws Exception {
        Transport t = source.transport();
        if (httpsAddress(t).isEmpty()) {
            String route = run("ip", "route", "get", "127.0.0.1");
            assumeTrue(route.contains(" dev lo "), () -> "127.0.0.1 does not route through lo here: " + route);
            int port;
            try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = s.getLocalPort();
            }
            setHttpsAddress(t, "127.0.0.1:" + port);
            listenerSet = "127.0.0.1:" + port;
        }
        for (var a : t.call("GET", "/1.0", null).metadata().path("environment").path("addresses")) {
            String host = a.asText().replaceAll(":[0-9]+$", "").replace("[", "").replace("]", "");
            String route = run("ip", "route", "get", host);
            assumeTrue(route.contains(" dev lo "), () -> "incusd listens on " + a.asText()
                    + ", which does not route through lo: " + route);
        }
    }

    private static String httpsAddress(Transport t) {
        return t.call("GET", "/1.0", null).metadata().path("config").path("core.https_address").asText("");
    }

    /** {@code PATCH /1.0}: the one key; an empty value unsets it (as {@code incus config unset}). */
    private static void setHttpsAddress(Transport t, String address) {
        var body = Transport.JSON.createObjectNode();
        body.putObject("config").put("core.https_address", address);
        t.call("PATCH", "/1.0", body);
    }

    private static String run(String... cmd) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            assumeTrue(false, () -> "cannot run " + cmd[0] + " to check the route: " + e.getMessage());
            throw e;
        }
        try {
            var out = CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), () -> String.join(" ", cmd) + " did not end within 30 s");
            String text = out.get(5, TimeUnit.SECONDS);
            assertEquals(0, p.exitValue(), () -> String.join(" ", cmd) + ": " + text);
            return text;
        } finally {
            p.destroyForcibly();
        }
    }

    private Instance create(IncusInstances on, String name) {
        Instance i = on.create(InstanceArgs.builder(name).build(), InstanceSource.template("busybox", Map.of()));
        created.add(i);
        return i;
    }

    /** Names of instances this class makes for push and pull: the {@code rmig-} prefix of its helper. */
    private static String rname() {
        return "rmig-" + ProcessHandle.current().pid() + "-" + System.nanoTime() % 100000;
    }

    private static void write(Instance i, String path, String content) {
        try (SftpClient sftp = i.fileSftp()) {
            sftp.write(path, content.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    private static String read(Instance i, String path) {
        try (SftpClient sftp = i.fileSftp()) {
            return new String(sftp.readAllBytes(path), java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    /** A stopped instance with a marker file, a config key and snapshot {@code s1} (taken after the marker). */
    private Instance travelling(String n, String marker) {
        Instance i = source.create(InstanceArgs.builder(n).description("travelling").config("user.k", "v").build(),
                InstanceSource.template("busybox", Map.of()));
        created.add(i);
        write(i, "/root/marker", marker);
        i.snapshot("s1", null, false);
        return i;
    }

    private static String name() {
        return "mig-" + ProcessHandle.current().pid() + "-" + System.nanoTime() % 100000;
    }

    /** Both sides in parallel; the outcome of each, null when it worked. */
    private static List<Throwable> both(Runnable send, Runnable receive) throws Exception {
        List<CompletableFuture<Throwable>> sides = new ArrayList<>();
        for (Runnable side : List.of(send, receive)) {
            sides.add(CompletableFuture.supplyAsync((Supplier<Throwable>) () -> {
                try {
                    side.run();
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            }));
        }
        List<Throwable> out = new ArrayList<>();
        for (CompletableFuture<Throwable> f : sides) {
            out.add(f.get(2, TimeUnit.MINUTES));
        }
        return out;
    }

    /** No operation of the server's may stay running on the instance (a failed migration's end within 10 s). */
    private static void assertNoOperationRunning(IncusInstances session, String name) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        List<String> left;
        do {
            left = new ArrayList<>();
            for (var op : session.transport().call("GET", "/1.0/operations?recursion=1&all-projects=true", null)
                    .metadata().path("running")) {
                for (var r : op.path("resources").path("instances")) {
                    if (r.asText().contains("/" + name)) {
                        left.add(op.path("description").asText() + " " + op.path("id").asText());
                    }
                }
            }
        } while (!left.isEmpty() && System.nanoTime() < deadline && sleep());
        assertEquals(List.of(), left, "operations left running on " + name);
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(100);
        return true;
    }

    @Test
    void aRunningPlaceholderIsRefusedAndTheSourceStaysAsItWas() throws Exception {
        String n = name();
        Instance from = create(source, n);
        from.snapshot("s1", null, false);
        Instance placeholder = create(target, n);
        placeholder.start(false);
        MigrationPipe pipe = MigrationPipe.inMemory();
        List<Throwable> outcome = both(
                () -> from.migrateSend(new MigrateSendArgs(pipe.sender(), false)),
                () -> placeholder.migrateReceive(new MigrateReceiveArgs(pipe.receiver(), null, false, false)));
        assertInstanceOf(InstanceStateException.class, outcome.get(1), "the receiver: " + outcome.get(1));
        assertNotNull(outcome.get(0), "the sender must fail with its receiver");
        assertTrue(outcome.get(0).getMessage().contains(outcome.get(1).getMessage()),
                "the sender names the receiver's reason: " + outcome.get(0).getMessage());
        assertEquals(StatusCode.RUNNING, target.load(n).statusCode(), "the running instance was left alone");
        assertEquals(List.of(n + "/s1"), source.load(n).snapshots().stream().map(Instance::name).toList());
        assertNoOperationRunning(source, n);
    }

    @Test
    void aPeerThatIsNoIncusDriverIsRefusedByName() throws Exception {
        String n = name();
        Instance from = create(source, n);
        MigrationPipe pipe = MigrationPipe.inMemory();
        // The fake receives what the relay sends: it does not speak the relay, and must not take the instance.
        try (var fake = new FakeDriver().open(source.root().resolveSibling("fake"))) {
            Instance fakeTarget = fake.create(InstanceArgs.builder(n).build(), InstanceSource.none());
            List<Throwable> outcome = both(
                    () -> from.migrateSend(new MigrateSendArgs(pipe.sender(), false)),
                    () -> fakeTarget.migrateReceive(new MigrateReceiveArgs(pipe.receiver(), null, false, false)));
            assertInstanceOf(IncusException.class, outcome.get(0), "the sender: " + outcome.get(0));
            assertNotNull(outcome.get(1), "the fake must refuse a relay header");
        }
        assertEquals(StatusCode.STOPPED, source.load(n).statusCode());
        assertNoOperationRunning(source, n);
    }

    @Test
    void pullCopiesAStoppedInstanceWithItsSnapshotsAndFiles() throws Exception {
        requireListener();
        String n = rname();
        Instance from = travelling(n, "pulled " + n);
        String uuid = from.localConfig().get("volatile.uuid");
        Instance copy = ((RemoteInstance) from).copyTo(target, n + "-c", TransferMode.PULL, true);
        created.add(copy);
        assertEquals(TestProject.NAME, copy.project().name());
        assertEquals(n + "-c", copy.name());
        assertEquals(StatusCode.STOPPED, copy.statusCode());
        assertEquals("travelling", copy.description());
        assertEquals("v", copy.localConfig().get("user.k"));
        assertEquals(from.localConfig().get("volatile.base_image"), copy.localConfig().get("volatile.base_image"));
        assertFalse(uuid.equals(copy.localConfig().get("volatile.uuid")), "a copy is a new instance: " + uuid);
        assertEquals(List.of(n + "-c/s1"), copy.snapshots().stream().map(Instance::name).toList());
        assertEquals("pulled " + n, read(copy, "/root/marker"));
        assertEquals(List.of(n + "/s1"), source.load(n).snapshots().stream().map(Instance::name).toList(),
                "the source stays as it was");
        assertNoOperationRunning(source, n);
    }

    @Test
    void pushCopiesWithoutSnapshotsWhenNotAsked() throws Exception {
        requireListener();
        String n = rname();
        Instance from = travelling(n, "pushed " + n);
        Instance copy = ((RemoteInstance) from).copyTo(target, null, TransferMode.PUSH, false);
        created.add(copy);
        assertEquals(n, copy.name(), "the source's name when none is given");
        assertEquals(List.of(), copy.snapshots());
        assertEquals("pushed " + n, read(copy, "/root/marker"));
        assertTrue(source.find("default", n).isPresent());
        assertNoOperationRunning(source, n);
    }

    @Test
    void pushMovesAStoppedInstanceWithItsVolatileKeys() throws Exception {
        requireListener();
        String n = rname();
        Instance from = travelling(n, "moved " + n);
        String uuid = from.localConfig().get("volatile.uuid");
        Instance moved = ((RemoteInstance) from).moveTo(target, n, TransferMode.PUSH);
        created.add(moved);
        assertEquals(Optional.empty(), source.find("default", n), "the source is deleted after the copy");
        assertEquals(uuid, moved.localConfig().get("volatile.uuid"), "a move keeps the volatile keys");
        assertEquals(List.of(n + "/s1"), moved.snapshots().stream().map(Instance::name).toList());
        assertEquals("moved " + n, read(moved, "/root/marker"));
        moved.start(false);
        assertEquals(StatusCode.RUNNING, moved.statusCode());
        moved.stop(false);
    }

    @Test
    void pullMovesAStoppedInstance() throws Exception {
        requireListener();
        String n = rname();
        Instance from = travelling(n, "moved by pull " + n);
        Instance moved = ((RemoteInstance) from).moveTo(target, n + "-m", TransferMode.PULL);
        created.add(moved);
        assertEquals(Optional.empty(), source.find("default", n));
        assertEquals(List.of(n + "-m/s1"), moved.snapshots().stream().map(Instance::name).toList());
        assertEquals("moved by pull " + n, read(moved, "/root/marker"));
    }

    @Test
    void aNameTheTargetHasIsRefusedAndNothingIsLeftBehind() throws Exception {
        requireListener();
        String n = rname();
        Instance from = travelling(n, "stays " + n);
        Instance there = target.create(InstanceArgs.builder(n).description("was there").build(),
                InstanceSource.none());
        created.add(there);
        for (TransferMode mode : TransferMode.values()) {
            long t0 = System.nanoTime();
            BusyException e = assertThrows(BusyException.class,
                    () -> ((RemoteInstance) from).copyTo(target, n, mode, true), mode.name());
            // The server's text; pulling, prefixed as the incus CLI prefixes it.
            assertTrue(e.getMessage().contains("UNIQUE constraint failed")
                    || e.getMessage().contains("already exists"), mode + ": " + e.getMessage());
            assertEquals(mode == TransferMode.PULL, e.getMessage().startsWith("Failed instance creation: "),
                    mode + ": " + e.getMessage());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(30), mode + " took too long");
            assertEquals("was there", target.load(n).description(), "the target's own instance stays");
            assertEquals(List.of(), target.load(n).snapshots());
            assertEquals(List.of(n + "/s1"), source.load(n).snapshots().stream().map(Instance::name).toList());
            assertNoOperationRunning(source, n);
            assertEquals("stays " + n, read(source.load(n), "/root/marker"));
        }
    }

    @Test
    void aRunningInstanceIsNotMovedAndAFakeIsNoTarget() throws Exception {
        String n = rname();
        Instance from = create(source, n);
        from.start(false);
        InstanceStateException e = assertThrows(InstanceStateException.class,
                () -> ((RemoteInstance) from).moveTo(target, n, TransferMode.PULL));
        assertEquals("Instance must be stopped to be moved statelessly", e.getMessage());
        assertEquals(Optional.empty(), target.find("default", n), "nothing was created on the target");
        assertEquals(StatusCode.RUNNING, source.load(n).statusCode());
        try (var fake = new FakeDriver().open(source.root().resolveSibling("fake-target"))) {
            NotSupportedException ns = assertThrows(NotSupportedException.class,
                    () -> ((RemoteInstance) from).copyTo(fake, n, TransferMode.PUSH, true));
            assertTrue(ns.getMessage().contains(fake.getClass().getName()), ns.getMessage());
        }
    }
}
