package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.testkit.contract.ContractSupport.ExecResult;
import io.github.incus4j.testkit.contract.ContractSupport.RawResult;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.Random;

/**
 * The Exec group of {@link InstanceDriverContract} (its nested {@code Exec} runs these): commands in running
 * instances: exit codes, streams, environment, signals and refusals.
 */
abstract class ExecGroup extends ContractGroup {
    ExecGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void trueExitsZero(InstanceType type) {
        assertEquals(0, run(createRunning(type), "true").exitCode());
    }

    @ForEachInstanceType
    void falseExitsOne(InstanceType type) {
        assertEquals(1, run(createRunning(type), "false").exitCode());
    }

    @ForEachInstanceType
    void shellExitCodeIsKept(InstanceType type) {
        assertEquals(7, run(createRunning(type), "sh", "-c", "exit 7").exitCode());
    }

    @ForEachInstanceType
    void echoWritesStdout(InstanceType type) {
        ExecResult r = run(createRunning(type), "echo", "hello");
        assertEquals(0, r.exitCode());
        assertEquals("hello\n", r.stdout());
        assertEquals("", r.stderr());
    }

    @ForEachInstanceType
    void catEchoesStdin(InstanceType type) {
        ExecResult r = run(createRunning(type), ExecRequest.of("cat"), utf8("line one\nline two\n"));
        assertEquals(0, r.exitCode());
        assertEquals("line one\nline two\n", r.stdout());
    }

    @ForEachInstanceType
    void fourMegabytesRoundTripThroughCat(InstanceType type) {
        byte[] data = new byte[4 << 20];
        new Random(42).nextBytes(data);
        RawResult r = runRaw(createRunning(type), ExecRequest.of("cat"), data);
        assertEquals(0, r.exitCode());
        assertEquals(data.length, r.stdout().length, "bytes back");
        assertArrayEquals(data, r.stdout());
    }

    @ForEachInstanceType
    void emptyStdinEndsCat(InstanceType type) {
        ExecResult r = run(createRunning(type), ExecRequest.of("cat"), null);
        assertEquals(0, r.exitCode());
        assertEquals("", r.stdout());
    }

    @ForEachInstanceType
    void environmentOfTheRequest(InstanceType type) {
        ExecResult r = run(createRunning(type), cmd("env").env("GREETING", "hello world").build(), null);
        assertEquals(0, r.exitCode());
        assertTrue(r.stdout().lines().anyMatch("GREETING=hello world"::equals), r.stdout());
    }

    @ForEachInstanceType
    void environmentFromConfig(InstanceType type) {
        Instance i = create(args(type).config("environment.FROM_CONFIG", "yes").build());
        i.start(false);
        ExecResult r = run(i, "env");
        assertTrue(r.stdout().lines().anyMatch("FROM_CONFIG=yes"::equals), r.stdout());
    }

    @ForEachInstanceType
    void requestEnvironmentOverridesConfig(InstanceType type) {
        Instance i = create(args(type).config("environment.WHO", "config").build());
        i.start(false);
        ExecResult r = run(i, cmd("env").env("WHO", "request").build(), null);
        assertTrue(r.stdout().lines().anyMatch("WHO=request"::equals), r.stdout());
        assertFalse(r.stdout().lines().anyMatch("WHO=config"::equals), r.stdout());
    }

    @ForEachInstanceType
    void cwdIsHonoured(InstanceType type) {
        assertEquals("/tmp\n", run(createRunning(type), cmd("pwd").cwd("/tmp").build(), null).stdout());
    }

    @ForEachInstanceType
    void defaultCwdIsRootsHome(InstanceType type) {
        assertEquals("/root\n", run(createRunning(type), "pwd").stdout());
    }

    @ForEachInstanceType
    void userIsHonoured(InstanceType type) {
        Instance i = createRunning(type);
        assertEquals("0\n", run(i, "id", "-u").stdout());
        assertEquals("1000\n", run(i, cmd("id", "-u").user(1000).group(1000).build(), null).stdout());
    }

    @ForEachInstanceType
    void stderrIsSeparate(InstanceType type) {
        ExecResult r = run(createRunning(type), "ls", "/no-such-dir");
        assertNotEquals(0, r.exitCode());
        assertEquals("", r.stdout());
        assertTrue(r.stderr().contains("/no-such-dir"), "stderr: " + r.stderr());
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void hostnameIsTheContainerName(InstanceType type) {
        Instance i = createRunning(type);
        assertEquals(i.name() + "\n", run(i, "hostname").stdout());
    }

    @ForEachInstanceType
    void sigtermEndsWith143(InstanceType type) {
        Instance i = createRunning(type);
        try (Cmd c = i.exec(ExecRequest.of("sleep", "30"), null, null, null)) {
            c.signal(15);
            assertEquals(143, c.waitFor(timeout()));
            assertEquals(OptionalInt.of(143), c.exitCode());
        }
    }

    @ForEachInstanceType
    void sigkillEndsWith137(InstanceType type) {
        Instance i = createRunning(type);
        try (Cmd c = i.exec(ExecRequest.of("sleep", "30"), null, null, null)) {
            c.signal(9);
            assertEquals(137, c.waitFor(timeout()));
        }
    }

    @ForEachInstanceType
    void waitForTimesOut(InstanceType type) {
        Instance i = createRunning(type);
        try (Cmd c = i.exec(ExecRequest.of("sleep", "30"), null, null, null)) {
            // Incus's exec has no bounded wait: the text is incus4j's (ErrorTexts.commandStillRunning).
            assertRefused(OperationTimeoutException.class, "The command is still running after 200ms",
                    () -> c.waitFor(Duration.ofMillis(200)));
            assertTrue(c.exitCode().isEmpty(), "still running");
            c.signal(9);
            assertEquals(137, c.waitFor(timeout()));
        }
    }

    @ForEachInstanceType
    void exitCodeIsKnownOnceEnded(InstanceType type) {
        Instance i = createRunning(type);
        try (Cmd c = i.exec(ExecRequest.of("sh", "-c", "exit 3"), null, null, null)) {
            assertEquals(3, c.waitFor(timeout()));
            assertEquals(OptionalInt.of(3), c.exitCode());
            assertEquals(3, c.waitFor(timeout()), "waiting again gives the same status");
        }
    }

    @ForEachInstanceType
    void missingCommandIsNotFound(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(InvalidArgumentException.class, "Command not found", () -> {
            try (Cmd c = i.exec(ExecRequest.of("/no/such/command"), null, null, null)) {
                c.waitFor(timeout());
            }
        });
    }

    @ForEachInstanceType
    void execInStoppedInstanceIsRefused(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "Instance is not running",
                () -> i.exec(ExecRequest.of("true"), null, null, null));
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.FREEZE)
    void execInFrozenInstanceIsRefused(InstanceType type) {
        Instance i = createRunning(type);
        i.freeze();
        assertRefused(InstanceStateException.class, "Instance is frozen",
                () -> i.exec(ExecRequest.of("true"), null, null, null));
    }

    @ForEachInstanceType
    void execInSnapshotIsRefused(InstanceType type) {
        String name = uniqueName("ct");
        Instance i = create(args(type).name(name).build());
        i.start(false);
        i.snapshot("s1", null, false);
        Instance s = i.snapshots().get(0);
        // Incus has no route for it (its CLI says "Invalid instance name"): incus4j's text names the snapshot.
        assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for exec: \"" + name + "/s1\"",
                () -> s.exec(ExecRequest.of("true"), null, null, null));
    }

    @ForEachInstanceType
    void outputStreamsMayBeOmitted(InstanceType type) {
        Instance i = createRunning(type);
        try (Cmd c = i.exec(ExecRequest.of("echo", "discarded"), null, null, null)) {
            assertEquals(0, c.waitFor(timeout()));
        }
    }

    @ForEachInstanceType
    void stopEndsRunningCommands(InstanceType type) {
        Instance i = createRunning(type);
        try (Cmd c = i.exec(ExecRequest.of("sleep", "30"), null, null, null)) {
            i.stop(false);
            int status = c.waitFor(timeout());
            assertNotEquals(0, status, "a command killed by the stop");
        }
    }
}
