package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import java.util.function.IntConsumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apiguardian.api.API;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestInstances;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * The fixture of {@link InstanceDriverContract}, also usable by a driver's own extra contract tests: a fresh root
 * directory per test, the driver opened on it (and reopened on demand), unique instance names, exec and file helpers,
 * and cleanup (every instance left behind is stopped and deleted, except those that existed before the test opened
 * its first session, which on a real server are not the test's; every driver session closed).
 *
 * <p>One instance of the class serves all its tests (so that capability conditions can read the driver before a group
 * runs); tests of one class therefore run one at a time.
 */
@API(status = EXPERIMENTAL)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@org.junit.jupiter.api.extension.ExtendWith(DivergenceCondition.class)
@Execution(ExecutionMode.SAME_THREAD)
public abstract class ContractSupport {
    private static final AtomicInteger NAMES = new AtomicInteger();
    /**
     * This JVM's token in every name {@link #uniqueName} gives out: two runs against one shared server (several
     * suites on one incusd) neither collide on names nor clean up each other's instances.
     */
    private static final String RUN = "r" + Long.toString(ProcessHandle.current().pid(), 36);

    private DriverUnderTest dut;
    private Path base;
    private Instances current;
    private final List<Instances> sessions = new ArrayList<>();
    /**
     * Instances that existed before this test opened its first session ("project/name"): on a real server (the
     * remote driver) they are not the test's, and cleanup leaves them alone. Empty for a driver on a fresh root.
     */
    private Set<String> preexisting;

    /** For subclasses. */
    protected ContractSupport() {
    }

    /** The driver under test; called once per test class. */
    protected abstract DriverUnderTest driver();

    /** The driver under test, asked for once. */
    final synchronized DriverUnderTest dut() {
        if (dut == null) {
            dut = driver();
        }
        return dut;
    }

    /** The name reports use for the driver. */
    final String driverName() {
        return dut().name();
    }

    /** The contract instance a JUnit context runs in, looked up through the enclosing contexts. */
    static Optional<ContractSupport> of(ExtensionContext context) {
        for (ExtensionContext c = context; c != null; c = c.getParent().orElse(null)) {
            Optional<TestInstances> instances = c.getTestInstances();
            if (instances.isPresent()) {
                for (Object o : instances.get().getAllInstances()) {
                    if (o instanceof ContractSupport) {
                        return Optional.of((ContractSupport) o);
                    }
                }
            }
        }
        return Optional.empty();
    }

    @BeforeEach
    final void freshRoot(@TempDir Path dir) {
        base = dir;
        current = null;
        preexisting = null;
    }

    @AfterEach
    final void cleanUp() {
        // Instances a test leaves behind are the fixture's to remove; failing to remove one is a driver bug (a stop
        // or delete that does not work, a leak), reported against the test that left it.
        List<Throwable> failures = new ArrayList<>();
        for (Instances session : sessions) {
            List<Instance> left;
            try {
                left = session.list();
            } catch (RuntimeException e) {
                left = List.of(); // A session the test closed itself has nothing to clean through it.
            }
            for (Instance i : left) {
                if (preexisting != null && preexisting.contains(i.project().name() + "/" + i.name())) {
                    continue;
                }
                if (dut().sharedServer() && !i.name().contains("-" + RUN + "-")) {
                    continue; // another client's, created on the shared server while this test ran
                }
                try {
                    if (i.isRunning()) {
                        i.stop(false);
                    }
                    if (session.find(i.project().name(), i.name()).isPresent()) {
                        i.delete(true);
                    }
                } catch (RuntimeException e) {
                    failures.add(new AssertionError("cleanup of " + i.name() + " failed: " + e, e));
                }
            }
            try {
                session.close();
            } catch (RuntimeException e) {
                failures.add(new AssertionError("closing the driver failed: " + e, e));
            }
        }
        sessions.clear();
        current = null;
        preexisting = null;
        if (!failures.isEmpty()) {
            AssertionError e = new AssertionError(failures.size() + " cleanup failure(s); first: "
                    + failures.get(0).getMessage(), failures.get(0));
            failures.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }

    // ---- roots and sessions -------------------------------------------------------------------------------------

    /** This test's driver root (not created until the driver is opened). */
    protected final Path root() {
        return base.resolve("root");
    }

    /** A directory for this test's own files (image tarballs, source trees), outside the driver root. */
    protected final Path scratch() {
        Path p = base.resolve("scratch");
        try {
            return Files.createDirectories(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The driver opened on {@link #root()}, opened on first use. */
    protected final synchronized Instances instances() {
        if (current == null) {
            current = open(root());
        }
        return current;
    }

    /** Closes the current session and opens the driver again on the same root, as after a restart. */
    protected final synchronized Instances reopen() {
        if (current != null) {
            sessions.remove(current);
            current.close();
        }
        current = open(root());
        return current;
    }

    /** Opens the driver on another root (closed and cleaned after the test). */
    protected final synchronized Instances open(Path dir) {
        return register(dut().open(dir));
    }

    /** Opens the driver where migrations go ({@link DriverUnderTest#openMigrationTarget}), closed and cleaned after. */
    protected final synchronized Instances openMigrationTarget(Path dir) {
        return register(dut().openMigrationTarget(dir));
    }

    private Instances register(Instances opened) {
        sessions.add(opened);
        if (preexisting == null) {
            Set<String> names = new HashSet<>();
            try {
                opened.list().forEach(i -> names.add(i.project().name() + "/" + i.name()));
            } catch (RuntimeException e) {
                // Nothing listed: nothing to spare.
            }
            preexisting = names;
        }
        return opened;
    }

    /** The bound of every wait. */
    protected final Duration timeout() {
        return dut().timeout();
    }

    // ---- instances ----------------------------------------------------------------------------------------------

    /**
     * What {@code in} lists that this run made: on a {@link DriverUnderTest#sharedServer() shared server} the
     * instances other clients have there are left out, elsewhere all of them.
     */
    protected final List<Instance> ownInstances(Instances in) {
        List<Instance> all = in.list();
        return dut().sharedServer() ? all.stream().filter(i -> i.name().contains("-" + RUN + "-")).toList() : all;
    }

    /** A name no other test uses. */
    protected static String uniqueName(String prefix) {
        return prefix + "-" + RUN + "-" + NAMES.incrementAndGet();
    }

    /** Arguments for a new instance of {@code type} with a unique name. */
    protected final InstanceArgs.Builder args(InstanceType type) {
        return InstanceArgs.builder(uniqueName(type == InstanceType.VM ? "vm" : "ct")).type(type)
                .config(dut().baseConfig(type));
    }

    /** Creates a stopped instance of {@code type} from the driver's source. */
    protected final Instance create(InstanceType type) {
        return create(args(type).build());
    }

    /** Creates an instance from the driver's source for its type. */
    protected final Instance create(InstanceArgs args) {
        return instances().create(args, dut().source(args.type()));
    }

    /** Creates and starts an instance of {@code type}. */
    protected final Instance createRunning(InstanceType type) {
        Instance i = create(type);
        i.start(false);
        return i;
    }

    /** Skips the test unless the driver runs {@code type}. */
    protected final InstanceType assumeType(InstanceType type) {
        assumeTrue(dut().instanceTypes().contains(type), () -> "driver " + driverName() + " does not run " + type
                + " instances");
        return type;
    }

    /** Skips the test unless the driver has {@code capability}. */
    protected final void assumeCapability(Capability capability) {
        assumeTrue(dut().capabilities().contains(capability), () -> "driver " + driverName() + " lacks capability "
                + capability);
    }

    // ---- assertions ---------------------------------------------------------------------------------------------

    /**
     * Asserts that {@code action} is refused with exactly {@code type} (not a subtype, not the root
     * {@code IncusException}) and Incus's {@code message}, word for word.
     */
    /**
     * {@code assertThrowsExactly}, except that a test abort inside {@code action} (an assumption that failed, e.g. a
     * real driver that does not apply on this host) propagates, so the test is skipped with its reason instead of
     * failing as a refusal of the wrong type.
     */
    private static <T extends Throwable> T thrownExactly(Class<T> type, Executable action,
            java.util.function.Supplier<String> what) {
        Throwable thrown;
        try {
            action.execute();
            thrown = null;
        } catch (org.opentest4j.TestAbortedException skip) {
            throw skip;
        } catch (Throwable t) {
            thrown = t;
        }
        if (thrown == null) {
            return fail(what.get() + ": " + type.getName() + " expected, but nothing was thrown");
        }
        if (thrown.getClass() != type) {
            return fail(what.get() + ": " + type.getName() + " expected, but " + thrown + " was thrown", thrown);
        }
        return type.cast(thrown);
    }

    protected static <T extends Throwable> T assertRefused(Class<T> type, String message, Executable action) {
        T e = thrownExactly(type, action, () -> "expected the refusal \"" + message + "\"");
        assertEquals(message, e.getMessage(), "error text");
        return e;
    }

    /**
     * As {@link #assertRefused(Class, String, Executable)} for a text with a value-dependent part: the whole message
     * must match {@code pattern} (use {@link Pattern#quote} for the literal parts).
     */
    protected static <T extends Throwable> T assertRefused(Class<T> type, Pattern pattern, Executable action) {
        T e = thrownExactly(type, action, () -> "expected a refusal matching " + pattern);
        String m = e.getMessage();
        assertTrue(m != null && pattern.matcher(m).matches(), () -> "error text \"" + m + "\" does not match "
                + pattern);
        return e;
    }

    /**
     * As {@link #assertRefused(Class, String, Executable)} for a text that embeds something only the driver knows
     * (a host path): the message starts with Incus's {@code text} and names {@code value}.
     */
    protected static <T extends Throwable> T assertRefusedNaming(Class<T> type, String text, String value,
            Executable action) {
        T e = thrownExactly(type, action, () -> "expected the refusal \"" + text + "...\"");
        String m = e.getMessage();
        assertTrue(m != null && m.startsWith(text) && m.contains(value), () -> "error text \"" + m
                + "\" is not \"" + text + "...\" naming " + value);
        return e;
    }

    /** A refusal as Incus gives it: exactly this exception type with this text. */
    protected record Refusal(Class<? extends Throwable> type, String message) {
        /** Whether {@code t} is exactly this refusal. */
        boolean is(Throwable t) {
            return t != null && t.getClass() == type && message.equals(t.getMessage());
        }

        @Override
        public String toString() {
            return type.getSimpleName() + " \"" + message + "\"";
        }
    }

    /**
     * For calls that race (where more than one refusal is legal): asserts that {@code thrown} is exactly one of
     * {@code allowed}, type and text.
     */
    protected static void assertRefusedAs(Throwable thrown, Refusal... allowed) {
        for (Refusal r : allowed) {
            if (r.is(thrown)) {
                return;
            }
        }
        fail("expected one of " + List.of(allowed) + ", got " + thrown, thrown);
    }

    /** Every file and directory under the driver root, relative to it. */
    protected final Set<String> tree() {
        Path r = root();
        if (!Files.exists(r)) {
            return new TreeSet<>();
        }
        try (Stream<Path> s = Files.walk(r)) {
            return s.filter(p -> !p.equals(r)).map(p -> r.relativize(p).toString())
                    .collect(Collectors.toCollection(TreeSet::new));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- exec ---------------------------------------------------------------------------------------------------

    /** What a command did. */
    protected record ExecResult(int exitCode, String stdout, String stderr) {
    }

    /** Runs {@code argv} with no input and waits for it. */
    protected final ExecResult run(Instance instance, String... argv) {
        return run(instance, ExecRequest.of(argv), null);
    }

    /** Runs {@code request} with {@code stdin} (or none) and waits for it; output is read after the command ends. */
    protected final ExecResult run(Instance instance, ExecRequest request, byte[] stdin) {
        RawResult r = runRaw(instance, request, stdin);
        return new ExecResult(r.exitCode(), new String(r.stdout(), StandardCharsets.UTF_8),
                new String(r.stderr(), StandardCharsets.UTF_8));
    }

    /** What a command did, as bytes. */
    protected record RawResult(int exitCode, byte[] stdout, byte[] stderr) {
    }

    /** As {@link #run(Instance, ExecRequest, byte[])}, keeping the output as bytes. */
    protected final RawResult runRaw(Instance instance, ExecRequest request, byte[] stdin) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (Cmd cmd = instance.exec(request, stdin == null ? null : new ByteArrayInputStream(stdin), out, err)) {
            code = cmd.waitFor(timeout());
        }
        return new RawResult(code, out.toByteArray(), err.toByteArray());
    }

    /**
     * A way for a {@link DriverUnderTest#startHttpServer} of a driver whose instances have busybox: runs the shell
     * commands {@code setup} (none when empty), then busybox {@code httpd} on {@code 127.0.0.1:port} (it daemonizes)
     * serving {@code body} from {@code /tmp/www<port>}; fails naming the instance and what the shell printed unless
     * that succeeded within {@code timeout}.
     */
    protected static void startBusyboxHttpd(Instance instance, int port, String body, String setup,
            Duration timeout) {
        String dir = "/tmp/www" + port;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (Cmd c = instance.exec(ExecRequest.of("sh", "-c", (setup.isEmpty() ? "" : setup + " && ") + "mkdir -p "
                + dir + " && cat > " + dir + "/index.html && httpd -p 127.0.0.1:" + port + " -h " + dir),
                new ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8)), OutputStream.nullOutputStream(),
                err)) {
            int code = c.waitFor(timeout);
            if (code != 0) {
                throw new IllegalStateException("httpd did not start in " + instance.name() + " (exit " + code
                        + "): " + err.toString(StandardCharsets.UTF_8));
            }
        }
    }

    // ---- files --------------------------------------------------------------------------------------------------

    /** Writes a UTF-8 file inside the instance, creating its parent directories. */
    protected static void writeFile(Instance instance, String path, String content) {
        try (SftpClient sftp = instance.fileSftp()) {
            String parent = path.substring(0, path.lastIndexOf('/'));
            if (!parent.isEmpty()) {
                sftp.mkdirs(parent, 0755);
            }
            sftp.write(path, content.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Reads a UTF-8 file inside the instance. */
    protected static String readFile(Instance instance, String path) {
        try (SftpClient sftp = instance.fileSftp()) {
            return new String(sftp.readAllBytes(path), StandardCharsets.UTF_8);
        }
    }

    // ---- threads ------------------------------------------------------------------------------------------------

    /**
     * Runs {@code body(i)} for {@code i} in {@code 0..n-1} on {@code n} threads released together and returns what
     * each threw ({@code null} for success). Fails the test if a thread is still busy after {@link #timeout()}.
     */
    protected final List<Throwable> inParallel(int n, IntConsumer body) {
        CountDownLatch gate = new CountDownLatch(1);
        Throwable[] outcome = new Throwable[n];
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int index = i;
            Thread t = new Thread(() -> {
                try {
                    gate.await();
                    body.accept(index);
                } catch (Throwable e) {
                    outcome[index] = e;
                }
            }, "contract-" + driverName() + "-" + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        gate.countDown();
        long deadline = System.nanoTime() + timeout().toNanos();
        for (Thread t : threads) {
            try {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted");
            }
            if (t.isAlive()) {
                fail(t.getName() + " still running after " + timeout());
            }
        }
        for (Throwable t : outcome) {
            // An assumption that failed in a worker (the driver does not apply here) skips the test, as in its thread.
            if (t instanceof org.opentest4j.TestAbortedException skip) {
                throw skip;
            }
        }
        return java.util.Arrays.asList(outcome);
    }

    /** Waits for {@code stage} at most {@link #timeout()}, failing the test if it does not complete. */
    protected final <T> T await(CompletionStage<T> stage, String what) {
        try {
            return stage.toCompletableFuture().get(timeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return fail(what + " did not happen within " + timeout());
        } catch (ExecutionException e) {
            return fail(what + " failed", e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail("interrupted");
        }
    }
}
