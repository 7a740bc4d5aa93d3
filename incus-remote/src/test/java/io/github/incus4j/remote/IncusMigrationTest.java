package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.StatusCode;
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
 * a side that cannot go on stops the other one, and leaves the source as it was and no operation running.
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

    @AfterAll
    static void deleteProject() {
        TestProject.delete();
    }

    private Instance create(IncusInstances on, String name) {
        Instance i = on.create(InstanceArgs.builder(name).build(), InstanceSource.template("busybox", Map.of()));
        created.add(i);
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
}
