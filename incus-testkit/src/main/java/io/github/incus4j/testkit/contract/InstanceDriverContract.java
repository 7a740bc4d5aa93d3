package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Container;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.ImageCompression;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.api.model.ConsoleLogOptions;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.rest.ApiInstance;
import io.github.incus4j.api.rest.ApiInstanceFull;
import io.github.incus4j.api.rest.ApiInstanceSnapshot;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.internal.sftp.WireSftpClient;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apiguardian.api.API;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The driver contract: what every incus4j driver must do the way Incus does it, in the style of Micrometer's
 * {@code MeterRegistryCompatibilityKit}. A driver's test extends this class and supplies its {@link DriverUnderTest}:
 *
 * <pre>{@code
 * class LxcDriverContractTest extends InstanceDriverContract {
 *     protected DriverUnderTest driver() {
 *         return new DriverUnderTest() {
 *             public Instances open(Path root) { return new LxcDriver().open(root); }
 *             public Set<Capability> capabilities() { return EnumSet.of(CONTAINERS, EXEC, FILES); }
 *             public InstanceSource source(InstanceType type) { return InstanceSource.template("busybox", Map.of()); }
 *         };
 *     }
 * }
 * }</pre>
 *
 * The tests come in {@code @Nested} groups. Lifecycle, state and rendering, config and validation, snapshots,
 * concurrency and bad input bind every driver; the other groups name the {@link Capability} they need and are
 * reported as skipped, with that reason, for a driver that does not declare it. Type-dependent tests run once per
 * instance type of the driver ({@link ForEachInstanceType}); type-specific ones are skipped for a driver without the
 * type. Each test works on a fresh root with unique instance names, and error texts are compared with Incus's.
 */
@API(status = EXPERIMENTAL)
public abstract class InstanceDriverContract extends ContractSupport {
    /** For subclasses. */
    protected InstanceDriverContract() {
    }

    private static ExecRequest.Builder cmd(String... argv) {
        return ExecRequest.builder(argv);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Incus's name of the host's architecture, derived from the JVM, or null where the test does not know it. */
    private static String hostArchitecture() {
        return switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            case "ppc64le" -> "ppc64le";
            case "s390x" -> "s390x";
            case "riscv64" -> "riscv64";
            default -> null;
        };
    }

    private static Instant nowSeconds() {
        return Instant.now().truncatedTo(ChronoUnit.SECONDS);
    }

    private static InstanceArgs withConfig(Instance i, String key, String value) {
        Map<String, String> c = new HashMap<>(i.localConfig());
        if (value == null) {
            c.remove(key);
        } else {
            c.put(key, value);
        }
        return argsOf(i).config(c).build();
    }

    /** The instance's current definition as update arguments. */
    private static InstanceArgs.Builder argsOf(Instance i) {
        return InstanceArgs.builder(i.name()).project(i.project().name()).type(i.type())
                .architecture(i.architecture()).ephemeral(i.isEphemeral()).description(i.description())
                .config(i.localConfig()).devices(i.localDevices()).profiles(i.profiles());
    }

    private static List<String> snapshotNames(Instance i) {
        return i.snapshots().stream().map(Instance::name).collect(Collectors.toList());
    }

    private static String expectedStatefulStop(InstanceType type) {
        return type == InstanceType.VM ? "Stateful stop requires migration.stateful to be set to true"
                : "Stateful stop requires the instance to have migration.stateful be set to true";
    }

    private static String expectedStatefulStart(InstanceType type) {
        return type == InstanceType.VM ? "Stateful start requires migration.stateful to be set to true"
                : "Stateful start requires that the instance migration.stateful be set to true";
    }

    private static String expectedStatefulSnapshot(InstanceType type) {
        return type == InstanceType.VM ? "Stateful snapshot requires migration.stateful to be set to true"
                : "Stateful snapshots require that the instance has migration.stateful be set to true";
    }

    /** An instance whose files can be reached: containers as created (stopped), VMs started (their agent serves). */
    private Instance filesInstance(InstanceType type) {
        return type == InstanceType.VM ? createRunning(type) : create(type);
    }

    /** The CPU work {@link #burnCpu} does and the least CPU time it must show as. */
    private static final int BURN_MIB = 1024;
    private static final long MIN_BURN_NANOS = 10_000_000L;

    /** Burns CPU in the instance: {@code dd} copies {@link #BURN_MIB} MiB from {@code /dev/zero} to {@code /dev/null}. */
    private void burnCpu(Instance i) {
        ExecResult r = run(i, "dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=" + BURN_MIB);
        assertEquals(0, r.exitCode(), "dd: " + r.stderr());
    }

    /** Starts {@code n} {@code sleep} commands that stay running until killed (or the instance stops). */
    private List<Cmd> startSleepers(Instance i, int n) {
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
    private int steady(java.util.function.IntSupplier value) throws InterruptedException {
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
    private int awaitValue(java.util.function.IntSupplier value, java.util.function.IntPredicate condition,
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

    private static MigrateArgs withFlags(MigrateArgs a, boolean snapshots, boolean live) {
        return new MigrateArgs(a.controlSend(), a.controlReceive(), a.stateConn(), a.filesystemConn(), snapshots,
                live, a.disconnect(), a.clusterMoveSourceName(), a.storagePool());
    }

    /** Migration arguments whose connections fail: for requests that must be refused before anything is sent. */
    private static MigrateArgs unusableMigrateArgs(boolean live) {
        return new MigrateArgs(m -> fail("nothing may be sent"), t -> fail("nothing may be received"),
                t -> fail("no state connection expected"), t -> fail("no filesystem connection expected"), true,
                live, null, null, null);
    }

    // =================================================================================================================
    // Lifecycle
    // =================================================================================================================

    /** Start, stop, shutdown, restart, delete, rename and their refusals. */
    @Nested
    @Tag("lifecycle")
    class Lifecycle {

        @ForEachInstanceType
        void newInstanceIsStopped(InstanceType type) {
            Instance i = create(type);
            assertEquals(StatusCode.STOPPED, i.statusCode());
            assertEquals(102, i.statusCode().code());
            assertEquals("STOPPED", i.state());
            assertFalse(i.isRunning());
            assertFalse(i.isFrozen());
            assertFalse(i.isSnapshot());
            assertEquals(type, i.type());
        }

        @ForEachInstanceType
        void startRunsTheInstance(InstanceType type) {
            Instance i = create(type);
            i.start(false);
            assertEquals(StatusCode.RUNNING, i.statusCode());
            assertEquals(103, i.statusCode().code());
            assertEquals("RUNNING", i.state());
            assertTrue(i.isRunning());
        }

        @ForEachInstanceType
        void startWhenRunningIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            InstanceStateException e = assertRefused(InstanceStateException.class, "The instance is already running",
                    () -> i.start(false));
            assertEquals(StatusCode.RUNNING, e.statusCode());
            assertTrue(i.isRunning());
        }

        @ForEachInstanceType
        void stopWhenStoppedIsRefused(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "The instance is already stopped", () -> i.stop(false));
        }

        @ForEachInstanceType
        void shutdownWhenStoppedIsRefused(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "The instance is already stopped",
                    () -> i.shutdown(timeout()));
        }

        @ForEachInstanceType
        void negativeTimeoutsAreRefusedNamingTheValue(InstanceType type) {
            Instance i = create(type);
            // Checked before the state: a negative wait is the caller's mistake whatever the instance does.
            assertRefused(InvalidArgumentException.class, "Invalid shutdown timeout -5000 ms: must be zero or more",
                    () -> i.shutdown(Duration.ofSeconds(-5)));
            assertRefused(InvalidArgumentException.class, "Invalid restart timeout -1 ms: must be zero or more",
                    () -> i.restart(Duration.ofMillis(-1)));
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void restartWhenStoppedIsRefused(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "The instance is already stopped",
                    () -> i.restart(Duration.ZERO));
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void stopStopsAtOnce(InstanceType type) {
            Instance i = createRunning(type);
            i.stop(false);
            assertEquals(StatusCode.STOPPED, i.statusCode());
            assertEquals("STOPPED", i.state());
        }

        @ForEachInstanceType
        void shutdownStopsCleanly(InstanceType type) {
            Instance i = createRunning(type);
            i.shutdown(timeout());
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void restartWithTimeoutKeepsItRunning(InstanceType type) {
            Instance i = createRunning(type);
            i.restart(timeout());
            assertEquals(StatusCode.RUNNING, i.statusCode());
        }

        @ForEachInstanceType
        void restartWithZeroTimeoutStopsHardAndStarts(InstanceType type) {
            Instance i = createRunning(type);
            i.restart(Duration.ZERO);
            assertEquals(StatusCode.RUNNING, i.statusCode());
        }

        @ForEachInstanceType
        void startStopCyclesRepeat(InstanceType type) {
            Instance i = create(type);
            for (int n = 0; n < 3; n++) {
                i.start(false);
                assertTrue(i.isRunning(), "cycle " + n);
                i.stop(false);
                assertFalse(i.isRunning(), "cycle " + n);
            }
        }

        @ForEachInstanceType
        void ephemeralInstanceIsGoneAfterStop(InstanceType type) {
            Instance i = create(args(type).ephemeral(true).build());
            Path path = i.path();
            i.start(false);
            i.stop(false);
            assertTrue(instances().find("default", i.name()).isEmpty(), "ephemeral instance still listed");
            assertFalse(Files.exists(path), "ephemeral instance's directory left behind: " + path);
        }

        @ForEachInstanceType
        void ephemeralInstanceIsGoneAfterShutdown(InstanceType type) {
            Instance i = create(args(type).ephemeral(true).build());
            i.start(false);
            i.shutdown(timeout());
            assertTrue(instances().find("default", i.name()).isEmpty(), "ephemeral instance still listed");
        }

        @ForEachInstanceType
        void restartKeepsAnEphemeralInstance(InstanceType type) {
            Instance i = create(args(type).ephemeral(true).build());
            i.start(false);
            i.restart(Duration.ZERO);
            Instance again = instances().load(i.name());
            assertTrue(again.isRunning());
            assertTrue(again.isEphemeral());
        }

        @ForEachInstanceType
        void deleteOfRunningInstanceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InstanceStateException.class, "Instance is running", () -> i.delete(false));
            assertRefused(InstanceStateException.class, "Instance is running", () -> i.delete(true));
            assertTrue(instances().find("default", i.name()).isPresent());
        }

        @ForEachInstanceType
        void deleteRemovesTheInstance(InstanceType type) {
            Instance i = create(type);
            Path path = i.path();
            assertTrue(Files.exists(path), "instance directory " + path);
            i.delete(false);
            assertTrue(instances().find("default", i.name()).isEmpty());
            assertRefused(NotFoundException.class, "Instance not found", () -> instances().load(i.name()));
            assertFalse(Files.exists(path), "directory left behind: " + path);
            assertFalse(instances().list().stream().anyMatch(x -> x.name().equals(i.name())));
        }

        @ForEachInstanceType
        void aDeletedInstancesHandlesRefuseEverythingAndRecreateNothing(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s0", null, false);
            Instance snap = i.snapshots().get(0);
            String name = i.name();
            Set<String> before = tree();
            i.delete(true);
            Set<String> after = tree();
            String gone = "Instance not found";
            assertRefused(NotFoundException.class, gone, () -> i.start(false));
            assertRefused(NotFoundException.class, gone, () -> i.stop(false));
            assertRefused(NotFoundException.class, gone, () -> i.shutdown(Duration.ofSeconds(1)));
            assertRefused(NotFoundException.class, gone, () -> i.restart(Duration.ZERO));
            assertRefused(NotFoundException.class, gone, i::freeze);
            assertRefused(NotFoundException.class, gone, i::unfreeze);
            assertRefused(NotFoundException.class, gone, () -> i.snapshot("s1", null, false));
            assertRefused(NotFoundException.class, gone, () -> i.rename(uniqueName("zombie"), false));
            assertRefused(NotFoundException.class, gone, () -> i.update(withConfig(i, "user.k", "v"), true));
            assertRefused(NotFoundException.class, gone, () -> i.volatileSet(Map.of("volatile.cluster.group", "x")));
            assertRefused(NotFoundException.class, gone, () -> i.restore(snap, false));
            assertRefused(NotFoundException.class, gone, () -> i.delete(true));
            assertRefused(NotFoundException.class, gone, () -> snap.delete(false));
            assertRefused(NotFoundException.class, gone, () -> snap.rename("s2", false));
            assertRefused(NotFoundException.class, gone, i::lockExclusive);
            assertEquals(after, tree(), "a refused action writes nothing");
            assertTrue(instances().find("default", name).isEmpty());
            assertTrue(instances().list().isEmpty(), "nothing listed: " + instances().list());
            assertTrue(reopen().list().isEmpty(), "nothing comes back after a reopen");
            assertTrue(before.size() > after.size(), "the delete removed files");
        }

        @ForEachInstanceType
        void deleteProtectionNeedsForce(InstanceType type) {
            Instance i = create(args(type).config("security.protection.delete", "true").build());
            assertRefused(InstanceStateException.class, "Instance has delete protection enabled",
                    () -> i.delete(false));
            assertTrue(instances().find("default", i.name()).isPresent());
            i.delete(true);
            assertTrue(instances().find("default", i.name()).isEmpty());
        }

        @ForEachInstanceType
        void deleteThroughInstances(InstanceType type) {
            Instance i = create(type);
            instances().delete("default", i.name(), false);
            assertTrue(instances().find("default", i.name()).isEmpty());
            assertRefused(NotFoundException.class, "Instance not found",
                    () -> instances().delete("default", i.name(), false));
        }

        @ForEachInstanceType
        void startupProtectionRefusesStart(InstanceType type) {
            Instance i = create(args(type).config("security.protection.start", "true").build());
            assertRefused(InstanceStateException.class, "Instance has startup protection enabled",
                    () -> i.start(false));
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void renameOfRunningInstanceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            String newName = uniqueName("renamed");
            assertRefused(InstanceStateException.class, "Renaming of running instance not allowed",
                    () -> i.rename(newName, false));
            assertTrue(instances().find("default", newName).isEmpty());
        }

        @ForEachInstanceType
        void renameMovesTheInstance(InstanceType type) {
            Instance i = create(args(type).config("user.mark", "kept").build());
            String oldName = i.name();
            Path oldPath = i.path();
            String newName = uniqueName("renamed");
            i.rename(newName, false);
            assertEquals(newName, i.name());
            assertTrue(instances().find("default", oldName).isEmpty(), "old name still found");
            Instance loaded = instances().load(newName);
            assertEquals("kept", loaded.localConfig().get("user.mark"));
            assertFalse(Files.exists(oldPath), "old directory left behind");
            assertTrue(Files.exists(loaded.path()), "new directory " + loaded.path());
        }

        @ForEachInstanceType
        void renameToATakenNameIsRefused(InstanceType type) {
            Instance a = create(type);
            Instance b = create(type);
            assertRefused(BusyException.class, "Name \"" + b.name() + "\" already in use",
                    () -> a.rename(b.name(), false));
            assertTrue(instances().find("default", a.name()).isPresent());
        }

        @ForEachInstanceType
        void renameResetsTheCloudInitId(InstanceType type) {
            Instance i = create(type);
            assertEquals(i.name(), i.cloudInitId());
            String newName = uniqueName("renamed");
            i.rename(newName, false);
            assertNotEquals(newName, i.cloudInitId(), "rename must give a new cloud-init instance id");
            assertNotNull(i.localConfig().get("volatile.cloud-init.instance-id"));
        }

        @ForEachInstanceType
        void renameWithTemplateTriggerDefersRename(InstanceType type) {
            Instance i = create(type);
            i.rename(uniqueName("renamed"), true);
            assertEquals("rename", i.localConfig().get("volatile.apply_template"));
        }

        @ForEachInstanceType
        void powerStateIsRecorded(InstanceType type) {
            Instance i = create(type);
            i.start(false);
            assertEquals("RUNNING", i.localConfig().get("volatile.last_state.power"));
            i.stop(false);
            assertEquals("STOPPED", i.localConfig().get("volatile.last_state.power"));
        }

        @ForEachInstanceType
        void startRecordsLastUse(InstanceType type) {
            Instance i = create(type);
            assertEquals(Instant.EPOCH, i.lastUsedDate(), "never started");
            Instant before = Instant.now().minusSeconds(1);
            i.start(false);
            assertTrue(i.lastUsedDate().isAfter(before), "last use " + i.lastUsedDate() + " not after " + before);
        }

        @ForEachInstanceType
        void initPidFollowsTheState(InstanceType type) {
            Instance i = create(type);
            assertEquals(-1, i.initPid(), "stopped");
            i.start(false);
            assertTrue(i.initPid() > 0, "running init pid " + i.initPid());
            i.stop(false);
            assertEquals(-1, i.initPid(), "stopped again");
        }

        @ForEachInstanceType
        void statefulStopNeedsMigrationStateful(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InvalidArgumentException.class, expectedStatefulStop(type), () -> i.stop(true));
            assertTrue(i.isRunning());
        }

        @ForEachInstanceType
        void statefulStartNeedsMigrationStateful(InstanceType type) {
            Instance i = create(type);
            assertRefused(InvalidArgumentException.class, expectedStatefulStart(type), () -> i.start(true));
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void listIsSortedByName(InstanceType type) {
            String suffix = uniqueName("");
            Instance b = create(args(type).name("b" + suffix).build());
            Instance a = create(args(type).name("a" + suffix).build());
            List<String> names = instances().list().stream().map(Instance::name).collect(Collectors.toList());
            assertTrue(names.indexOf(a.name()) >= 0 && names.indexOf(a.name()) < names.indexOf(b.name()),
                    "list order " + names);
        }

        @ForEachInstanceType
        void handlesHaveTheirTypesInterface(InstanceType type) {
            Instance i = create(type);
            if (type == InstanceType.VM) {
                assertInstanceOf(VM.class, i);
            } else {
                assertInstanceOf(Container.class, i);
            }
            assertEquals(instances().info(), i.info());
            assertTrue(i.info().isOperational(), "driver info " + i.info());
        }
    }

    /** Freeze and unfreeze, with the container driver's own refusals. */
    @Nested
    @Tag("freeze")
    @RequiresCapability(Capability.FREEZE)
    class Freezing {

        @ForEachInstanceType
        void freezeAndUnfreeze(InstanceType type) {
            Instance i = createRunning(type);
            i.freeze();
            assertEquals(StatusCode.FROZEN, i.statusCode());
            assertEquals(110, i.statusCode().code());
            assertEquals("FROZEN", i.state());
            assertTrue(i.isFrozen());
            assertTrue(i.isRunning(), "a frozen instance counts as running");
            i.unfreeze();
            assertEquals(StatusCode.RUNNING, i.statusCode());
            assertFalse(i.isFrozen());
        }

        @ForEachInstanceType
        void freezeOfStoppedInstanceIsRefused(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "The instance isn't running", i::freeze);
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void containerFreezeTwiceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            i.freeze();
            assertRefused(InstanceStateException.class, "The container is already frozen", i::freeze);
            assertTrue(i.isFrozen());
        }

        @ForInstanceType(InstanceType.VM)
        void vmFreezeTwiceIsAccepted(InstanceType type) {
            Instance i = createRunning(type);
            i.freeze();
            i.freeze();
            assertTrue(i.isFrozen());
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void containerUnfreezeOfRunningInstanceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InstanceStateException.class, "The container is already running", i::unfreeze);
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void containerUnfreezeOfStoppedInstanceIsRefused(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "The container isn't running", i::unfreeze);
        }

        @ForInstanceType(InstanceType.VM)
        void vmUnfreezeOfStoppedInstanceIsRefused(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "The instance isn't running", i::unfreeze);
        }

        @ForEachInstanceType
        void stopOfFrozenInstance(InstanceType type) {
            Instance i = createRunning(type);
            i.freeze();
            i.stop(false);
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void shutdownOfFrozenInstanceThawsFirst(InstanceType type) {
            Instance i = createRunning(type);
            i.freeze();
            i.shutdown(timeout());
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void cleanRestartOfFrozenInstanceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            i.freeze();
            assertRefused(InstanceStateException.class, "Instance is not running", () -> i.restart(timeout()));
            assertTrue(i.isFrozen());
        }

        @ForEachInstanceType
        void startOfFrozenInstanceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            i.freeze();
            assertRefused(InstanceStateException.class, "The instance is already running", () -> i.start(false));
        }

        @ForEachInstanceType
        void frozenStateRenders(InstanceType type) {
            Instance i = createRunning(type);
            i.freeze();
            ApiInstanceState s = i.renderState(List.of());
            assertEquals("Frozen", s.status());
            assertEquals(110, s.statusCode());
            assertEquals("Frozen", ((ApiInstance) i.render().value()).status());
        }
    }

    /**
     * Stateful stop, start and snapshots (CRIU, QEMU state files). What comes back is checked in the guest's memory:
     * a file in {@code /dev/shm}, a tmpfs (RAM for CRIU's dump and for QEMU's state alike), which a boot starts
     * empty, so that a "stateful" start that really boots cold cannot pass.
     */
    @Nested
    @Tag("stateful")
    @RequiresCapability(Capability.STATEFUL)
    class Stateful {
        private static final String IN_MEMORY = "/dev/shm/incus4j-contract";

        private Instance statefulRunning(InstanceType type) {
            Instance i = create(args(type).config("migration.stateful", "true").build());
            i.start(false);
            return i;
        }

        /** Writes {@code value} into the guest's tmpfs: only its memory holds it. */
        private void remember(Instance i, String value) {
            ExecResult r = run(i, "sh", "-c", "echo " + value + " > " + IN_MEMORY);
            assertEquals(0, r.exitCode(), "writing " + IN_MEMORY + ": " + r.stderr());
        }

        /** What the guest's tmpfs holds, {@code null} when the file is gone (a boot, a plain stop). */
        private String recalled(Instance i) {
            ExecResult r = run(i, "cat", IN_MEMORY);
            return r.exitCode() == 0 ? r.stdout().strip() : null;
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void plainStopLosesTheMemory(InstanceType type) {
            // The control for the tests below: the tmpfs is memory, not disk.
            Instance i = statefulRunning(type);
            remember(i, "gone-after-stop");
            assertEquals("gone-after-stop", recalled(i));
            i.stop(false);
            i.start(false);
            assertNull(recalled(i), "a boot starts with an empty tmpfs");
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void statefulStopThenStatefulStart(InstanceType type) {
            Instance i = statefulRunning(type);
            remember(i, "kept-by-stateful-stop");
            i.stop(true);
            assertEquals(StatusCode.STOPPED, i.statusCode());
            assertTrue(i.isStateful(), "saved state expected");
            i.start(true);
            assertEquals(StatusCode.RUNNING, i.statusCode());
            assertFalse(i.isStateful(), "state consumed by the start");
            assertEquals("kept-by-stateful-stop", recalled(i), "memory restored by the stateful start");
            remember(i, "still-writable");
            assertEquals("still-writable", recalled(i));
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void plainStartDiscardsTheSavedState(InstanceType type) {
            Instance i = statefulRunning(type);
            remember(i, "discarded");
            i.stop(true);
            i.start(false);
            assertTrue(i.isRunning());
            assertFalse(i.isStateful());
            assertNull(recalled(i), "a plain start boots: the saved memory is not used");
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void savedStateSurvivesReopen(InstanceType type) {
            Instance i = statefulRunning(type);
            remember(i, "kept-across-reopen");
            i.stop(true);
            Instance again = reopen().load(i.name());
            assertTrue(again.isStateful());
            again.start(true);
            assertTrue(again.isRunning());
            assertEquals("kept-across-reopen", recalled(again), "memory restored from the state on disk");
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void statefulSnapshotAndRestore(InstanceType type) {
            Instance i = statefulRunning(type);
            remember(i, "at-snapshot");
            i.snapshot("live", null, true);
            Instance snap = i.snapshots().get(0);
            assertTrue(snap.isStateful(), "stateful snapshot");
            assertTrue(i.isRunning(), "a stateful snapshot leaves the instance running");
            assertEquals("at-snapshot", recalled(i), "the snapshot left the memory alone");
            remember(i, "after-snapshot");
            i.restore(snap, true);
            assertTrue(i.isRunning());
            assertEquals("at-snapshot", recalled(i), "memory of the snapshot restored");
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void statefulRestoreOfAStoppedInstance(InstanceType type) {
            Instance i = statefulRunning(type);
            remember(i, "restored-into-stopped");
            i.snapshot("live", null, true);
            i.stop(false);
            i.restore(i.snapshots().get(0), true);
            assertTrue(i.isRunning(), "restoring a stateful snapshot starts the instance");
            assertEquals("restored-into-stopped", recalled(i), "memory of the snapshot restored");
        }

        @ForEachInstanceType
        void canLiveMigrateFollowsMigrationStateful(InstanceType type) {
            Instance i = statefulRunning(type);
            assertTrue(i.canLiveMigrate());
            assertFalse(create(type).canLiveMigrate());
        }
    }

    // =================================================================================================================
    // State and render
    // =================================================================================================================

    /** {@code render}, {@code renderState}, {@code renderFull}, ETags, and records that survive a reopen. */
    @Nested
    @Tag("render")
    class StateAndRender {

        @ForEachInstanceType
        void renderOfStoppedInstance(InstanceType type) {
            // Expected values come from what the test asked for and from the host, not from the instance's getters.
            InstanceArgs a = args(type).description("a description").config("user.given", "yes").build();
            Instant before = Instant.now();
            Instance i = create(a);
            Instant after = Instant.now();
            ApiInstance r = assertInstanceOf(ApiInstance.class, i.render().value());
            assertEquals(a.name(), r.name());
            assertEquals(type.apiName(), r.type());
            assertEquals("Stopped", r.status());
            assertEquals(102, r.statusCode());
            assertEquals("default", r.project());
            String hostArch = hostArchitecture();
            if (hostArch != null) {
                assertEquals(hostArch, r.architecture(), "an instance runs the host's architecture by default");
            }
            assertEquals("a description", r.description());
            assertFalse(r.createdAt().isBefore(before.minusSeconds(1)) || r.createdAt().isAfter(after.plusSeconds(1)),
                    "created_at " + r.createdAt() + " outside the create call " + before + ".." + after);
            assertEquals("none", r.location(), "a standalone server's location, as Incus renders it");
            assertFalse(r.ephemeral());
            assertFalse(r.stateful());
            for (Map.Entry<String, String> e : a.config().entrySet()) {
                assertEquals(e.getValue(), r.config().get(e.getKey()), "config " + e.getKey());
            }
            // Beyond what the test set: the driver's volatile keys and, from an image source, its image.* properties.
            for (String k : r.config().keySet()) {
                assertTrue(a.config().containsKey(k) || k.startsWith("volatile.") || k.startsWith("image."),
                        "config key nobody set: " + k);
            }
            assertTrue(r.config().containsKey("volatile.uuid"), "volatile.uuid is set on create: " + r.config());
            assertEquals(r.config(), r.expandedConfig(), "no profiles: the expanded config is the local one");
        }

        @ForEachInstanceType
        void renderOfRunningInstance(InstanceType type) {
            Instance i = createRunning(type);
            ApiInstance r = (ApiInstance) i.render().value();
            assertEquals("Running", r.status());
            assertEquals(103, r.statusCode());
        }

        @ForEachInstanceType
        void renderJsonHasIncusFieldNames(InstanceType type) {
            Instance i = create(type);
            String json = RestJson.toJson(i.render().value());
            for (String field : List.of("architecture", "config", "devices", "ephemeral", "profiles", "stateful",
                    "description", "created_at", "expanded_config", "expanded_devices", "name", "status",
                    "status_code", "last_used_at", "location", "type", "project")) {
                if (field.equals("expanded_devices") && i.expandedDevices().isEmpty()) {
                    continue;
                }
                assertTrue(json.contains("\"" + field + "\":"), "missing " + field + " in " + json);
            }
            assertTrue(json.contains("\"status_code\":102"), json);
            assertTrue(json.contains("\"status\":\"Stopped\""), json);
            assertTrue(json.contains("\"type\":\"" + type.apiName() + "\""), json);
            assertTrue(json.contains("\"name\":\"" + i.name() + "\""), json);
        }

        @ForEachInstanceType
        void stateOfStoppedInstanceHasStatusAndDiskOnly(InstanceType type) {
            Instance i = create(type);
            ApiInstanceState s = i.renderState(List.of());
            assertEquals("Stopped", s.status());
            assertEquals(102, s.statusCode());
            assertEquals(Set.of("root"), s.disk().keySet(), "disks " + s.disk());
            assertTrue(s.disk().get("root").usage() > 0, "a root disk holding the image uses space: " + s.disk());
            assertEquals(0, s.pid());
            assertTrue(s.network().isEmpty(), "no network when stopped: " + s.network());
            assertEquals(ApiInstanceState.Memory.ZERO, s.memory());
            assertEquals(ApiInstanceState.Cpu.ZERO, s.cpu());
            assertEquals(type == InstanceType.VM ? -1 : 0, s.processes());
            assertNull(s.osInfo());
        }

        @ForEachInstanceType
        void stateOfRunningInstanceIsLive(InstanceType type) {
            Instant before = Instant.now();
            Instance i = createRunning(type);
            Instant after = Instant.now();
            ApiInstanceState s = i.renderState(List.of());
            assertEquals("Running", s.status());
            assertEquals(103, s.statusCode());
            assertTrue(s.pid() > 0, "pid " + s.pid());
            assertEquals(i.initPid(), s.pid());
            if (type == InstanceType.CONTAINER) {
                assertTrue(s.processes() >= 1, "processes " + s.processes());
            } else {
                assertTrue(s.processes() == -1 || s.processes() >= 1, "processes " + s.processes());
            }
            assertTrue(s.memory().usage() > 0, "memory " + s.memory());
            // CPU usage is checked against work done in cpuUsageGrowsWithWorkDone.
            // A VM's interfaces come from its guest agent, which answers once the guest has booted (Incus's too);
            // before that a VM without NICs has nothing to report.
            if (type == InstanceType.CONTAINER) {
                assertFalse(s.network().isEmpty(), "network of a running instance");
            }
            // started_at is the start the test made: within the call (with slack for a kernel's clock ticks).
            assertNotNull(s.startedAt(), "started_at");
            assertFalse(s.startedAt().isBefore(before.minusSeconds(5)) || s.startedAt().isAfter(after.plusSeconds(5)),
                    "started_at " + s.startedAt() + " outside the start call " + before + ".." + after);
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void cpuUsageGrowsWithWorkDone(InstanceType type) {
            Instance i = createRunning(type);
            long before = i.renderState(List.of()).cpu().usage();
            burnCpu(i);
            long after = i.renderState(List.of()).cpu().usage();
            assertTrue(after - before >= MIN_BURN_NANOS, "cpu usage " + before + " ns, then " + after
                    + " ns after copying " + BURN_MIB + " MiB with dd");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.EXEC)
        void processCountFollowsRunningCommands(InstanceType type) throws InterruptedException {
            Instance i = createRunning(type);
            int before = steady(() -> (int) i.renderState(List.of()).processes());
            List<Cmd> sleepers = startSleepers(i, 3);
            try {
                int now = awaitValue(() -> (int) i.renderState(List.of()).processes(), n -> n >= before + 3,
                        "processes with 3 more sleep commands than " + before);
                for (Cmd c : sleepers) {
                    c.signal(9);
                    assertEquals(137, c.waitFor(timeout()));
                }
                awaitValue(() -> (int) i.renderState(List.of()).processes(), n -> n <= now - 3,
                        "processes once the 3 sleep commands were killed (" + now + " with them)");
            } finally {
                sleepers.forEach(Cmd::close);
            }
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.FILES)
        void diskUsageFollowsWrittenFiles(InstanceType type) {
            Instance i = filesInstance(type);
            long before = i.renderState(List.of()).disk().get("root").usage();
            byte[] data = new byte[4 << 20];
            new Random(7).nextBytes(data); // incompressible: no storage can make it smaller
            try (SftpClient sftp = i.fileSftp()) {
                sftp.write("/root/incus4j-disk-usage", data);
            }
            if (i.isRunning() && dut().capabilities().contains(Capability.EXEC)) {
                assertEquals(0, run(i, "sync").exitCode(), "sync"); // a VM's writes reach its disk file
            }
            long after = i.renderState(List.of()).disk().get("root").usage();
            assertTrue(after - before >= data.length, "root disk usage " + before + ", then " + after
                    + " after writing " + data.length + " bytes");
        }

        @ForEachInstanceType
        void stateJsonHasIncusFieldNames(InstanceType type) {
            Instance i = createRunning(type);
            String json = RestJson.toJson(i.renderState(List.of()));
            for (String field : List.of("status", "status_code", "disk", "memory", "network", "pid", "processes",
                    "cpu", "started_at")) {
                assertTrue(json.contains("\"" + field + "\":"), "missing " + field + " in " + json);
            }
            assertTrue(json.contains("\"usage\":"), json);
        }

        @ForEachInstanceType
        void renderFullHasSnapshotsAndState(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            i.snapshot("s2", null, false);
            ApiInstanceFull full = i.renderFull(List.of()).value();
            assertEquals(i.name(), full.instance().name());
            assertEquals(List.of("s1", "s2"),
                    full.snapshots().stream().map(ApiInstanceSnapshot::name).collect(Collectors.toList()));
            assertNotNull(full.state());
            assertEquals("Stopped", full.state().status());
            assertEquals(List.of(), full.backups());
            String json = RestJson.toJson(full);
            assertTrue(json.contains("\"snapshots\":["), json);
            assertTrue(json.contains("\"state\":{"), json);
            assertTrue(json.contains("\"backups\":[]"), json);
            assertFalse(json.contains("\"instance\":"), "instance fields are inline: " + json);
            assertTrue(json.contains("\"name\":\"" + i.name() + "\""), json);
        }

        @ForEachInstanceType
        void renderFullOfRunningInstanceHasLiveState(InstanceType type) {
            Instance i = createRunning(type);
            ApiInstanceFull full = i.renderFull(List.of()).value();
            assertEquals("Running", full.instance().status());
            assertEquals("Running", full.state().status());
            assertTrue(full.state().pid() > 0);
        }

        @ForEachInstanceType
        void renderFullOfSnapshotIsRefused(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            Instance snap = i.snapshots().get(0);
            assertRefused(InvalidArgumentException.class, type == InstanceType.VM
                    ? "RenderFull doesn't work with snapshots" : "RenderFull only works with containers",
                    () -> snap.renderFull(List.of()));
        }

        @ForEachInstanceType
        void etagIsStableAndFollowsConfig(InstanceType type) {
            Instance i = create(type);
            List<Object> first = i.render().etag();
            assertEquals(first, i.render().etag(), "same definition, same etag");
            assertEquals(first, i.etag());
            i.update(withConfig(i, "user.changed", "yes"), true);
            assertNotEquals(first, i.render().etag(), "config change must change the etag");
        }

        @ForEachInstanceType
        void etagOfSnapshotIsItsExpiry(InstanceType type) {
            Instance i = create(type);
            Instant expiry = nowSeconds().plus(Duration.ofDays(2));
            i.snapshot("s1", expiry, false);
            assertEquals(List.of(expiry), i.snapshots().get(0).etag());
        }

        @ForEachInstanceType
        void snapshotRendersAsSnapshot(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            ApiInstanceSnapshot r = assertInstanceOf(ApiInstanceSnapshot.class, i.snapshots().get(0).render().value());
            assertEquals("s1", r.name());
            assertEquals(-1, r.size());
            assertEquals(RestJson.GO_ZERO_TIME, r.expiresAt());
            String json = RestJson.toJson(r);
            assertTrue(json.contains("\"expires_at\":\"0001-01-01T00:00:00Z\""), json);
            assertTrue(json.contains("\"size\":-1"), json);
            assertTrue(json.contains("\"name\":\"s1\""), json);
        }

        @ForEachInstanceType
        void recordsSurviveReopen(InstanceType type) {
            Profile p = Profile.of("base", Map.of("user.from-profile", "p"), null);
            Instance i = create(args(type).description("kept across restarts").config("user.k", "v")
                    .profiles(List.of(p)).build());
            i.snapshot("s1", null, false);
            i.snapshot("s2", nowSeconds().plus(Duration.ofDays(1)), false);
            Instant created = i.creationDate();
            Instance again = reopen().load(i.name());
            assertEquals(type, again.type());
            assertEquals("kept across restarts", again.description());
            assertEquals("v", again.localConfig().get("user.k"));
            assertEquals("p", again.expandedConfig().get("user.from-profile"));
            assertEquals(List.of("base"), again.profiles().stream().map(Profile::name).collect(Collectors.toList()));
            assertEquals(List.of(i.name() + "/s1", i.name() + "/s2"), snapshotNames(again));
            assertEquals(i.snapshots().get(1).expiryDate(), again.snapshots().get(1).expiryDate());
            assertTrue(Duration.between(created, again.creationDate()).abs().compareTo(Duration.ofSeconds(1)) < 0,
                    "creation date " + created + " vs " + again.creationDate());
            assertEquals(i.architecture(), again.architecture());
            assertEquals(i.localConfig().get("volatile.uuid"), again.localConfig().get("volatile.uuid"));
        }

        @ForEachInstanceType
        void ephemeralFlagSurvivesReopen(InstanceType type) {
            Instance i = create(args(type).ephemeral(true).build());
            assertTrue(reopen().load(i.name()).isEphemeral());
        }

        @ForEachInstanceType
        void profilesExpandInOrderThenLocalConfig(InstanceType type) {
            Profile p1 = Profile.of("p1", Map.of("user.a", "1", "user.b", "1"), null);
            Profile p2 = Profile.of("p2", Map.of("user.b", "2", "user.c", "2"), null);
            Instance i = create(args(type).profiles(List.of(p1, p2)).config("user.c", "3").build());
            assertEquals("1", i.expandedConfig().get("user.a"));
            assertEquals("2", i.expandedConfig().get("user.b"));
            assertEquals("3", i.expandedConfig().get("user.c"));
            assertFalse(i.localConfig().containsKey("user.a"), "profile keys are not local");
            assertEquals(List.of("p1", "p2"), ((ApiInstance) i.render().value()).profiles());
        }

        @ForEachInstanceType
        void profileDevicesExpandUnderLocalDevices(InstanceType type) {
            // none devices (with user keys to tell them apart): every driver applies them, whatever it supports.
            Profile p = Profile.of("disks", Map.of(), Devices.EMPTY
                    .with("data", Device.of("type", "none", "user.source", "/srv/a"))
                    .with("logs", Device.of("type", "none", "user.source", "/srv/logs")));
            Instance i = create(args(type).profiles(List.of(p))
                    .device("data", Device.of("type", "none", "user.source", "/srv/b")).build());
            assertEquals("/srv/b", i.expandedDevices().get("data").get("user.source"), "local device wins");
            assertEquals("/srv/logs", i.expandedDevices().get("logs").get("user.source"));
            assertNull(i.localDevices().get("logs"));
        }

        @ForEachInstanceType
        void nonDefaultProjectsAreSeparate(InstanceType type) {
            Instance i = create(args(type).project("proj1").build());
            assertEquals("proj1", i.project().name());
            assertTrue(instances().find("proj1", i.name()).isPresent());
            assertTrue(instances().find("default", i.name()).isEmpty());
            assertTrue(i.path().getFileName().toString().equals("proj1_" + i.name()), "path " + i.path());
            assertEquals("proj1", ((ApiInstance) i.render().value()).project());
        }

        @ForEachInstanceType
        void idIsStable(InstanceType type) {
            Instance i = create(type);
            assertTrue(i.id() > 0, "id " + i.id());
            assertEquals(i.id(), instances().load(i.name()).id());
            assertNotEquals(i.id(), create(type).id());
        }

        @ForEachInstanceType
        void datesAndDefaults(InstanceType type) {
            Instant before = Instant.now().minusSeconds(2);
            Instance i = create(type);
            assertTrue(i.creationDate().isAfter(before), "creation date " + i.creationDate());
            assertTrue(i.expiryDate().isEmpty(), "instances do not expire");
            assertNotNull(i.localConfig().get("volatile.uuid"), "volatile.uuid is set on create");
            assertEquals(i.render().value(), i.renderWithUsage().value());
        }

        @ForEachInstanceType
        void pathsFollowIncusLayout(InstanceType type) {
            Instance i = create(type);
            assertTrue(i.path().startsWith(root()), "path " + i.path() + " under " + root());
            assertEquals(i.path().resolve("rootfs"), i.rootfsPath());
            assertEquals(i.path().resolve("templates"), i.templatesPath());
            assertEquals(i.logPath().resolve("console.log"), i.consoleBufferLogPath());
            assertEquals(i.logPath().resolve(type == InstanceType.VM ? "qemu.log" : "lxc.log"), i.logFilePath());
            assertTrue(Files.exists(i.path().resolve("backup.yaml")), "record " + i.path().resolve("backup.yaml"));
        }
    }

    // =================================================================================================================
    // Config and validation
    // =================================================================================================================

    /** {@code update}, Incus's key validation, profiles, volatile keys and template deferral. */
    @Nested
    @Tag("config")
    class ConfigAndValidation {

        @ForEachInstanceType
        void updateChangesConfig(InstanceType type) {
            Instance i = create(type);
            i.update(withConfig(i, "user.colour", "blue"), true);
            assertEquals("blue", i.localConfig().get("user.colour"));
            assertEquals("blue", i.expandedConfig().get("user.colour"));
            assertEquals("blue", instances().load(i.name()).localConfig().get("user.colour"));
        }

        @ForEachInstanceType
        void updateSurvivesReopen(InstanceType type) {
            Instance i = create(type);
            i.update(argsOf(i).config("user.colour", "green").description("updated").build(), true);
            Instance again = reopen().load(i.name());
            assertEquals("green", again.localConfig().get("user.colour"));
            assertEquals("updated", again.description());
        }

        @ForEachInstanceType
        void updateReplacesProfilesAndDescription(InstanceType type) {
            Instance i = create(args(type).profiles(List.of(Profile.of("old", Map.of("user.p", "old"), null)))
                    .build());
            i.update(argsOf(i).profiles(List.of(Profile.of("new", Map.of("user.p", "new"), null)))
                    .description("d2").build(), true);
            assertEquals("new", i.expandedConfig().get("user.p"));
            assertEquals("d2", i.description());
            assertEquals(List.of("new"), ((ApiInstance) i.render().value()).profiles());
        }

        @ForEachInstanceType
        void updateWithUnknownKeyIsRefused(InstanceType type) {
            Instance i = create(type);
            Map<String, String> before = i.localConfig();
            assertRefused(InvalidArgumentException.class, "Invalid config: Unknown configuration key: foo.bar",
                    () -> i.update(withConfig(i, "foo.bar", "1"), true));
            assertEquals(before, i.localConfig(), "refused update changed the config");
            assertEquals(before, reopen().load(i.name()).localConfig(), "refused update was written");
        }

        @ForEachInstanceType
        void updateWithBadValueNamesKeyAndValue(InstanceType type) {
            Instance i = create(type);
            // Incus (driver_lxc.go Update: "Invalid config: %w"; shared/validate IsBool) says
            // "Invalid config: Invalid value for a boolean \"maybe\""; incus4j also names the key (ConfigKeys).
            assertRefused(InvalidArgumentException.class, "Invalid config: Invalid value for config key "
                    + "\"security.nesting\": Invalid value for a boolean \"maybe\"",
                    () -> i.update(withConfig(i, "security.nesting", "maybe"), true));
            assertFalse(i.localConfig().containsKey("security.nesting"));
        }

        @ForEachInstanceType
        void memoryLimitOfZeroIsRefused(InstanceType type) {
            // Incus: "Memory limit can't be 0" (internal/instance/config.go); incus4j names key and value.
            assertRefused(InvalidArgumentException.class,
                    "Invalid value for config key \"limits.memory\": Memory limit can't be 0 (value \"0\")",
                    () -> create(args(type).config("limits.memory", "0").build()));
        }

        @ForEachInstanceType
        void booleanKeysAcceptIncusSpellings(InstanceType type) {
            Instance i = create(args(type).config("security.protection.delete", "yes").build());
            assertRefused(InstanceStateException.class, "Instance has delete protection enabled",
                    () -> i.delete(false));
            Instance j = create(args(type).config("security.protection.delete", "off").build());
            j.delete(false);
        }

        @ForInstanceType(InstanceType.VM)
        void containerKeysAreUnknownToVms(InstanceType vm) {
            assertRefused(InvalidArgumentException.class, "Unknown configuration key: security.privileged",
                    () -> create(args(vm).config("security.privileged", "true").build()));
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void vmKeysAreUnknownToContainers(InstanceType ct) {
            assertRefused(InvalidArgumentException.class, "Unknown configuration key: security.secureboot",
                    () -> create(args(ct).config("security.secureboot", "true").build()));
        }

        @ForInstanceType(InstanceType.VM)
        void kernelLimitsAreForContainersOnly(InstanceType vm) {
            assertRefused(InvalidArgumentException.class, "limits.kernel.nofile isn't supported for VMs",
                    () -> create(args(vm).config("limits.kernel.nofile", "1024").build()));
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void cpuTopologyIsForVmsOnly(InstanceType ct) {
            assertRefused(InvalidArgumentException.class,
                    "CPU topology syntax for limits.cpu is only supported for virtual machines",
                    () -> create(args(ct).config("limits.cpu", "sockets=1,cores=2,threads=1").build()));
        }

        @ForEachInstanceType
        void environmentValuesCannotHoldLineBreaks(InstanceType type) {
            // Incus: "Environment variables cannot contain line breaks" (internal/instance/config.go, in Debian's
            // 6.0.4 and upstream since 6.21); incus4j names key and value.
            assertRefused(InvalidArgumentException.class, "Invalid value for config key \"environment.FOO\": "
                    + "Environment variables cannot contain line breaks (value \"a\\nb\")",
                    () -> create(args(type).config("environment.FOO", "a\nb").build()));
        }

        @ForEachInstanceType
        void profilesCannotSetVolatileKeys(InstanceType type) {
            Profile bad = Profile.of("bad", Map.of("volatile.foo", "x"), null);
            // internal/server/instance/instance_utils.go ValidConfig.
            assertRefused(InvalidArgumentException.class, "Volatile keys can only be set on instances",
                    () -> create(args(type).profiles(List.of(bad)).build()));
        }

        @ForEachInstanceType
        void duplicateProfilesAreRefused(InstanceType type) {
            Profile p = Profile.of("twice", Map.of(), null);
            assertRefused(InvalidArgumentException.class, "Duplicate profile found in request",
                    () -> create(args(type).profiles(List.of(p, p)).build()));
        }

        @ForInstanceType(InstanceType.VM)
        void runningVmRefusesKeysThatNeedARestart(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InvalidArgumentException.class, "Key \"security.nesting\" cannot be updated when VM is running",
                    () -> i.update(withConfig(i, "security.nesting", "true"), true));
            assertFalse(i.localConfig().containsKey("security.nesting"));
        }

        @ForInstanceType(InstanceType.VM)
        void runningVmAcceptsUserKeys(InstanceType type) {
            Instance i = createRunning(type);
            i.update(withConfig(i, "user.note", "live"), true);
            assertEquals("live", i.localConfig().get("user.note"));
            assertTrue(i.isRunning());
        }

        @ForInstanceType(InstanceType.VM)
        void stoppedVmAcceptsAnyValidKey(InstanceType type) {
            Instance i = create(type);
            i.update(withConfig(i, "security.nesting", "true"), true);
            assertEquals("true", i.localConfig().get("security.nesting"));
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void runningContainerAcceptsRestartOnlyKeys(InstanceType type) {
            Instance i = createRunning(type);
            i.update(withConfig(i, "security.nesting", "true"), true);
            assertEquals("true", i.localConfig().get("security.nesting"));
            assertTrue(i.isRunning());
        }

        @ForEachInstanceType
        void volatileSetSetsAndRemoves(InstanceType type) {
            Instance i = create(type);
            i.volatileSet(Map.of("volatile.test.one", "1", "volatile.test.two", "2"));
            assertEquals("1", i.localConfig().get("volatile.test.one"));
            i.volatileSet(Map.of("volatile.test.one", ""));
            assertFalse(i.localConfig().containsKey("volatile.test.one"), "empty value removes the key");
            assertEquals("2", reopen().load(i.name()).localConfig().get("volatile.test.two"));
        }

        @ForEachInstanceType
        void volatileSetRefusesOtherKeys(InstanceType type) {
            Instance i = create(type);
            assertRefused(InvalidArgumentException.class, "Only volatile keys can be modified with VolatileSet",
                    () -> i.volatileSet(Map.of("volatile.ok", "1", "user.not", "2")));
            assertFalse(i.localConfig().containsKey("user.not"));
            assertFalse(i.localConfig().containsKey("volatile.ok"), "a refused change must change nothing");
        }

        @ForEachInstanceType
        void idmapKeysCannotBeDeletedByUsers(InstanceType type) {
            Instance i = create(type);
            i.volatileSet(Map.of("volatile.idmap.next", "[]"));
            assertRefused(InvalidArgumentException.class, "Volatile idmap keys can't be deleted by the user",
                    () -> i.update(withConfig(i, "volatile.idmap.next", null), true));
            i.update(withConfig(i, "volatile.idmap.next", null), false);
            assertFalse(i.localConfig().containsKey("volatile.idmap.next"));
        }

        @ForEachInstanceType
        void deferTemplateApplyKeepsThePendingTrigger(InstanceType type) {
            Instance i = create(type);
            i.volatileSet(Map.of("volatile.apply_template", ""));
            i.deferTemplateApply(TemplateTrigger.COPY);
            assertEquals("copy", i.localConfig().get("volatile.apply_template"));
            i.deferTemplateApply(TemplateTrigger.RENAME);
            assertEquals("copy", i.localConfig().get("volatile.apply_template"), "a pending trigger is kept");
        }

        @ForEachInstanceType
        void cloudInitIdFollowsVolatileKey(InstanceType type) {
            Instance i = create(type);
            assertEquals(i.name(), i.cloudInitId());
            String id = "5c3c4a0e-5a5b-4c59-9c8e-0d7a3c5f2a11";
            i.volatileSet(Map.of("volatile.cloud-init.instance-id", id));
            assertEquals(id, i.cloudInitId());
        }

        @ForEachInstanceType
        void canMigrateAndCanLiveMigrate(InstanceType type) {
            Instance plain = create(type);
            assertEquals("migrate", plain.canMigrate());
            assertFalse(plain.canLiveMigrate());
            Instance stateful = create(args(type).config("migration.stateful", "true").build());
            assertTrue(stateful.canLiveMigrate());
            assertEquals(type == InstanceType.VM ? "live-migrate" : "migrate", stateful.canMigrate());
            Instance evacuate = create(args(type).config("cluster.evacuate", "stop").build());
            assertEquals("stop", evacuate.canMigrate());
        }

        @ForInstanceType(InstanceType.VM)
        void vmsHaveNoCgroupHandle(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(NotSupportedException.class, "Not implemented", i::cgroup);
        }

        @ForInstanceType(InstanceType.VM)
        void vmsRefuseLiblxcHooks(InstanceType type) {
            Instance i = create(type);
            assertRefused(NotSupportedException.class, "Not implemented", () -> i.onHook("onstart", Map.of()));
        }
    }

    /** Changes applied to running instances ({@code limits.*}). */
    @Nested
    @Tag("live-update")
    @RequiresCapability(Capability.LIVE_UPDATE)
    class LiveUpdate {

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.CGROUPS)
        void containerMemoryLimitAppliesLive(InstanceType type) {
            Instance i = createRunning(type);
            i.update(withConfig(i, "limits.memory", "256MiB"), true);
            assertEquals("268435456", i.cgroup().get("memory.max").trim());
            assertEquals(268435456L, i.cgroup().memoryLimit().getAsLong());
            i.update(withConfig(i, "limits.memory", null), true);
            assertEquals("max", i.cgroup().get("memory.max").trim(), "removing the limit");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.CGROUPS)
        void containerProcessLimitAppliesLive(InstanceType type) {
            Instance i = createRunning(type);
            i.update(withConfig(i, "limits.processes", "100"), true);
            assertEquals("100", i.cgroup().get("pids.max").trim());
            assertEquals(100L, i.cgroup().maxProcesses().getAsLong());
        }

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.CGROUPS)
        void limitsSetWhileStoppedApplyAtStart(InstanceType type) {
            Instance i = create(args(type).config("limits.memory", "128MiB").build());
            i.start(false);
            assertEquals("134217728", i.cgroup().get("memory.max").trim());
        }

        /** The guest's {@code MemTotal} in bytes, as its kernel reports it. */
        private long guestMemTotal(Instance i) {
            ExecResult r = run(i, "cat", "/proc/meminfo");
            assertEquals(0, r.exitCode(), r.stderr());
            String line = r.stdout().lines().filter(l -> l.startsWith("MemTotal:")).findFirst()
                    .orElseGet(() -> fail("no MemTotal in /proc/meminfo: " + r.stdout()));
            return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }

        /** Waits until the guest's MemTotal meets {@code condition}; returns the last value read. */
        private long awaitGuestMemTotal(Instance i, java.util.function.LongPredicate condition, String what)
                throws InterruptedException {
            long deadline = System.nanoTime() + timeout().toNanos();
            long total = guestMemTotal(i);
            while (!condition.test(total)) {
                if (System.nanoTime() > deadline) {
                    fail(what + ": the guest's MemTotal is still " + total + " after " + timeout());
                }
                Thread.sleep(250);
                total = guestMemTotal(i);
            }
            return total;
        }

        @ForInstanceType(InstanceType.VM)
        @RequiresCapability(Capability.EXEC)
        void vmMemoryChangeReachesTheGuest(InstanceType type) throws InterruptedException {
            // Read from inside the guest: what its kernel has, not the config the update wrote.
            Instance i = createRunning(type);
            long before = guestMemTotal(i);
            long target = before / 2 / (1 << 20) * (1 << 20);
            i.update(withConfig(i, "limits.memory", (target >> 20) + "MiB"), true);
            assertTrue(i.isRunning());
            awaitGuestMemTotal(i, total -> total <= target, "shrinking to " + (target >> 20) + "MiB");
            i.update(withConfig(i, "limits.memory", null), true);
            awaitGuestMemTotal(i, total -> total > target + (before - target) / 2,
                    "growing back from " + (target >> 20) + "MiB");
        }

        @ForEachInstanceType
        void liveChangesSurviveRestart(InstanceType type) {
            Instance i = createRunning(type);
            i.update(withConfig(i, "limits.memory", "512MiB"), true);
            i.restart(Duration.ZERO);
            assertEquals("512MiB", i.expandedConfig().get("limits.memory"));
        }
    }

    /** The container cgroup handle. */
    @Nested
    @Tag("cgroups")
    @RequiresCapability(Capability.CGROUPS)
    class CGroups {

        @ForInstanceType(InstanceType.CONTAINER)
        void runningContainerReportsUsage(InstanceType type) {
            Instance i = createRunning(type);
            CGroup cg = i.cgroup();
            assertTrue(cg.memoryUsage() > 0, "memory.current");
            assertTrue(cg.processes() >= 1, "pids.current");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void setThenGet(InstanceType type) {
            Instance i = createRunning(type);
            i.cgroup().setMemoryLimit(64L << 20);
            assertEquals(64L << 20, i.cgroup().memoryLimit().getAsLong());
            i.cgroup().setMemoryLimit(-1);
            assertTrue(i.cgroup().memoryLimit().isEmpty(), "no limit after -1");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void setOnStoppedContainerIsRefused(InstanceType type) {
            Instance i = create(type);
            // driver_lxc.go cgroup set on a stopped container.
            assertRefused(InstanceStateException.class, "Can't set cgroups on a stopped container",
                    () -> i.cgroup().set("memory.max", "1000000"));
        }
    }

    // =================================================================================================================
    // Snapshots
    // =================================================================================================================

    /** Snapshot creation, listing, expiry, restore, rename and delete. */
    @Nested
    @Tag("snapshots")
    class Snapshots {

        @ForEachInstanceType
        void snapshotIsNamedParentSlashName(InstanceType type) {
            Instance i = create(type);
            i.snapshot("snap0", null, false);
            List<Instance> snaps = i.snapshots();
            assertEquals(1, snaps.size());
            Instance s = snaps.get(0);
            assertEquals(i.name() + "/snap0", s.name());
            assertTrue(s.isSnapshot());
            assertEquals(StatusCode.STOPPED, s.statusCode());
            assertTrue(s.expiryDate().isEmpty(), "no expiry given");
            assertEquals(type, s.type());
            assertEquals(List.of(), s.snapshots(), "a snapshot has no snapshots");
        }

        @ForEachInstanceType
        void snapshotsAreListedOldestFirst(InstanceType type) {
            Instance i = create(type);
            for (String n : List.of("zeta", "alpha", "mid")) {
                i.snapshot(n, null, false);
            }
            assertEquals(List.of(i.name() + "/zeta", i.name() + "/alpha", i.name() + "/mid"), snapshotNames(i));
        }

        @ForEachInstanceType
        void snapshotKeepsItsExpiry(InstanceType type) {
            Instance i = create(type);
            Instant expiry = nowSeconds().plus(Duration.ofDays(3));
            i.snapshot("expiring", expiry, false);
            Instance s = i.snapshots().get(0);
            assertEquals(expiry, s.expiryDate().orElseThrow());
            assertEquals(expiry, ((ApiInstanceSnapshot) s.render().value()).expiresAt());
        }

        @ForEachInstanceType
        void snapshotCapturesTheConfigOfItsTime(InstanceType type) {
            Instance i = create(args(type).config("user.v", "1").build());
            i.snapshot("s1", null, false);
            i.update(withConfig(i, "user.v", "2"), true);
            assertEquals("1", i.snapshots().get(0).localConfig().get("user.v"));
        }

        @ForEachInstanceType
        void duplicateSnapshotNameIsRefused(InstanceType type) {
            String name = uniqueName("ct");
            Instance i = create(args(type).name(name).build());
            i.snapshot("s1", null, false);
            // internal/server/instance/instance_utils.go CreateInternal: "%s %q already exists" with the full name.
            assertRefused(BusyException.class, "Snapshot \"" + name + "/s1\" already exists",
                    () -> i.snapshot("s1", null, false));
            assertEquals(1, i.snapshots().size());
        }

        @ParameterizedTest(name = "\"{0}\"")
        @CsvSource(delimiter = '|', value = {
            "a b|Invalid instance snapshot name: Cannot contain space or / characters",
            "a/b|Invalid instance snapshot name: Cannot contain space or / characters",
            "''|Invalid instance snapshot name: Names must start and end with an alphanumeric character",
            "-x|Invalid instance snapshot name: Names must start and end with an alphanumeric character",
            "a$b|Invalid instance snapshot name: Name contains invalid character \"$\"",
            "a*b|Invalid instance snapshot name: Name contains invalid character \"*\""
        })
        void badSnapshotNamesLeaveNothingBehind(String name, String message) {
            for (InstanceType type : dut().instanceTypes()) {
                Instance i = create(type);
                Set<String> before = tree();
                assertRefused(InvalidArgumentException.class, message, () -> i.snapshot(name, null, false));
                assertEquals(List.of(), i.snapshots(), type + ": no snapshot");
                assertEquals(before, tree(), type + ": a refused snapshot wrote files");
            }
        }

        @ForEachInstanceType
        void snapshotOfSnapshotIsRefused(InstanceType type) {
            String name = uniqueName("ct");
            Instance i = create(args(type).name(name).build());
            i.snapshot("s1", null, false);
            Instance s = i.snapshots().get(0);
            // Incus has no route for it (its CLI says "Invalid instance name: c1/s1"): incus4j's text names it.
            assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for snapshot: \"" + name + "/s1\"",
                    () -> s.snapshot("s2", null, false));
            assertEquals(1, i.snapshots().size());
        }

        @ForEachInstanceType
        void snapshotsAreFoundByFullName(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            Instance s = instances().find("default", i.name() + "/s1").orElseThrow();
            assertTrue(s.isSnapshot());
            assertEquals(i.name() + "/s1", s.name());
            assertTrue(instances().find("default", i.name() + "/nope").isEmpty());
            assertFalse(instances().list().stream().anyMatch(Instance::isSnapshot), "list has no snapshots");
        }

        @ForEachInstanceType
        void deleteSnapshot(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            i.snapshot("s2", null, false);
            i.snapshots().get(0).delete(false);
            assertEquals(List.of(i.name() + "/s2"), snapshotNames(i));
            assertTrue(instances().find("default", i.name() + "/s1").isEmpty());
            assertEquals(List.of(i.name() + "/s2"), snapshotNames(reopen().load(i.name())));
        }

        @ForEachInstanceType
        void deleteOfADeletedSnapshotIsNotFound(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            Instance s = i.snapshots().get(0);
            s.delete(false);
            // Incus: 'Failed to fetch snapshot "s1" of instance "c1" in project "default": Instance_snapshot not
            // found' (cmd/incusd/instance_snapshot.go around the db mapper's 404); incus4j names the snapshot alike.
            assertRefused(NotFoundException.class, "Snapshot \"s1\" not found", () -> s.delete(false));
        }

        @ForEachInstanceType
        void renameSnapshot(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            i.snapshots().get(0).rename("renamed", false);
            assertEquals(List.of(i.name() + "/renamed"), snapshotNames(i));
            assertTrue(instances().find("default", i.name() + "/s1").isEmpty());
            assertTrue(instances().find("default", i.name() + "/renamed").isPresent());
        }

        @ForEachInstanceType
        void renameSnapshotToATakenNameIsRefused(InstanceType type) {
            String name = uniqueName("ct");
            Instance i = create(args(type).name(name).build());
            i.snapshot("s1", null, false);
            i.snapshot("s2", null, false);
            // cmd/incusd/instance_snapshot.go snapshotPost: "Name '%s' already in use" with the full name.
            assertRefused(BusyException.class, "Name '" + name + "/s2' already in use",
                    () -> i.snapshots().get(0).rename("s2", false));
            assertEquals(List.of(i.name() + "/s1", i.name() + "/s2"), snapshotNames(i));
        }

        @ForEachInstanceType
        void renameOfInstanceRenamesItsSnapshots(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            String newName = uniqueName("renamed");
            i.rename(newName, false);
            assertEquals(List.of(newName + "/s1"), snapshotNames(instances().load(newName)));
            assertTrue(instances().find("default", newName + "/s1").isPresent());
        }

        @ForEachInstanceType
        void restoreBringsTheConfigBack(InstanceType type) {
            Instance i = create(args(type).config("user.v", "1").description("then").build());
            i.snapshot("s1", null, false);
            i.update(argsOf(i).config("user.v", "2").config("user.extra", "x").description("now").build(), true);
            i.restore(i.snapshots().get(0), false);
            assertEquals("1", i.localConfig().get("user.v"));
            assertFalse(i.localConfig().containsKey("user.extra"));
            assertEquals("then", i.description());
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void restoreOfRunningInstanceKeepsItRunning(InstanceType type) {
            Instance i = createRunning(type);
            i.snapshot("s1", null, false);
            assertTrue(i.isRunning(), "a snapshot leaves the instance running");
            i.restore(i.snapshots().get(0), false);
            assertTrue(i.isRunning(), "restored instance runs again");
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.FILES)
        void restoreBringsTheFilesBack(InstanceType type) {
            Instance i = filesInstance(type);
            writeFile(i, "/root/data.txt", "version 1");
            i.snapshot("s1", null, false);
            writeFile(i, "/root/data.txt", "version 2");
            writeFile(i, "/root/later.txt", "added after the snapshot");
            i.restore(i.snapshots().get(0), false);
            assertEquals("version 1", readFile(i, "/root/data.txt"));
            try (SftpClient sftp = i.fileSftp()) {
                assertFalse(sftp.exists("/root/later.txt"), "file added after the snapshot survived the restore");
            }
        }

        @ForEachInstanceType
        void restoreOfAnotherInstancesSnapshotIsRefused(InstanceType type) {
            String na = uniqueName("ct");
            String nb = uniqueName("ct");
            Instance a = create(args(type).name(na).build());
            Instance b = create(args(type).name(nb).build());
            b.snapshot("s1", null, false);
            // Incus hands another instance's snapshot to the storage driver, which says "Snapshot not found"
            // (storage/drivers/driver_dir_volumes.go); incus4j refuses before touching storage, naming both.
            assertRefused(NotFoundException.class, "Snapshot \"" + nb + "/s1\" of instance \"" + na + "\" not found",
                    () -> a.restore(b.snapshots().get(0), false));
            assertRefused(NotFoundException.class, "Snapshot \"" + nb + "\" of instance \"" + na + "\" not found",
                    () -> a.restore(b, false));
        }

        @ForEachInstanceType
        void statefulRestoreOfStatelessSnapshotIsRefused(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            assertRefused(InvalidArgumentException.class,
                    "Stateful snapshot restore requested but snapshot is stateless",
                    () -> i.restore(i.snapshots().get(0), true));
        }

        @ForEachInstanceType
        void statefulSnapshotNeedsMigrationStateful(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InvalidArgumentException.class, expectedStatefulSnapshot(type),
                    () -> i.snapshot("s1", null, true));
            assertEquals(List.of(), i.snapshots());
        }

        @ForEachInstanceType
        void statefulSnapshotOfStoppedInstanceIsRefused(InstanceType type) {
            Instance i = create(args(type).config("migration.stateful", "true").build());
            assertRefused(InstanceStateException.class,
                    "Unable to create a stateful snapshot. The instance isn't running",
                    () -> i.snapshot("s1", null, true));
        }

        @ForEachInstanceType
        void deleteOfInstanceRemovesSnapshotsFromDisk(InstanceType type) {
            Instance i = create(type);
            i.snapshot("s1", null, false);
            i.snapshot("s2", null, false);
            String name = i.name();
            i.delete(false);
            assertTrue(instances().find("default", name + "/s1").isEmpty());
            Set<String> left = tree().stream().filter(p -> Arrays.asList(p.split("/")).contains(name))
                    .collect(Collectors.toCollection(TreeSet::new));
            assertEquals(Set.of(), left, "files of the deleted instance left under the root");
        }
    }

    // =================================================================================================================
    // Exec
    // =================================================================================================================

    /** Commands in running instances: exit codes, streams, environment, signals and refusals. */
    @Nested
    @Tag("exec")
    @RequiresCapability(Capability.EXEC)
    class Exec {

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

    /** What an interactive command writes on its terminal, CRs left out (a terminal ends lines with CR LF). */
    private static final class Screen extends OutputStream {
        private final StringBuilder text = new StringBuilder();

        @Override
        public synchronized void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            text.append(new String(b, off, len, StandardCharsets.ISO_8859_1).replace("\r", ""));
            notifyAll();
        }

        synchronized String text() {
            return text.toString();
        }

        synchronized void await(String expected, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (text.indexOf(expected) < 0) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    fail("no " + expected.strip() + " on the terminal after " + timeout.toMillis() + " ms: " + text);
                }
                wait(left);
            }
        }
    }

    /** Commands on a terminal: its size and resizes, the echo of what is typed, the status. */
    @Nested
    @Tag("exec")
    @RequiresCapability(Capability.INTERACTIVE_EXEC)
    class InteractiveExec {

        @ForEachInstanceType
        void commandRunsOnATerminalThatFollowsResizes(InstanceType type) throws Exception {
            Instance i = createRunning(type);
            Screen screen = new Screen();
            PipedOutputStream keyboard = new PipedOutputStream();
            ExecRequest request = cmd("sh", "-c", "tty; stty size; cat; stty size; exit 3").interactive(true)
                    .window(100, 30).build();
            try (Cmd c = i.exec(request, new PipedInputStream(keyboard), screen, null)) {
                screen.await("30 100\n", timeout());
                c.windowResize(120, 40);
                keyboard.write(utf8("hello\n"));
                keyboard.close(); // the end of input ends cat
                assertEquals(3, c.waitFor(timeout()));
            }
            String text = screen.text();
            assertTrue(text.startsWith("/dev/pts/"), "tty names a pty: " + text);
            // What is typed is echoed by the terminal, then written back by cat.
            assertEquals("30 100\nhello\nhello\n40 120\n", text.substring(text.indexOf('\n') + 1));
        }

        @ForEachInstanceType
        void otherCommandsHaveNoTerminal(InstanceType type) {
            ExecResult r = run(createRunning(type), "tty");
            assertEquals(1, r.exitCode());
            assertEquals("not a tty\n", r.stdout());
        }
    }

    // =================================================================================================================
    // Files
    // =================================================================================================================

    /** File access over SFTP, confined to the instance. */
    @Nested
    @Tag("files")
    @RequiresCapability(Capability.FILES)
    class FileAccess {

        @ForEachInstanceType
        void writeThenRead(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv/app", 0755);
                sftp.write("/srv/app/hello.txt", utf8("hello files"));
                assertEquals("hello files", new String(sftp.readAllBytes("/srv/app/hello.txt"),
                        StandardCharsets.UTF_8));
            }
        }

        @ForEachInstanceType
        void statOfFile(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv", 0755);
                Instant before = Instant.now();
                sftp.write("/srv/five", utf8("12345"));
                Instant after = Instant.now();
                FileAttributes a = sftp.stat("/srv/five");
                assertEquals(5, a.size());
                assertTrue(a.isRegularFile());
                assertFalse(a.isDirectory());
                // The write just made it: its mtime is now (second precision; a VM's clock may stray a little).
                assertNotNull(a.modified());
                assertFalse(a.modified().isBefore(before.minusSeconds(60))
                        || a.modified().isAfter(after.plusSeconds(60)),
                        "mtime " + a.modified() + " not near the write at " + before);
            }
        }

        @ForEachInstanceType
        void listIsSortedWithoutDots(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv/list", 0755);
                for (String n : List.of("b", "c", "a")) {
                    sftp.write("/srv/list/" + n, utf8(n));
                }
                sftp.mkdir("/srv/list/dir", 0755);
                List<String> names = sftp.list("/srv/list").stream().map(SftpClient.Entry::name)
                        .collect(Collectors.toList());
                assertEquals(List.of("a", "b", "c", "dir"), names);
                assertTrue(sftp.list("/srv/list").get(3).attributes().isDirectory());
            }
        }

        @ForEachInstanceType
        void mkdirsCreatesParents(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv/x/y/z", 0755);
                assertTrue(sftp.stat("/srv/x").isDirectory());
                assertTrue(sftp.stat("/srv/x/y/z").isDirectory());
                sftp.mkdirs("/srv/x/y/z", 0755);
            }
        }

        @ForEachInstanceType
        void createUsesTheGivenMode(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv", 0755);
                try (var out = sftp.create("/srv/secret", 0600)) {
                    out.write(utf8("s"));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                assertEquals(0600, sftp.stat("/srv/secret").permissions());
            }
        }

        @ForEachInstanceType
        void renameMoves(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv", 0755);
                sftp.write("/srv/from", utf8("moving"));
                sftp.rename("/srv/from", "/srv/to");
                assertFalse(sftp.exists("/srv/from"));
                assertEquals("moving", new String(sftp.readAllBytes("/srv/to"), StandardCharsets.UTF_8));
            }
        }

        @ForEachInstanceType
        void removeAndRmdir(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv/gone", 0755);
                sftp.write("/srv/gone/f", utf8("x"));
                sftp.remove("/srv/gone/f");
                assertFalse(sftp.exists("/srv/gone/f"));
                sftp.rmdir("/srv/gone");
                assertFalse(sftp.exists("/srv/gone"));
            }
        }

        @ForEachInstanceType
        void symlinkAndReadlink(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv", 0755);
                sftp.write("/srv/target", utf8("pointed at"));
                sftp.symlink("/srv/target", "/srv/link");
                assertEquals("/srv/target", sftp.readlink("/srv/link"));
                assertTrue(sftp.lstat("/srv/link").isSymlink());
                assertTrue(sftp.stat("/srv/link").isRegularFile(), "stat follows the link");
                assertEquals("pointed at", new String(sftp.readAllBytes("/srv/link"), StandardCharsets.UTF_8));
            }
        }

        @ForEachInstanceType
        void chmodChangesPermissions(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv", 0755);
                sftp.write("/srv/f", utf8("x"));
                sftp.chmod("/srv/f", 0640);
                assertEquals(0640, sftp.stat("/srv/f").permissions());
            }
        }

        @ForEachInstanceType
        void chownUsesInstanceIds(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv", 0755);
                sftp.write("/srv/owned", utf8("x"));
                assertEquals(0, sftp.stat("/srv/owned").uid(), "written as root");
                sftp.chown("/srv/owned", 1000, 1001);
                FileAttributes a = sftp.stat("/srv/owned");
                assertEquals(1000, a.uid());
                assertEquals(1001, a.gid());
            }
        }

        @ForEachInstanceType
        void missingFilesAreNotFound(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                assertFalse(sftp.exists("/no/such/file"));
                // Incus's Go SFTP client (pkg/sftp) turns SSH_FX_NO_SUCH_FILE into os.ErrNotExist, "file does not
                // exist"; incus4j's SFTP client gives the errno text and names the path.
                String missing = "No such file or directory: \"/no/such/file\"";
                assertRefused(NotFoundException.class, missing, () -> sftp.stat("/no/such/file"));
                assertRefused(NotFoundException.class, missing, () -> sftp.readAllBytes("/no/such/file"));
                assertRefused(NotFoundException.class, missing, () -> sftp.remove("/no/such/file"));
                assertRefused(NotFoundException.class, "No such file or directory: \"/no/such/dir\"",
                        () -> sftp.list("/no/such/dir"));
                assertRefused(NotFoundException.class, "No such file or directory: \"/no/such/link\"",
                        () -> sftp.readlink("/no/such/link"));
            }
        }

        @ForEachInstanceType
        void dotDotStaysInside(InstanceType type) {
            Instance i = filesInstance(type);
            Set<String> before = tree();
            try (SftpClient sftp = i.fileSftp()) {
                sftp.write("/../../../../../../../contract-escape-marker", utf8("inside"));
                assertEquals("inside", new String(sftp.readAllBytes("/contract-escape-marker"),
                        StandardCharsets.UTF_8), "the write landed at the instance's /");
            }
            assertFalse(Files.exists(root().getParent().resolve("contract-escape-marker")));
            assertFalse(Files.exists(Path.of("/contract-escape-marker")), "written on the host's /");
            for (String p : tree()) {
                if (!before.contains(p) && p.endsWith("contract-escape-marker")) {
                    assertTrue(p.contains(i.name()), "marker outside the instance: " + p);
                }
            }
        }

        @ForEachInstanceType
        void absoluteSymlinksResolveInsideTheInstance(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/etc", 0755);
                sftp.mkdirs("/tmp", 01777);
                sftp.write("/etc/shadow", utf8("the instance's shadow"));
                sftp.symlink("/etc/shadow", "/tmp/shadow-link");
                assertEquals("the instance's shadow", new String(sftp.readAllBytes("/tmp/shadow-link"),
                        StandardCharsets.UTF_8));
            }
        }

        @ForEachInstanceType
        void relativeSymlinksCannotClimbOut(InstanceType type) {
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/etc", 0755);
                sftp.mkdirs("/srv/deep", 0755);
                sftp.write("/etc/inside-marker", utf8("inside"));
                sftp.symlink("../../../../../../../../etc/inside-marker", "/srv/deep/climb");
                assertEquals("inside", new String(sftp.readAllBytes("/srv/deep/climb"), StandardCharsets.UTF_8));
            }
        }

        @ForEachInstanceType
        void symlinksToHostPathsFindNothing(InstanceType type) throws IOException {
            Path hostFile = scratch().resolve("host-secret");
            Files.writeString(hostFile, "host only");
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv", 0755);
                sftp.symlink(hostFile.toAbsolutePath().toString(), "/srv/to-host");
                assertRefused(NotFoundException.class, "No such file or directory: \"/srv/to-host\"",
                        () -> sftp.readAllBytes("/srv/to-host"));
                assertRefused(NotFoundException.class, "No such file or directory: \"/srv/to-host\"",
                        () -> sftp.stat("/srv/to-host"));
            }
        }

        @ForEachInstanceType
        void largeFileRoundTrip(InstanceType type) {
            byte[] data = new byte[3 << 20];
            new Random(7).nextBytes(data);
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv", 0755);
                sftp.write("/srv/big", data);
                assertEquals(data.length, sftp.stat("/srv/big").size());
                assertArrayEquals(data, sftp.readAllBytes("/srv/big"));
            }
        }

        @ForEachInstanceType
        void sftpConnectionReadsWhatFileSftpWrote(InstanceType type) {
            byte[] data = new byte[300_000];
            new Random(9).nextBytes(data);
            Instance i = filesInstance(type);
            try (SftpClient sftp = i.fileSftp()) {
                sftp.mkdirs("/srv/wire/sub", 0755);
                sftp.write("/srv/wire/hello.txt", utf8("over the wire"));
                sftp.write("/srv/wire/big", data);
            }
            // Incus's FileSFTP is an SFTP client on FileSFTPConn: the raw connection must speak SFTP v3.
            try (WireSftpClient wire = WireSftpClient.open(i.fileSftpConn())) {
                assertEquals("over the wire", new String(wire.readAllBytes("/srv/wire/hello.txt"),
                        StandardCharsets.UTF_8));
                assertArrayEquals(data, wire.readAllBytes("/srv/wire/big"));
                List<SftpClient.Entry> entries = wire.list("/srv/wire");
                assertEquals(List.of("big", "hello.txt", "sub"), entries.stream().map(SftpClient.Entry::name)
                        .toList());
                assertTrue(entries.get(2).attributes().isDirectory());
                assertEquals(data.length, entries.get(0).attributes().size());
                wire.write("/srv/wire/back", utf8("written over the wire"));
                assertRefused(NotFoundException.class, "No such file or directory: \"/srv/wire/none\"",
                        () -> wire.stat("/srv/wire/none"));
            }
            try (SftpClient sftp = i.fileSftp()) {
                assertEquals("written over the wire", new String(sftp.readAllBytes("/srv/wire/back"),
                        StandardCharsets.UTF_8));
            }
        }

        @ForEachInstanceType
        void sftpConnectionIsConfined(InstanceType type) throws IOException {
            Path hostFile = scratch().resolve("host-secret-wire");
            Files.writeString(hostFile, "host only");
            Instance i = filesInstance(type);
            try (WireSftpClient wire = WireSftpClient.open(i.fileSftpConn())) {
                wire.mkdirs("/etc", 0755);
                wire.mkdirs("/srv/deep/er", 0755);
                wire.write("/etc/wire-marker", utf8("inside"));
                wire.symlink("/etc/wire-marker", "/srv/abs");
                wire.symlink("../../../../../../etc/wire-marker", "/srv/deep/er/climb");
                wire.symlink(hostFile.toAbsolutePath().toString(), "/srv/to-host");
                assertEquals("inside", new String(wire.readAllBytes("/srv/abs"), StandardCharsets.UTF_8));
                assertEquals("inside", new String(wire.readAllBytes("/srv/deep/er/climb"), StandardCharsets.UTF_8));
                assertEquals("inside", new String(wire.readAllBytes("/../../../../etc/wire-marker"),
                        StandardCharsets.UTF_8));
                assertEquals("/etc/wire-marker", wire.realpath("/srv/deep/er/climb"));
                assertRefused(NotFoundException.class, "No such file or directory: \"/srv/to-host\"",
                        () -> wire.readAllBytes("/srv/to-host"));
                // The link names the host path inside the instance, whose directories do not exist there.
                assertRefused(NotFoundException.class, "No such file or directory: \"/srv/to-host\"",
                        () -> wire.write("/srv/to-host", utf8("through the link")));
            }
            assertEquals("host only", Files.readString(hostFile), "a write through a link reached the host");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void containerFilesWorkStoppedAndRunning(InstanceType type) {
            Instance i = create(type);
            writeFile(i, "/srv/state", "written stopped");
            i.start(false);
            assertEquals("written stopped", readFile(i, "/srv/state"));
            writeFile(i, "/srv/state", "written running");
            i.stop(false);
            assertEquals("written running", readFile(i, "/srv/state"));
        }

        @ForInstanceType(InstanceType.VM)
        void vmFilesNeedARunningVm(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "Instance is not running", i::fileSftp);
        }

        @ForEachInstanceType
        void filesSurviveRestartAndReopen(InstanceType type) {
            Instance i = filesInstance(type);
            writeFile(i, "/srv/keep", "kept");
            if (i.isRunning()) {
                i.restart(Duration.ZERO);
            }
            assertEquals("kept", readFile(i, "/srv/keep"));
            if (type == InstanceType.CONTAINER) {
                assertEquals("kept", readFile(reopen().load(i.name()), "/srv/keep"));
            }
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void execSeesFilesWrittenOverSftp(InstanceType type) {
            Instance i = filesInstance(type);
            writeFile(i, "/srv/shared.txt", "seen by exec\n");
            if (!i.isRunning()) {
                i.start(false);
            }
            assertEquals("seen by exec\n", run(i, "cat", "/srv/shared.txt").stdout());
        }
    }

    // =================================================================================================================
    // Console
    // =================================================================================================================

    /** Attaching to the text console. */
    @Nested
    @Tag("console")
    @RequiresCapability(Capability.CONSOLE)
    class Console {

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void attachedSessionShowsWhatTheInstanceWritesToItsConsole(InstanceType type) throws Exception {
            Instance i = createRunning(type);
            ConsoleSession session = i.console("console");
            ConsoleScreen screen = ConsoleScreen.of(session, i.name());
            // Split in the command so that the echo of the command line cannot be taken for its output.
            ExecResult r = run(i, "sh", "-c", "M=attached; echo console-$M-marker > /dev/console");
            assertEquals(0, r.exitCode(), r.stderr());
            screen.await("console-attached-marker", timeout());
            session.close();
            await(session.disconnected(), "disconnection after close");
        }

        @ForEachInstanceType
        void consoleInputReachesTheInstance(InstanceType type) throws Exception {
            Instance i = createRunning(type);
            try (ConsoleSession session = i.console("console")) {
                ConsoleScreen screen = ConsoleScreen.of(session, i.name());
                // Computed by the shell on the console: the echo of what is typed does not contain it.
                screen.typeUntil("V=4; echo con${V}2sole\n", "con42sole", timeout());
            }
        }

        @ForEachInstanceType
        void attachToStoppedInstanceIsRefused(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "Instance is not running", () -> i.console("console"));
        }

        @ForEachInstanceType
        void stopDisconnectsTheConsole(InstanceType type) {
            Instance i = createRunning(type);
            try (ConsoleSession session = i.console("console")) {
                i.stop(false);
                await(session.disconnected(), "disconnection when the instance stops");
            }
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void containersHaveNoVga(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InvalidArgumentException.class, "Container instances don't support \"vga\" output",
                    () -> i.console("vga"));
        }

        @ForEachInstanceType
        void unknownProtocolIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InvalidArgumentException.class, type == InstanceType.VM
                    ? "Unknown protocol \"serial\"" : "Container instances don't support \"serial\" output",
                    () -> i.console("serial"));
        }
    }

    /** The console log. */
    @Nested
    @Tag("console-log")
    @RequiresCapability(Capability.CONSOLE_LOG)
    class ConsoleLog {

        /** Writes {@code marker} on the instance's console from inside it. */
        private void writeToConsole(Instance i, String marker) {
            // The marker is put together by the shell, so that no command line echoed anywhere contains it.
            int cut = marker.length() / 2;
            ExecResult r = run(i, "sh", "-c", "A=" + marker.substring(0, cut) + "; echo ${A}" + marker.substring(cut)
                    + " > /dev/console");
            assertEquals(0, r.exitCode(), "writing to /dev/console: " + r.stderr());
        }

        /** Reads the log until it holds {@code marker} (drivers copy console output asynchronously). */
        private String awaitInLog(java.util.function.Supplier<String> log, String marker) throws InterruptedException {
            long deadline = System.nanoTime() + timeout().toNanos();
            String text = log.get();
            while (!text.contains(marker)) {
                if (System.nanoTime() > deadline) {
                    fail("no " + marker + " in the console log after " + timeout() + "; it holds: " + text);
                }
                Thread.sleep(100);
                text = log.get();
            }
            return text;
        }

        /**
         * Reads a container's console log until what the reads returned, together, holds {@code marker}; returns
         * that text. A container's reads consume (see {@link #containerConsoleLogReadConsumesWhatItReturned}), so
         * the marker may come out across two reads.
         */
        private String awaitInContainerLog(Container c, String marker) throws InterruptedException {
            StringBuilder read = new StringBuilder();
            awaitInLog(() -> read.append(c.consoleLog(ConsoleLogOptions.READ)).toString(), marker);
            return read.toString();
        }

        /**
         * Takes a container's console log one byte at a time until {@code prefix} has come out, so that what
         * follows it in the same write stays in the buffer, unread.
         */
        private void takeUntil(Container c, String prefix) throws InterruptedException {
            ConsoleLogOptions oneByte = new ConsoleLogOptions(false, true, 1, false);
            long deadline = System.nanoTime() + timeout().toNanos();
            StringBuilder taken = new StringBuilder();
            while (!taken.toString().endsWith(prefix)) {
                if (System.nanoTime() > deadline) {
                    fail("no " + prefix + " in the console log after " + timeout() + "; the reads returned: "
                            + (taken.length() > 200 ? "..." + taken.substring(taken.length() - 200) : taken));
                }
                String b = c.consoleLog(oneByte);
                assertTrue(b.length() <= 1, "a read of at most 1 byte returned " + b);
                if (b.isEmpty()) {
                    Thread.sleep(20);
                }
                taken.append(b);
            }
        }

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.EXEC)
        void containerConsoleLogHoldsWhatTheContainerWrote(InstanceType type) throws Exception {
            Container c = (Container) createRunning(type);
            writeToConsole(c, "written-to-console-log");
            awaitInContainerLog(c, "written-to-console-log");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.EXEC)
        void containerConsoleLogReadConsumesWhatItReturned(InstanceType type) throws Exception {
            // Incus reads a running container's log through liblxc's ring buffer with ClearLog=false, and liblxc
            // moves the read position past what it returns: each read holds what was written since the last one.
            Container c = (Container) createRunning(type);
            writeToConsole(c, "first-write");
            awaitInContainerLog(c, "first-write");
            writeToConsole(c, "second-write");
            String next = awaitInContainerLog(c, "second-write");
            assertFalse(next.contains("first-write"), "a read returned what an earlier read had: " + next);
        }

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.EXEC)
        void containerConsoleLogReadsAtMostReadMaxAndCanBeCleared(InstanceType type) throws Exception {
            Container c = (Container) createRunning(type);
            c.consoleLog(ConsoleLogOptions.READ); // what the boot printed: out of the way of the byte-wise reads
            writeToConsole(c, "before-the-clear");
            takeUntil(c, "before-");
            assertEquals("the-", c.consoleLog(new ConsoleLogOptions(false, true, 4, false)), "a read of 4 bytes");
            assertEquals("", c.consoleLog(ConsoleLogOptions.CLEAR), "clearing reads nothing");
            String cleared = c.consoleLog(ConsoleLogOptions.READ);
            assertFalse(cleared.contains("clear"), "the rest of the line survived the clear: " + cleared);
            writeToConsole(c, "written-after");
            String log = awaitInContainerLog(c, "written-after");
            assertFalse(log.contains("clear"), "what was cleared came back: " + log);
        }

        @ForInstanceType(InstanceType.VM)
        @RequiresCapability(Capability.EXEC)
        void vmConsoleLogHoldsWhatTheGuestWrote(InstanceType type) throws Exception {
            VM v = (VM) createRunning(type);
            writeToConsole(v, "written-by-the-guest");
            awaitInLog(v::consoleLog, "written-by-the-guest");
        }

        @ForInstanceType(InstanceType.VM)
        @RequiresCapability(Capability.EXEC)
        void vmConsoleLogKeepsWhatEarlierReadsReturned(InstanceType type) throws Exception {
            // Incus drains a VM's serial ring buffer into console.log at each read and returns the whole file.
            VM v = (VM) createRunning(type);
            writeToConsole(v, "first-write");
            awaitInLog(v::consoleLog, "first-write");
            writeToConsole(v, "second-write");
            String log = awaitInLog(v::consoleLog, "second-write");
            int first = log.indexOf("first-write");
            assertTrue(first >= 0 && first < log.indexOf("second-write"),
                    "the VM's log lost what an earlier read returned: " + log);
        }
    }

    // =================================================================================================================
    // Export and import
    // =================================================================================================================

    /** Images written by {@code export} and instances created from them. */
    @Nested
    @Tag("export")
    @RequiresCapability(Capability.EXPORT_IMPORT)
    class ExportImport {

        private byte[] export(Instance i, Map<String, String> properties, Instant expiry) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            i.export(out, null, properties, expiry, null);
            return out.toByteArray();
        }

        private Path saveImage(byte[] tarball) {
            Path p = scratch().resolve(uniqueName("image") + ".tar");
            try {
                return Files.write(p, tarball);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @ForEachInstanceType
        void unifiedTarballLayout(InstanceType type) {
            Map<String, byte[]> entries = TarEntries.read(export(create(type), Map.of(), null));
            assertTrue(entries.containsKey("metadata.yaml"), "entries " + entries.keySet());
            boolean rootfsDir = entries.keySet().stream().anyMatch(n -> n.startsWith("rootfs/"));
            if (type == InstanceType.CONTAINER) {
                assertTrue(rootfsDir, "container images hold rootfs/: " + entries.keySet());
            } else {
                assertTrue(rootfsDir || entries.containsKey("rootfs.img"), "VM images hold rootfs.img: "
                        + entries.keySet());
            }
            assertTrue(entries.keySet().stream().allMatch(n -> n.equals("metadata.yaml") || n.equals("config.json")
                    || n.startsWith("rootfs") || n.startsWith("templates")), "unexpected entries " + entries.keySet());
        }

        @ForEachInstanceType
        void metadataAsIncusWritesIt(InstanceType type) {
            Instance i = create(type);
            Instant expiry = nowSeconds().plus(Duration.ofDays(30));
            long before = Instant.now().getEpochSecond();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageMetadata returned = i.export(out, null, Map.of("os", "busybox", "description", "contract image"),
                    expiry, null);
            long after = Instant.now().getEpochSecond();
            ImageMetadata written = RestJson.fromYaml(TarEntries.read(out.toByteArray()).get("metadata.yaml"),
                    ImageMetadata.class);
            assertEquals(returned, written, "export returns what it wrote");
            String hostArch = hostArchitecture();
            if (hostArch != null) {
                assertEquals(hostArch, written.architecture(), "the host's architecture, as Incus names it");
            }
            assertEquals("busybox", written.properties().get("os"));
            assertEquals("contract image", written.properties().get("description"));
            assertEquals(expiry.getEpochSecond(), written.expiryDate());
            assertTrue(written.creationDate() >= before - 1 && written.creationDate() <= after + 1,
                    "creation_date " + written.creationDate());
        }

        @ForEachInstanceType
        void rebuildFromAnImageOrEmpty(InstanceType type) {
            byte[] tarball = export(create(type), Map.of("os", "contract"), null);
            ImageMetadata metadata = RestJson.fromYaml(TarEntries.read(tarball).get("metadata.yaml"),
                    ImageMetadata.class);
            String fingerprint = io.github.incus4j.api.internal.image.ImageLayout.fingerprint(tarball);
            io.github.incus4j.api.model.Image image = io.github.incus4j.api.model.Image.fromTarball(saveImage(tarball),
                    fingerprint, type.apiName(), metadata);
            Instance i = createRunning(type);
            assertRefused(InstanceStateException.class, "Instance must be stopped to be rebuilt",
                    () -> i.rebuild(image, null));
            i.stop(false);
            i.rebuild(image, null);
            assertEquals("contract", i.localConfig().get("image.os"));
            assertEquals(fingerprint, i.localConfig().get("volatile.base_image"));
            i.start(false);
            assertEquals(StatusCode.RUNNING, i.statusCode(), "the rebuilt instance runs");
            i.stop(false);
            i.rebuild(null, null);
            assertFalse(i.localConfig().containsKey("image.os"), "an empty rebuild drops the image keys");
            assertFalse(i.localConfig().containsKey("volatile.base_image"));
        }

        @ForEachInstanceType
        void noExpiryIsZero(InstanceType type) {
            ImageMetadata m = create(type).export(new ByteArrayOutputStream(), null, null, null, null);
            assertEquals(0, m.expiryDate());
        }

        @ForEachInstanceType
        void exportOfRunningInstanceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            assertRefused(InstanceStateException.class, "Cannot export a running instance as an image",
                    () -> i.export(out, null, Map.of(), null, null));
            assertEquals(0, out.size(), "nothing written");
            // Compressed too: the compressor's header waits for the first byte of the tarball.
            assertRefused(InstanceStateException.class, "Cannot export a running instance as an image",
                    () -> i.export(out, null, ImageCompression.GZIP, Map.of(), null, null));
            assertEquals(0, out.size(), "nothing written (gzip)");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void splitImageSeparatesMetadataAndRootfs(InstanceType type) {
            Instance i = create(type);
            ByteArrayOutputStream meta = new ByteArrayOutputStream();
            ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
            i.export(meta, rootfs, Map.of(), null, null);
            Map<String, byte[]> entries = TarEntries.read(meta.toByteArray());
            assertTrue(entries.containsKey("metadata.yaml"), "metadata " + entries.keySet());
            assertFalse(entries.keySet().stream().anyMatch(n -> n.startsWith("rootfs")), "rootfs in the metadata");
            assertTrue(rootfs.size() > 0, "rootfs tarball");
        }

        @ForEachInstanceType
        void createFromExportedImage(InstanceType type) {
            byte[] image = export(create(type), Map.of("os", "busybox"), null);
            Instance copy = instances().create(args(type).build(), InstanceSource.image(saveImage(image)));
            assertEquals(StatusCode.STOPPED, copy.statusCode());
            assertEquals("busybox", copy.localConfig().get("image.os"), "image properties become image.* config");
        }

        /** The magic bytes each compression starts with (NONE: a tar header's {@code ustar} at offset 257). */
        private void assertCompressedAs(ImageCompression c, byte[] image) {
            String head = HexFormat.of().formatHex(Arrays.copyOf(image, 6));
            switch (c) {
                case NONE -> assertEquals("ustar", new String(image, 257, 5, StandardCharsets.US_ASCII), "tar");
                case GZIP -> assertTrue(head.startsWith("1f8b"), "gzip: " + head);
                case BZIP2 -> assertTrue(head.startsWith("425a68"), "bzip2: " + head);
                case XZ -> assertTrue(head.startsWith("fd377a585a00"), "xz: " + head);
                case LZMA -> assertTrue(head.startsWith("5d0000"), "lzma: " + head);
                case ZSTD -> assertTrue(head.startsWith("28b52ffd"), "zstd: " + head);
            }
        }

        private String sha256(byte[]... parts) {
            try {
                java.security.MessageDigest d = java.security.MessageDigest.getInstance("SHA-256");
                for (byte[] p : parts) {
                    d.update(p);
                }
                return HexFormat.of().formatHex(d.digest());
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        /** Starts a container made from an image and stops it again: an image without a usable rootfs fails here. */
        private void startsAndStops(Instance copy) {
            if (copy.type() == InstanceType.CONTAINER) {
                copy.start(false);
                assertEquals(StatusCode.RUNNING, copy.statusCode(), "the container from the image runs");
                copy.stop(false);
            }
        }

        @ForEachInstanceType
        void createFromEveryCompression(InstanceType type) {
            Instance source = create(type);
            for (ImageCompression c : ImageCompression.values()) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                source.export(out, null, c, Map.of("os", "packed-" + c.value()), null, null);
                byte[] image = out.toByteArray();
                assertCompressedAs(c, image);
                Instance copy = instances().create(args(type).build(), InstanceSource.image(saveImage(image)));
                assertEquals("packed-" + c.value(), copy.localConfig().get("image.os"), c.value());
                assertEquals(sha256(image), copy.localConfig().get("volatile.base_image"),
                        "the fingerprint is the SHA-256 of the file as it is (" + c.value() + ")");
                startsAndStops(copy);
            }
        }

        @ForEachInstanceType
        void createFromSplitImage(InstanceType type) {
            Instance source = create(type);
            for (ImageCompression c : List.of(ImageCompression.NONE, ImageCompression.XZ, ImageCompression.ZSTD)) {
                ByteArrayOutputStream meta = new ByteArrayOutputStream();
                ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
                source.export(meta, rootfs, c, Map.of("os", "split-" + c.value()), null, null);
                assertCompressedAs(c, meta.toByteArray());
                Instance copy = instances().create(args(type).build(),
                        InstanceSource.image(saveImage(meta.toByteArray()), saveImage(rootfs.toByteArray())));
                assertEquals("split-" + c.value(), copy.localConfig().get("image.os"));
                // Incus's fingerprint of a split image: the SHA-256 of the metadata file, then the rootfs file.
                assertEquals(sha256(meta.toByteArray(), rootfs.toByteArray()),
                        copy.localConfig().get("volatile.base_image"));
                startsAndStops(copy);
            }
        }

        @ForEachInstanceType
        void incompleteImagesLeaveNothingOnDisk(InstanceType type) {
            ByteArrayOutputStream meta = new ByteArrayOutputStream();
            ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
            create(type).export(meta, rootfs, ImageCompression.GZIP, Map.of(), null, null);
            Instances in = instances();
            Set<String> before = tree();
            List<String> listed = in.list().stream().map(Instance::name).toList();
            // A metadata tarball given as a unified image: metadata.yaml but no root filesystem.
            Path metadataOnly = saveImage(meta.toByteArray());
            assertRefusedNaming(InvalidArgumentException.class, "Invalid image \"" + metadataOnly + "\": Missing ",
                    metadataOnly.toString(), () -> in.create(args(type).build(), InstanceSource.image(metadataOnly)));
            // A split image without metadata.yaml: the rootfs tarball given as metadata (containers; a VM's rootfs
            // is a disk, no tarball).
            if (type == InstanceType.CONTAINER) {
                Path rootfsFile = saveImage(rootfs.toByteArray());
                assertRefusedNaming(InvalidArgumentException.class, "Invalid image \"" + rootfsFile
                        + "\": Missing metadata.yaml", rootfsFile.toString(),
                        () -> in.create(args(type).build(), InstanceSource.image(rootfsFile, rootfsFile)));
            }
            // A split image whose root filesystem file is missing or empty.
            Path missing = scratch().resolve(uniqueName("no-rootfs"));
            assertRefused(NotFoundException.class, "Image root filesystem file \"" + missing + "\" not found",
                    () -> in.create(args(type).build(), InstanceSource.image(metadataOnly, missing)));
            Path empty = saveImage(new byte[0]);
            assertRefusedNaming(InvalidArgumentException.class, "Invalid image \"" + empty + "\": ",
                    empty.toString(), () -> in.create(args(type).build(), InstanceSource.image(metadataOnly, empty)));
            assertEquals(before, tree());
            assertEquals(listed, in.list().stream().map(Instance::name).toList());
        }

        /** Runs a host tool (tar, mksquashfs) for a test image, with a timeout. */
        private void tool(String... cmd) {
            try {
                Path log = scratch().resolve(uniqueName("tool") + ".log");
                Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
                if (!p.waitFor(2, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    fail(String.join(" ", cmd) + " timed out");
                }
                assertEquals(0, p.exitValue(), String.join(" ", cmd) + ": " + Files.readString(log));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }

        /** Unpacks {@code tarball} with GNU tar and packs the tree with mksquashfs, as image builders do. */
        private Path squashfsOf(byte[] tarball) {
            Path tar = saveImage(tarball);
            Path dir = scratch().resolve(uniqueName("tree"));
            Path image = scratch().resolve(uniqueName("image") + ".squashfs");
            try {
                Files.createDirectories(dir);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            tool("tar", "--numeric-owner", "-xpf", tar.toString(), "-C", dir.toString());
            tool("mksquashfs", dir.toString(), image.toString(), "-noappend", "-no-progress", "-comp", "xz");
            return image;
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void createFromSquashfsImages(InstanceType type) {
            assumeTrue(Files.isExecutable(Path.of("/usr/bin/mksquashfs")) && Files.isExecutable(Path.of("/usr/bin/tar"))
                    && Files.isExecutable(Path.of("/usr/bin/unsquashfs")),
                    "squashfs-tools (mksquashfs, unsquashfs) and GNU tar are not installed");
            Instance source = create(type);
            // Unified: metadata.yaml, templates/ and rootfs/ in one squashfs image.
            ByteArrayOutputStream unified = new ByteArrayOutputStream();
            source.export(unified, null, ImageCompression.NONE, Map.of("os", "squashed"), null, null);
            Path image = squashfsOf(unified.toByteArray());
            Instance copy = instances().create(args(type).build(), InstanceSource.image(image));
            assertEquals("squashed", copy.localConfig().get("image.os"));
            startsAndStops(copy);
            // Split: a metadata tarball and a squashfs root filesystem, the format of Incus's image servers.
            ByteArrayOutputStream meta = new ByteArrayOutputStream();
            ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
            source.export(meta, rootfs, ImageCompression.XZ, Map.of("os", "split-squashed"), null, null);
            Path rootfsImage = squashfsOf(rootfs.toByteArray());
            Instance split = instances().create(args(type).build(),
                    InstanceSource.image(saveImage(meta.toByteArray()), rootfsImage));
            assertEquals("split-squashed", split.localConfig().get("image.os"));
            startsAndStops(split);
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.FILES)
        void exportedFilesComeBack(InstanceType type) {
            Instance i = filesInstance(type);
            writeFile(i, "/srv/exported.txt", "travelled in an image");
            if (i.isRunning()) {
                i.stop(false);
            }
            byte[] image = export(i, Map.of(), null);
            Instance copy = instances().create(args(type).build(), InstanceSource.image(saveImage(image)));
            if (type == InstanceType.VM) {
                copy.start(false);
            }
            assertEquals("travelled in an image", readFile(copy, "/srv/exported.txt"));
        }

        @ForEachInstanceType
        void exportProgressIsReported(InstanceType type) {
            AtomicInteger calls = new AtomicInteger();
            create(type).export(new ByteArrayOutputStream(), null, Map.of(), null,
                    new io.github.incus4j.api.operation.ProgressTracker(0, (percent, speed, bytes) -> calls.incrementAndGet()));
            assertTrue(calls.get() > 0, "progress reports");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.FILES)
        void createFromRootfsDirectory(InstanceType type) throws IOException {
            Path dir = scratch().resolve("rootfs-src");
            Files.createDirectories(dir.resolve("srv"));
            Files.writeString(dir.resolve("srv/from-dir.txt"), "copied from a directory");
            Instance i = instances().create(args(type).build(), InstanceSource.rootfs(dir));
            assertEquals("copied from a directory", readFile(i, "/srv/from-dir.txt"));
            assertTrue(Files.exists(dir.resolve("srv/from-dir.txt")), "the source directory is left alone");
        }
    }

    // =================================================================================================================
    // Migration
    // =================================================================================================================

    /** Moving an instance from one root to another through {@link DriverUnderTest#migrationPipe()}. */
    @Nested
    @Tag("migration")
    @RequiresCapability(Capability.MIGRATION)
    class Migration {

        /** Sends {@code source} to a new instance of the same name on {@code target}, both ends in parallel. */
        private Instance migrate(Instance source, Instances target, boolean snapshots) {
            Instance receiver = target.create(InstanceArgs.builder(source.name()).type(source.type()).build(),
                    InstanceSource.none());
            MigrationPipe pipe = dut().migrationPipe();
            try {
                List<Throwable> failures = inParallel(2, side -> {
                    if (side == 0) {
                        source.migrateSend(new MigrateSendArgs(withFlags(pipe.sender(), snapshots, false), false));
                    } else {
                        receiver.migrateReceive(new MigrateReceiveArgs(withFlags(pipe.receiver(), snapshots, false),
                                null, false, false));
                    }
                });
                for (int n = 0; n < 2; n++) {
                    if (failures.get(n) != null) {
                        fail((n == 0 ? "migrateSend" : "migrateReceive") + " failed", failures.get(n));
                    }
                }
            } finally {
                try {
                    pipe.closer().close();
                } catch (Exception e) {
                    fail("closing the migration pipe", e);
                }
            }
            return target.load(source.name());
        }

        @ForEachInstanceType
        void instanceMovesWithItsSnapshots(InstanceType type) {
            Instance source = create(args(type).description("travelling").config("user.k", "v").build());
            source.snapshot("s1", null, false);
            source.snapshot("s2", null, false);
            Path targetRoot = root().resolveSibling("target-root");
            Instances target = open(targetRoot);
            Instance moved = migrate(source, target, true);
            assertEquals(type, moved.type());
            assertEquals("travelling", moved.description());
            assertEquals("v", moved.localConfig().get("user.k"));
            assertEquals(List.of(moved.name() + "/s1", moved.name() + "/s2"), snapshotNames(moved));
            assertTrue(instances().find("default", source.name()).isPresent(), "the source stays until deleted");
            target.close();
            assertEquals(List.of(moved.name() + "/s1", moved.name() + "/s2"),
                    snapshotNames(open(targetRoot).load(moved.name())), "the received instance is durable");
        }

        @ForEachInstanceType
        void snapshotsStayBehindWhenNotAsked(InstanceType type) {
            Instance source = create(type);
            source.snapshot("s1", null, false);
            Instance moved = migrate(source, open(root().resolveSibling("target-root")), false);
            assertEquals(List.of(), moved.snapshots());
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.FILES)
        void filesArrive(InstanceType type) {
            Instance source = filesInstance(type);
            writeFile(source, "/srv/moved.txt", "moved with the instance");
            if (source.isRunning()) {
                source.stop(false);
            }
            Instance moved = migrate(source, open(root().resolveSibling("target-root")), true);
            if (type == InstanceType.VM) {
                moved.start(false);
            }
            assertEquals("moved with the instance", readFile(moved, "/srv/moved.txt"));
        }
    }

    // =================================================================================================================
    // Metrics
    // =================================================================================================================

    /** OpenMetrics text of running instances. */
    @Nested
    @Tag("metrics")
    @RequiresCapability(Capability.METRICS)
    class Metrics {

        /** The instance's metrics text, checked by Prometheus's own parser where it is installed. */
        private String text(Instance i) {
            String text = i.metrics(List.of()).toText();
            PrometheusText.checkIfAvailable(text);
            return text;
        }

        @ForEachInstanceType
        void textParsesAndEndsWithEof(InstanceType type) {
            String text = text(createRunning(type));
            assertTrue(text.endsWith("# EOF\n"), text);
            assertFalse(MetricSet.parse(text).types().isEmpty());
        }

        /** A scraper reads every sample as the driver made it: names, labels (escaped on the way) and values. */
        @ForEachInstanceType
        void prometheusReadsEverySampleAsWritten(InstanceType type) {
            MetricSet set = createRunning(type).metrics(List.of());
            String text = set.toText();
            List<PrometheusText.Family> families = PrometheusText.parse(text);
            List<MetricType> types = set.types().stream().filter(t -> !set.samples(t).isEmpty()).toList();
            assertEquals(types.size(), families.size(), text);
            for (int k = 0; k < types.size(); k++) {
                MetricType t = types.get(k);
                PrometheusText.Family family = families.get(k);
                assertEquals(t.help(), family.help(), t.metricName());
                assertEquals(t.promType(), family.type(), t.metricName());
                List<Sample> ours = set.samples(t);
                assertEquals(ours.size(), family.samples().size(), t.metricName());
                // The client reports a counter's samples under OpenMetrics names: with _total (boot_time_seconds).
                String name = t.promType().equals("counter") && !t.metricName().endsWith("_total")
                        ? t.metricName() + "_total" : t.metricName();
                for (int j = 0; j < ours.size(); j++) {
                    PrometheusText.ParsedSample read = family.samples().get(j);
                    assertEquals(name, read.name());
                    assertEquals(ours.get(j).labels(), read.labels(), t.metricName());
                    assertEquals(ours.get(j).value(), read.value(), t.metricName() + " " + read.labels());
                }
            }
        }

        @ForEachInstanceType
        void hasIncusMetricNames(InstanceType type) {
            MetricSet set = MetricSet.parse(text(createRunning(type)));
            for (MetricType t : List.of(MetricType.CPU_SECONDS_TOTAL, MetricType.MEMORY_MEM_TOTAL_BYTES,
                    MetricType.NETWORK_RECEIVE_BYTES_TOTAL, MetricType.PROCS_TOTAL)) {
                // A VM's interfaces come from its guest agent (see stateOfRunningInstanceIsLive): a VM without NICs
                // that has not booted yet has none to count.
                if (t == MetricType.NETWORK_RECEIVE_BYTES_TOTAL && type == InstanceType.VM) {
                    continue;
                }
                assertFalse(set.samples(t).isEmpty(), "no " + t.metricName());
            }
        }

        @ForEachInstanceType
        void everySampleIsLabelledWithTheInstance(InstanceType type) {
            Instance i = createRunning(type);
            MetricSet set = MetricSet.parse(text(i));
            for (MetricType t : set.types()) {
                for (Sample s : set.samples(t)) {
                    assertEquals("default", s.labels().get("project"), t.metricName());
                    assertEquals(i.name(), s.labels().get("name"), t.metricName());
                    assertEquals(type.apiName(), s.labels().get("type"), t.metricName());
                }
            }
        }

        @ForEachInstanceType
        void helpAndTypeLines(InstanceType type) {
            String text = text(createRunning(type));
            assertTrue(text.contains("# TYPE incus_cpu_seconds_total counter\n"), text);
            assertTrue(text.contains("# TYPE incus_procs_total gauge\n"), text);
            assertTrue(text.contains("# HELP incus_cpu_seconds_total "), text);
        }

        private double cpuSeconds(Instance i) {
            return MetricSet.parse(text(i)).samples(MetricType.CPU_SECONDS_TOTAL).stream()
                    .mapToDouble(Sample::value).sum();
        }

        // Polled until steady: not run through the external parser each time (the text is of the same shape).
        private int procs(Instance i) {
            return (int) MetricSet.parse(i.metrics(List.of()).toText()).samples(MetricType.PROCS_TOTAL).get(0).value();
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void memTotalIsWhatTheGuestHas(InstanceType type) {
            Instance i = createRunning(type);
            double metric = MetricSet.parse(text(i))
                    .samples(MetricType.MEMORY_MEM_TOTAL_BYTES).get(0).value();
            assertTrue(metric > 0, "MemTotal " + metric);
            if (type == InstanceType.VM) {
                // The guest's kernel keeps some memory for itself: its MemTotal is at most what the VM has.
                ExecResult r = run(i, "cat", "/proc/meminfo");
                long guestKb = Long.parseLong(r.stdout().lines().filter(l -> l.startsWith("MemTotal:")).findFirst()
                        .orElseThrow().replaceAll("[^0-9]", ""));
                assertTrue(guestKb * 1024 <= metric && metric < guestKb * 1024 * 2,
                        "metric " + metric + " vs the guest's MemTotal " + guestKb + " kB");
            }
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void cpuSecondsGrowWithWorkDone(InstanceType type) {
            Instance i = createRunning(type);
            double before = cpuSeconds(i);
            burnCpu(i);
            double after = cpuSeconds(i);
            assertTrue(after - before >= MIN_BURN_NANOS / 1e9, "cpu seconds " + before + ", then " + after
                    + " after copying " + BURN_MIB + " MiB with dd");
        }

        @ForInstanceType(InstanceType.CONTAINER)
        @RequiresCapability(Capability.EXEC)
        void procsFollowRunningCommands(InstanceType type) throws InterruptedException {
            Instance i = createRunning(type);
            int before = steady(() -> procs(i));
            assertTrue(before >= 1, "init at least: " + before);
            List<Cmd> sleepers = startSleepers(i, 3);
            try {
                awaitValue(() -> procs(i), n -> n >= before + 3, "procs with 3 more sleep commands than " + before);
            } finally {
                sleepers.forEach(Cmd::close);
            }
        }

        @ForEachInstanceType
        void metricsOfStoppedInstanceAreRefused(InstanceType type) {
            Instance i = create(type);
            assertRefused(InstanceStateException.class, "The instance is already stopped", () -> i.metrics(List.of()));
        }
    }

    // =================================================================================================================
    // Concurrency
    // =================================================================================================================

    /** Operation locks: concurrent actions serialise or fail as Incus's do, never corrupting an instance. */
    @Nested
    @Tag("concurrency")
    class Concurrency {

        @ForEachInstanceType
        void concurrentStartsOfOneInstance(InstanceType type) {
            Instance i = create(type);
            int[] pids = new int[8];
            List<Throwable> outcomes = inParallel(8, n -> {
                i.start(false);
                pids[n] = i.initPid();
            });
            long succeeded = outcomes.stream().filter(t -> t == null).count();
            assertTrue(succeeded >= 1, "one start must win: " + outcomes);
            // Incus lets a start that waited on another share its success; it must not start the instance again.
            int pid = i.initPid();
            assertTrue(pid > 0, "a running instance has an init process: " + pid);
            for (int n = 0; n < pids.length; n++) {
                if (outcomes.get(n) == null) {
                    assertEquals(pid, pids[n], "every successful start saw the one boot: " + Arrays.toString(pids));
                }
            }
            // operationlock.go: a start that did not wait finds the other's lock; driver_common.go: one that
            // waited and found the instance running.
            for (Throwable t : outcomes) {
                if (t != null) {
                    assertRefusedAs(t,
                            new Refusal(BusyException.class, "Instance is busy running a \"start\" operation"),
                            new Refusal(InstanceStateException.class, "The instance is already running"));
                }
            }
            assertEquals(StatusCode.RUNNING, i.statusCode());
            i.stop(false);
            assertEquals(StatusCode.STOPPED, i.statusCode(), "the instance still stops cleanly");
            i.start(false);
            assertTrue(i.isRunning());
        }

        /**
         * A start that comes while another start runs: it waits for that start and shares its outcome, or is refused
         * as Incus refuses it, but it never boots the instance a second time, and it never returns before the
         * instance runs. The driver's start is slowed down (where it can be) so that the two overlap for certain.
         */
        @ForEachInstanceType
        void aStartDuringAStartWaitsAndBootsOnce(InstanceType type) {
            Instance i = create(type);
            dut().slowDown(instances(), "start", Duration.ofMillis(1500));
            try {
                int[] pids = new int[2];
                boolean[] runningOnReturn = new boolean[2];
                List<Throwable> outcomes = inParallel(2, n -> {
                    if (n == 1) {
                        try {
                            Thread.sleep(400); // the first start is under way
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        }
                    }
                    i.start(false);
                    runningOnReturn[n] = i.isRunning();
                    pids[n] = i.initPid();
                });
                // Whichever start won (the second may, on a loaded host), the other waited and shared or was refused.
                assertTrue(outcomes.contains(null), "one start must win: " + outcomes);
                int pid = i.initPid();
                for (int n = 0; n < 2; n++) {
                    if (outcomes.get(n) == null) {
                        assertTrue(runningOnReturn[n], "a start returned before the instance ran");
                        assertEquals(pid, pids[n], "a start booted the instance again: " + Arrays.toString(pids));
                    } else {
                        // operationlock.go: the lock was not waitable; driver_common.go: the other had finished.
                        assertRefusedAs(outcomes.get(n),
                                new Refusal(BusyException.class, "Instance is busy running a \"start\" operation"),
                                new Refusal(InstanceStateException.class, "The instance is already running"));
                    }
                }
            } finally {
                dut().slowDown(instances(), "start", Duration.ZERO);
            }
        }

        /**
         * A snapshot that comes while another snapshot of the same name is being taken: the snapshot queue makes it
         * wait and find the name taken, so one snapshot of that name exists, in memory and on disk. Snapshots are
         * slowed down (where the driver can be) so that the two overlap for certain.
         */
        @ForEachInstanceType
        void aSnapshotDuringASnapshotOfTheSameNameIsRefused(InstanceType type) {
            Instance i = create(type);
            dut().slowDown(instances(), "snapshot", Duration.ofMillis(1500));
            try {
                List<Throwable> outcomes = inParallel(2, n -> {
                    if (n == 1) {
                        try {
                            Thread.sleep(400); // the first snapshot is under way
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        }
                    }
                    i.snapshot("same", null, false);
                });
                assertEquals(1, outcomes.stream().filter(Objects::isNull).count(),
                        "exactly one snapshot named \"same\" is taken: " + outcomes);
                Throwable refused = outcomes.get(0) != null ? outcomes.get(0) : outcomes.get(1);
                assertRefusedAs(refused,
                        new Refusal(BusyException.class, "Snapshot \"" + i.name() + "/same\" already exists"),
                        new Refusal(BusyException.class, "Instance is busy running a \"create\" operation"));
            } finally {
                dut().slowDown(instances(), "snapshot", Duration.ZERO);
            }
            assertEquals(List.of(i.name() + "/same"), snapshotNames(i));
            assertEquals(List.of(i.name() + "/same"), snapshotNames(reopen().load(i.name())), "one snapshot on disk");
        }

        @ForEachInstanceType
        void concurrentCreatesWithUniqueNames(InstanceType type) {
            List<String> names = new ArrayList<>();
            for (int n = 0; n < 12; n++) {
                names.add(uniqueName("par"));
            }
            List<Throwable> outcomes = inParallel(names.size(), n -> create(args(type).name(names.get(n)).build()));
            assertEquals(Arrays.asList(new Throwable[names.size()]), outcomes, "every create succeeds");
            for (String n : names) {
                assertEquals(n, instances().load(n).name());
            }
            Instances again = reopen();
            for (String n : names) {
                assertTrue(again.find("default", n).isPresent(), n + " after reopen");
            }
        }

        @ForEachInstanceType
        void concurrentCreatesOfOneName(InstanceType type) {
            String name = uniqueName("same");
            List<Throwable> outcomes = inParallel(8, n -> create(args(type).name(name).build()));
            assertEquals(1, outcomes.stream().filter(t -> t == null).count(), "exactly one create: " + outcomes);
            // instance_utils.go CreateInternal: "%s %q already exists"; operationlock.go while the winner creates.
            for (Throwable t : outcomes) {
                if (t != null) {
                    assertRefusedAs(t, new Refusal(BusyException.class, "Instance \"" + name + "\" already exists"),
                            new Refusal(BusyException.class, "Instance is busy running a \"create\" operation"));
                }
            }
            assertEquals(1, instances().list().stream().filter(x -> x.name().equals(name)).count());
        }

        @ForEachInstanceType
        void lockExclusiveBlocksStartUntilReleased(InstanceType type) {
            Instance i = create(type);
            try (InstanceOperation lock = i.lockExclusive()) {
                assertEquals("create", lock.action());
                assertRefused(BusyException.class, "Instance is busy running a \"create\" operation",
                        () -> i.start(false));
                assertRefused(BusyException.class, "Instance is busy running a \"create\" operation",
                        () -> i.delete(true));
            }
            i.start(false);
            assertTrue(i.isRunning());
        }

        @ForEachInstanceType
        void lockExclusiveOfRunningInstanceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InstanceStateException.class, "Instance is running", i::lockExclusive);
        }

        @ForEachInstanceType
        void concurrentSnapshotsAreAllKept(InstanceType type) {
            Instance i = create(type);
            // Six rounds on eight threads: one round rarely overlaps enough to lose an unsynchronised snapshot.
            List<Throwable> outcomes = inParallel(8, n -> {
                for (int k = 0; k < 6; k++) {
                    i.snapshot("s" + n + "-" + k, null, false);
                }
            });
            assertEquals(Arrays.asList(new Throwable[8]), outcomes);
            Set<String> expected = new java.util.TreeSet<>();
            for (int n = 0; n < 8; n++) {
                for (int k = 0; k < 6; k++) {
                    expected.add(i.name() + "/s" + n + "-" + k);
                }
            }
            assertEquals(expected, new java.util.TreeSet<>(snapshotNames(i)));
            assertEquals(expected, new java.util.TreeSet<>(snapshotNames(reopen().load(i.name()))),
                    "every snapshot recorded");
        }

        @ForEachInstanceType
        void concurrentVolatileSetsAreAllKept(InstanceType type) {
            Instance i = create(type);
            List<Throwable> outcomes = inParallel(8, n -> i.volatileSet(Map.of("volatile.par." + n, "v" + n)));
            assertEquals(Arrays.asList(new Throwable[8]), outcomes);
            Instance again = reopen().load(i.name());
            for (int n = 0; n < 8; n++) {
                assertEquals("v" + n, again.localConfig().get("volatile.par." + n));
            }
        }

        private static final Refusal[] RACE_REFUSALS = {
            new Refusal(BusyException.class, "Instance is busy running a \"start\" operation"),
            new Refusal(BusyException.class, "Instance is busy running a \"stop\" operation"),
            new Refusal(InstanceStateException.class, "The instance is already running"),
            new Refusal(InstanceStateException.class, "The instance is already stopped")
        };

        @ForEachInstanceType
        void startStopRaceLeavesAConsistentState(InstanceType type) {
            Instance i = create(type);
            List<Throwable> outcomes = inParallel(4, n -> {
                for (int k = 0; k < 5; k++) {
                    try {
                        if ((n + k) % 2 == 0) {
                            i.start(false);
                        } else {
                            i.stop(false);
                        }
                    } catch (BusyException | InstanceStateException e) {
                        // The refusals Incus gives to a lost race (operationlock.go, driver_common.go).
                        assertRefusedAs(e, RACE_REFUSALS);
                    }
                }
            });
            assertEquals(Arrays.asList(new Throwable[4]), outcomes, "only Incus's refusals are expected");
            StatusCode s = i.statusCode();
            assertTrue(s == StatusCode.RUNNING || s == StatusCode.STOPPED, "state after the race: " + s);
            assertEquals(s.upperText(), i.state());
            if (s == StatusCode.RUNNING) {
                i.stop(false);
            }
            i.start(false);
            assertTrue(i.isRunning(), "still usable after the race");
        }

        @ForEachInstanceType
        @Tag("soak") // minutes per run: mutation testing leaves it out (excludedGroups)
        void mixedActionsOnSharedInstancesLoseNothing(InstanceType type) {
            DriverUnderTest.SoakLoad load = dut().soakLoad();
            ConcurrencySoak soak = new ConcurrencySoak(InstanceDriverContract.this, type, load, 42);
            ConcurrencySoak.Outcome outcome = soak.run(System.nanoTime() + Duration.ofMinutes(5).toNanos());
            String summary = outcome.operations() + " operations, " + outcome.succeeded() + " succeeded, refused "
                    + outcome.refusals();
            if (!outcome.unexpected().isEmpty()) {
                AssertionError e = new AssertionError(outcome.unexpected().size() + " unexpected failures in "
                        + summary + "; first: " + outcome.unexpected().get(0), outcome.unexpected().get(0));
                outcome.unexpected().stream().skip(1).limit(5).forEach(e::addSuppressed);
                throw e;
            }
            assertEquals((long) load.threads() * load.operationsPerThread(), outcome.operations(), "every operation ran: " + summary);
            assertTrue(outcome.succeeded() > outcome.operations() / 4, "most operations must do something: "
                    + summary);
            List<ConcurrencySoak.Recorded> memory = soak.inMemory();
            assertEquals(soak.recordsOfListed(), soak.recordsOnDisk(), "one record per listed instance, no ghost");
            assertEquals(memory, soak.afterReopen(), "memory equals disk after a reopen");
            assertEquals(soak.recordsOfListed(), soak.recordsOnDisk(), "the same records after the reopen");
        }

        @ForEachInstanceType
        @RequiresCapability(Capability.EXEC)
        void concurrentExecsKeepTheirOwnOutput(InstanceType type) {
            Instance i = createRunning(type);
            String[] outputs = new String[8];
            List<Throwable> outcomes = inParallel(8, n -> outputs[n] = run(i, "echo", "out-" + n).stdout());
            assertEquals(Arrays.asList(new Throwable[8]), outcomes);
            for (int n = 0; n < 8; n++) {
                assertEquals("out-" + n + "\n", outputs[n]);
            }
        }
    }

    // =================================================================================================================
    // Bad input
    // =================================================================================================================

    /**
     * Devices: validation texts, expansion and {@code none}, volatile keys, hot plug, NIC state, proxies, shared
     * folders. The tests live in {@link DevicesGroup}.
     */
    @Nested
    @Tag("devices")
    class DeviceGroup extends DevicesGroup {
        DeviceGroup() {
            super(InstanceDriverContract.this);
        }
    }

    /** Refusals with Incus's texts, leaving nothing behind. */
    @Nested
    @Tag("bad-input")
    class BadInput {

        @ParameterizedTest(name = "\"{0}\"")
        @CsvSource(delimiter = '|', value = {
            "''|Invalid instance name: Name must be 1-63 characters long",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa|"
                + "Invalid instance name: Name must be 1-63 characters long",
            "-abc|Invalid instance name: Name must not start with \"-\" character",
            "abc-|Invalid instance name: Name must not end with \"-\" character",
            "1234|Invalid instance name: Name cannot be a number",
            "a_b|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
            "a b|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
            "a.b|Invalid instance name: Name can only contain alphanumeric and hyphen characters",
            "a/b|The character \"/\" is reserved for snapshots"
        })
        void badInstanceNamesLeaveNothingOnDisk(String name, String message) {
            Instances in = instances();
            for (InstanceType type : dut().instanceTypes()) {
                Set<String> before = tree();
                assertRefused(InvalidArgumentException.class, message,
                        () -> in.create(InstanceArgs.builder(name).type(type).build(), dut().source(type)));
                assertEquals(before, tree(), type + ": a refused create wrote files");
                assertEquals(List.of(), in.list());
            }
        }

        @ForEachInstanceType
        void unknownKeyLeavesNothingOnDisk(InstanceType type) {
            Instances in = instances();
            Set<String> before = tree();
            // internal/instance/config.go ConfigKeyChecker (Incus 6.0.4: "Failed creating instance record: " + this).
            assertRefused(InvalidArgumentException.class, "Unknown configuration key: foo.bar",
                    () -> create(args(type).config("foo.bar", "1").build()));
            assertEquals(before, tree());
            assertEquals(List.of(), in.list());
        }

        @ForEachInstanceType
        void badValueLeavesNothingOnDisk(InstanceType type) {
            Instances in = instances();
            Set<String> before = tree();
            // Incus 6.0.4: "Invalid value: lots" (shared/units ParseByteSizeString via limits.memory in
            // internal/instance/config.go); incus4j names the key.
            assertRefused(InvalidArgumentException.class, "Invalid value for config key \"limits.memory\": "
                    + "Invalid value: lots", () -> create(args(type).config("limits.memory", "lots").build()));
            assertEquals(before, tree());
            assertEquals(List.of(), in.list());
        }

        @ForEachInstanceType
        void badDeviceNameLeavesNothingOnDisk(InstanceType type) {
            Instances in = instances();
            Set<String> before = tree();
            // Safer than Incus 6.0.4, which accepts "bad/name" ("incus config device add c1 bad/name disk ...");
            // the prefix is Incus's (driver_lxc.go / driver_qemu.go "Invalid devices: %w").
            assertRefused(InvalidArgumentException.class, "Invalid devices: Device validation failed for "
                    + "\"bad/name\": Name cannot contain \"/\" (device names are used as file names)",
                    () -> create(args(type).device("bad/name", Device.of("type", "disk", "path", "/x")).build()));
            assertEquals(before, tree());
            assertEquals(List.of(), in.list());
        }

        @ForEachInstanceType
        void duplicateCreateIsBusy(InstanceType type) {
            Instance first = create(args(type).config("user.first", "yes").build());
            Set<String> before = tree();
            assertRefused(BusyException.class, "Instance \"" + first.name() + "\" already exists",
                    () -> create(args(type).name(first.name()).build()));
            assertEquals(before, tree(), "the refused create touched the files");
            assertEquals("yes", instances().load(first.name()).localConfig().get("user.first"));
        }

        @Test
        void instanceTypeAnyIsRefused() {
            Instances in = instances();
            Set<String> before = tree();
            // internal/server/instance/instancetype/instance_type.go New.
            assertRefused(InvalidArgumentException.class, "Invalid instance type", () -> in.create(
                    InstanceArgs.builder(uniqueName("any")).type(InstanceType.ANY).build(), InstanceSource.none()));
            assertEquals(before, tree());
        }

        @ForEachInstanceType
        void snapshotArgumentsAreRefused(InstanceType type) {
            Instances in = instances();
            Set<String> before = tree();
            // Incus creates snapshots through the same internal call: no API text exists, this one is incus4j's.
            assertRefused(InvalidArgumentException.class,
                    "Snapshots are created with Instance.snapshot, not Instances.create",
                    () -> create(args(type).snapshot(true).build()));
            assertEquals(before, tree());
        }

        @ForEachInstanceType
        void unknownTemplateLeavesNothingOnDisk(InstanceType type) {
            Instances in = instances();
            Set<String> before = tree();
            // Incus has images, not templates; an unknown one is a 404 there ("Image alias not found",
            // internal/server/db/images.go): the driver's text names the template and what it provides.
            assertRefusedNaming(NotFoundException.class, "Unknown template \"no-such-template\"", "no-such-template",
                    () -> in.create(args(type).build(), InstanceSource.template("no-such-template", Map.of())));
            assertEquals(before, tree());
            assertEquals(List.of(), in.list());
        }

        @ForEachInstanceType
        void missingImageLeavesNothingOnDisk(InstanceType type) {
            Instances in = instances();
            Set<String> before = tree();
            Path missing = scratch().resolve("missing.tar.gz");
            // A 404 as for Incus's "Image not found" (internal/server/db/images.go), naming the host file.
            assertRefused(NotFoundException.class, "Image tarball \"" + missing + "\" not found",
                    () -> in.create(args(type).build(), InstanceSource.image(missing)));
            assertEquals(before, tree());
            assertEquals(List.of(), in.list());
        }

        @ForEachInstanceType
        void garbageImageLeavesNothingOnDisk(InstanceType type) throws IOException {
            Path garbage = scratch().resolve("garbage.tar");
            byte[] junk = new byte[4096];
            new Random(1).nextBytes(junk);
            Files.write(garbage, junk);
            Instances in = instances();
            Set<String> before = tree();
            // The reason after the path is the parser's (tar, metadata.yaml): the refusal names the host file.
            assertRefusedNaming(InvalidArgumentException.class, "Invalid image \"" + garbage + "\": ",
                    garbage.toString(), () -> in.create(args(type).build(), InstanceSource.image(garbage)));
            assertEquals(before, tree());
            assertEquals(List.of(), in.list());
        }

        @ForEachInstanceType
        void missingRootfsDirectoryLeavesNothingOnDisk(InstanceType type) {
            Instances in = instances();
            Set<String> before = tree();
            Path missing = scratch().resolve("no-such-dir");
            // Incus has no such source (incus-migrate's): a 404 naming the host path; VM drivers may take a disk
            // image file there and say so.
            assertRefused(NotFoundException.class, Pattern.compile("(Root filesystem directory|Disk image) "
                    + Pattern.quote("\"" + missing + "\"") + " not found(: .+)?"),
                    () -> in.create(args(type).build(), InstanceSource.rootfs(missing)));
            assertEquals(before, tree());
            assertEquals(List.of(), in.list());
        }

        @Test
        void missingInstancesAreNotFound() {
            Instances in = instances();
            assertTrue(in.find("default", "missing").isEmpty());
            assertTrue(in.find("default", "missing/snap").isEmpty());
            assertTrue(in.find("other", "missing").isEmpty());
            assertRefused(NotFoundException.class, "Instance not found", () -> in.load("missing"));
        }

        @ForEachInstanceType
        void renameToBadNamesIsRefused(InstanceType type) {
            Instance i = create(type);
            String name = i.name();
            assertRefused(InvalidArgumentException.class, "Invalid instance name: Name cannot be a number",
                    () -> i.rename("42", false));
            assertRefused(InvalidArgumentException.class, "The character \"/\" is reserved for snapshots",
                    () -> i.rename("a/b", false));
            assertEquals(name, i.name());
            assertTrue(instances().find("default", name).isPresent());
        }

        @ForEachInstanceType
        void liveMigrationNeedsMigrationStateful(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InvalidArgumentException.class, "Live migration requires migration.stateful to be set to true",
                    () -> i.migrateSend(new MigrateSendArgs(unusableMigrateArgs(true), false)));
            assertTrue(i.isRunning());
        }

        @ForEachInstanceType
        void receivingIntoARunningInstanceIsRefused(InstanceType type) {
            Instance i = createRunning(type);
            assertRefused(InstanceStateException.class, "Instance is running",
                    () -> i.migrateReceive(new MigrateReceiveArgs(unusableMigrateArgs(false), null, false, false)));
        }

        @ForEachInstanceType
        void snapshotsRefuseInstanceActions(InstanceType type) {
            String name = uniqueName("ct");
            Instance i = create(args(type).name(name).build());
            i.snapshot("s1", null, false);
            Instance s = i.snapshots().get(0);
            // Incus has no routes for these (its CLI says "Invalid instance name"): incus4j's texts name the
            // snapshot.
            String snap = "\"" + name + "/s1\"";
            assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for start: " + snap,
                    () -> s.start(false));
            assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for console: " + snap,
                    () -> s.console("console"));
            assertRefused(InvalidArgumentException.class, "Snapshots cannot be modified",
                    () -> s.volatileSet(Map.of("volatile.x", "1")));
            assertRefused(InvalidArgumentException.class, "Snapshots cannot be used for update: " + snap,
                    () -> s.update(argsOf(i).build(), true));
            assertEquals(StatusCode.STOPPED, i.statusCode());
        }

        @ForEachInstanceType
        void badProjectNameIsRefused(InstanceType type) {
            Instances in = instances();
            Set<String> before = tree();
            assertRefused(InvalidArgumentException.class, "Project names may not contain underscores",
                    () -> create(args(type).project("bad_project").build()));
            assertEquals(before, tree());
        }

        @ForEachInstanceType
        void reloadOfUnknownDeviceIsNotFound(InstanceType type) {
            Instance i = create(type);
            assertRefused(NotFoundException.class, "Device \"nope\" not found", () -> i.reloadDevice("nope"));
        }

        @ForInstanceType(InstanceType.CONTAINER)
        void containersRefuseUnknownHooks(InstanceType type) {
            Instance i = create(type);
            assertRefused(InvalidArgumentException.class, "Invalid stop target \"halt\"",
                    () -> i.onHook("onstop", Map.of("target", "halt")));
        }
    }
}
