package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.testkit.contract.ContractSupport.ExecResult;
import io.github.incus4j.testkit.contract.ContractSupport.RawResult;
import io.github.incus4j.testkit.contract.ContractSupport.Refusal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.function.IntConsumer;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.function.Executable;

/**
 * The base of the groups of {@link InstanceDriverContract} that live in their own files ({@code LifecycleGroup},
 * {@code SnapshotsGroup}, ...): it hands the contract's helpers on to the group's tests, so that a test reads the
 * same as it did inside the contract, and it holds the helpers that several groups share, once.
 */
abstract class ContractGroup {
    private final ContractSupport contract;

    ContractGroup(ContractSupport contract) {
        this.contract = contract;
    }

    // ---- the contract's helpers ---------------------------------------------------------------------------------

    final ContractSupport contract() {
        return contract;
    }

    final DriverUnderTest dut() {
        return contract.dut();
    }

    final Path root() {
        return contract.root();
    }

    final Path scratch() {
        return contract.scratch();
    }

    final Instances instances() {
        return contract.instances();
    }

    final java.util.List<io.github.incus4j.api.Instance> ownInstances(Instances in) {
        return contract.ownInstances(in);
    }

    final Instances reopen() {
        return contract.reopen();
    }

    final Instances open(Path dir) {
        return contract.open(dir);
    }

    final Instances openMigrationTarget(Path dir) {
        return contract.openMigrationTarget(dir);
    }

    final Duration timeout() {
        return contract.timeout();
    }

    static String uniqueName(String prefix) {
        return ContractSupport.uniqueName(prefix);
    }

    final InstanceArgs.Builder args(InstanceType type) {
        return contract.args(type);
    }

    final Instance create(InstanceType type) {
        return contract.create(type);
    }

    final Instance create(InstanceArgs args) {
        return contract.create(args);
    }

    final Instance createRunning(InstanceType type) {
        return contract.createRunning(type);
    }

    final InstanceType assumeType(InstanceType type) {
        return contract.assumeType(type);
    }

    final void assumeCapability(Capability capability) {
        contract.assumeCapability(capability);
    }

    static <T extends Throwable> T assertRefused(Class<T> type, String message, Executable action) {
        return ContractSupport.assertRefused(type, message, action);
    }

    static <T extends Throwable> T assertRefused(Class<T> type, Pattern pattern, Executable action) {
        return ContractSupport.assertRefused(type, pattern, action);
    }

    static <T extends Throwable> T assertRefusedNaming(Class<T> type, String text, String value,
            Executable action) {
        return ContractSupport.assertRefusedNaming(type, text, value, action);
    }

    static void assertRefusedAs(Throwable thrown, Refusal... allowed) {
        ContractSupport.assertRefusedAs(thrown, allowed);
    }

    final Set<String> tree() {
        return contract.tree();
    }

    final ExecResult run(Instance instance, String... argv) {
        return contract.run(instance, argv);
    }

    final ExecResult run(Instance instance, ExecRequest request, byte[] stdin) {
        return contract.run(instance, request, stdin);
    }

    final RawResult runRaw(Instance instance, ExecRequest request, byte[] stdin) {
        return contract.runRaw(instance, request, stdin);
    }

    static void writeFile(Instance instance, String path, String content) {
        ContractSupport.writeFile(instance, path, content);
    }

    static String readFile(Instance instance, String path) {
        return ContractSupport.readFile(instance, path);
    }

    final List<Throwable> inParallel(int n, IntConsumer body) {
        return contract.inParallel(n, body);
    }

    final <T> T await(CompletionStage<T> stage, String what) {
        return contract.await(stage, what);
    }

    // ---- helpers several groups share ---------------------------------------------------------------------------

    static ExecRequest.Builder cmd(String... argv) {
        return ExecRequest.builder(argv);
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Incus's name of the host's architecture, derived from the JVM, or null where the test does not know it. */
    static String hostArchitecture() {
        return switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            case "ppc64le" -> "ppc64le";
            case "s390x" -> "s390x";
            case "riscv64" -> "riscv64";
            default -> null;
        };
    }

    static Instant nowSeconds() {
        return Instant.now().truncatedTo(ChronoUnit.SECONDS);
    }

    static InstanceArgs withConfig(Instance i, String key, String value) {
        Map<String, String> c = new HashMap<>(i.localConfig());
        if (value == null) {
            c.remove(key);
        } else {
            c.put(key, value);
        }
        return argsOf(i).config(c).build();
    }

    /** The instance's current definition as update arguments. */
    static InstanceArgs.Builder argsOf(Instance i) {
        return InstanceArgs.builder(i.name()).project(i.project().name()).type(i.type())
                .architecture(i.architecture()).ephemeral(i.isEphemeral()).description(i.description())
                .config(i.localConfig()).devices(i.localDevices()).profiles(i.profiles());
    }

    static List<String> snapshotNames(Instance i) {
        return i.snapshots().stream().map(Instance::name).collect(Collectors.toList());
    }

    /** An instance whose files can be reached: containers as created (stopped), VMs started (their agent serves). */
    Instance filesInstance(InstanceType type) {
        return type == InstanceType.VM ? createRunning(type) : create(type);
    }

    /** The CPU work {@link #burnCpu} does and the least CPU time it must show as. */
    static final int BURN_MIB = 1024;
    static final long MIN_BURN_NANOS = 10_000_000L;

    /** Burns CPU in the instance: {@code dd} copies {@link #BURN_MIB} MiB from {@code /dev/zero} to {@code /dev/null}. */
    void burnCpu(Instance i) {
        ExecResult r = run(i, "dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=" + BURN_MIB);
        assertEquals(0, r.exitCode(), "dd: " + r.stderr());
    }

    /** Starts {@code n} {@code sleep} commands that stay running until killed (or the instance stops). */
    List<Cmd> startSleepers(Instance i, int n) {
        List<Cmd> out = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            out.add(i.exec(ExecRequest.of("sleep", "600"), null, null, null));
        }
        return out;
    }

    /**
     * The value once it has not changed for a second (at most {@link #timeout()}): a container's init may still be
     * starting its services right after the start, which would blur a count taken then.
     */
    int steady(java.util.function.IntSupplier value) throws InterruptedException {
        long deadline = System.nanoTime() + timeout().toNanos();
        int v = value.getAsInt();
        int same = 0;
        while (same < 5 && System.nanoTime() < deadline) {
            Thread.sleep(200);
            int next = value.getAsInt();
            same = next == v ? same + 1 : 0;
            v = next;
        }
        return v;
    }

    /** Polls {@code value} until it meets {@code condition} (at most {@link #timeout()}); returns the last value. */
    int awaitValue(java.util.function.IntSupplier value, java.util.function.IntPredicate condition,
            String what) throws InterruptedException {
        long deadline = System.nanoTime() + timeout().toNanos();
        int v = value.getAsInt();
        while (!condition.test(v)) {
            if (System.nanoTime() > deadline) {
                fail(what + ": still " + v + " after " + timeout());
            }
            Thread.sleep(100);
            v = value.getAsInt();
        }
        return v;
    }
}
