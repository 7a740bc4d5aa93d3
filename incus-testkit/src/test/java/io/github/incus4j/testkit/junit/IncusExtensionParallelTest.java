package io.github.incus4j.testkit.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.internal.config.NameRules;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Two hundred tests, each with its own instance, run four at a time (junit-platform.properties): names never collide,
 * every instance exists and runs during its test, and every one is gone once its test is over.
 */
@IncusTest(driver = "fake")
@Execution(ExecutionMode.CONCURRENT)
class IncusExtensionParallelTest {
    private static final int TESTS = 200;
    private static final Set<String> NAMES = ConcurrentHashMap.newKeySet();
    private static final Set<Thread> THREADS = ConcurrentHashMap.newKeySet();
    private static final AtomicInteger RUNNING_TESTS = new AtomicInteger();
    private static final AtomicInteger MOST_RUNNING_TESTS = new AtomicInteger();

    @IncusDriver
    static Instances incus;

    @IncusInstance
    Instance instance;

    @RepeatedTest(TESTS)
    void eachTestHasItsOwnRunningInstance() throws InterruptedException {
        int running = RUNNING_TESTS.incrementAndGet();
        MOST_RUNNING_TESTS.accumulateAndGet(running, Math::max);
        THREADS.add(Thread.currentThread());
        try {
            String name = instance.name();
            assertTrue(NAMES.add(name), "name used twice: " + name);
            NameRules.validateInstanceName(name, false);
            assertTrue(name.startsWith("each-test-has-its-own-running-instance-instance-"), name);
            assertSame(instance, incus.find(Project.DEFAULT_NAME, name).orElseThrow());
            assertEquals(StatusCode.RUNNING, instance.statusCode());
            try (Cmd cmd = instance.exec(ExecRequest.of("true"), null, null, null)) {
                assertEquals(0, cmd.waitFor(Duration.ofSeconds(10)));
            }
            // Until a second test has been seen running alongside, wait a little for one: proves the pool is used.
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (MOST_RUNNING_TESTS.get() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
        } finally {
            RUNNING_TESTS.decrementAndGet();
        }
    }

    @AfterAll
    static void everyInstanceWasUniqueAndIsGone() {
        assertEquals(TESTS, NAMES.size());
        for (String name : NAMES) {
            assertTrue(incus.find(Project.DEFAULT_NAME, name).isEmpty(), name + " outlived its test");
        }
        assertEquals(List.of(), incus.list());
        assertTrue(MOST_RUNNING_TESTS.get() >= 2, "tests never overlapped: " + MOST_RUNNING_TESTS.get());
        assertTrue(THREADS.size() >= 2, "one thread ran every test");
    }
}
