package io.github.incus4j.testkit.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.internal.config.NameRules;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

@IncusTest
class IncusExtensionTest {
    private static final Path TMP = Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath().normalize();

    @Test
    void givesTheFakeDriverOnATemporaryRoot(Instances incus) {
        assertEquals("fake", incus.info().name());
        assertTrue(incus.root().startsWith(TMP), incus.root().toString());
        assertTrue(incus.root().getFileName().toString().startsWith("incus4j-junit-"), incus.root().toString());
    }

    /** The Testcontainers getMappedPort use case: a server in the instance reached through a free host port. */
    @Test
    void forwardsPortsToAFreeHostPort(@IncusInstance(forwardPorts = {80, 8080}) Container web,
            @IncusInstance(type = InstanceType.VM, forwardPorts = 80) VM vm) throws Exception {
        for (Instance i : List.of(web, vm)) {
            int port = ForwardedPorts.mappedPort(i, 80);
            assertNotEquals(80, port);
            assertEquals("tcp:127.0.0.1:80", i.localDevices().get("port-80").get("connect"));
            ((io.github.incus4j.testkit.fake.FakeInstance) i).listen(80,
                    io.github.incus4j.testkit.fake.FakeService.http("page of " + i.name()));
            try (java.net.Socket s = new java.net.Socket()) {
                s.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5000);
                s.setSoTimeout(5000);
                s.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(answer.startsWith("HTTP/1.0 200 OK") && answer.endsWith("page of " + i.name()), answer);
            }
        }
        assertEquals("true", vm.localDevices().get("port-80").get("nat"), "Incus allows only NAT proxies on VMs");
        assertNotEquals(ForwardedPorts.mappedPort(web, 80), ForwardedPorts.mappedPort(web, 8080));
        assertEquals("Port 81 of instance \"" + web.name() + "\" is not forwarded",
                org.junit.jupiter.api.Assertions.assertThrows(io.github.incus4j.api.NotFoundException.class,
                        () -> ForwardedPorts.mappedPort(web, 81)).getMessage());
    }

    @Test
    void sharesOneDriverPerClass(Instances first, Instances second) {
        assertSame(first, second);
    }

    @Test
    void createsParameterInstancesAsDeclared(@IncusInstance(start = false) Instance stopped,
            @IncusInstance(type = InstanceType.VM) VM vm,
            @IncusInstance(config = {"limits.cpu=1", "user.note=a=b", "user.empty="}) Container container,
            @IncusInstance(ephemeral = true, prefix = "Custom Prefix", source = "") Instance ephemeral) {
        assertEquals(StatusCode.STOPPED, stopped.statusCode());
        assertEquals(InstanceType.CONTAINER, stopped.type());
        assertEquals(StatusCode.RUNNING, vm.statusCode());
        assertEquals(InstanceType.VM, vm.type());
        assertEquals(InstanceType.CONTAINER, container.type());
        assertEquals("1", container.localConfig().get("limits.cpu"));
        assertEquals("a=b", container.localConfig().get("user.note"));
        assertEquals("", container.localConfig().get("user.empty"));
        assertTrue(ephemeral.isEphemeral());
        assertTrue(ephemeral.name().startsWith("custom-prefix-"), ephemeral.name());
        assertTrue(stopped.name().startsWith("creates-parameter-instances-as-declared-stopped-"), stopped.name());
        assertTrue(stopped.description().contains("createsParameterInstancesAsDeclared"), stopped.description());
        assertEquals(4, List.of(stopped.name(), vm.name(), container.name(), ephemeral.name()).stream()
                .distinct().count());
    }

    @Test
    void generatedNamesAreValidIncusNames() {
        List<String> prefixes = List.of("eachTestHasItsOwnInstance-web", "x".repeat(200), "", "-", "123-456",
                "Ünïcode näme", "UPPER_CASE__and  spaces", "a-".repeat(40));
        for (String prefix : prefixes) {
            for (long serial : new long[] {1, 42, Long.MAX_VALUE}) {
                String name = IncusExtension.uniqueName(prefix, serial);
                NameRules.validateInstanceName(name, false);
                assertTrue(name.endsWith("-" + serial), name);
                assertTrue(name.length() <= NameRules.MAX_LENGTH, name);
                assertTrue(name.matches("[a-z][a-z0-9-]*"), name);
            }
        }
        assertEquals("each-test-has-its-own-instance-web-7",
                IncusExtension.uniqueName("eachTestHasItsOwnInstance-web", 7));
        assertEquals("i-123-456-1", IncusExtension.uniqueName("123-456", 1));
        assertEquals("fails-with-a-frozen-vm-2", IncusExtension.uniqueName("failsWithAFrozenVM", 2));
        assertNotEquals(IncusExtension.uniqueName("same", 1), IncusExtension.uniqueName("same", 2));
    }

    @Test
    void skipsNamesTheTestTookItself() {
        Recorder.reset();
        Outcome outcome = run(SquattingScenario.class);

        assertEquals(List.of(), outcome.failedTests());
        assertEquals(List.of("test-field-1", "test-field-2", "test-field-3"), Recorder.NAMES);
    }

    // ---- class-level instances --------------------------------------------------------------------------------

    @Nested
    @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
    class ClassLevelInstances {
        @IncusInstance
        static Instance shared;

        @IncusInstance
        Instance perTest;

        @Test
        @Order(1)
        void writesToTheSharedInstance() {
            try (SftpClient sftp = shared.fileSftp()) {
                sftp.write("/root/marker", perTest.name().getBytes(StandardCharsets.UTF_8));
            }
        }

        @Test
        @Order(2)
        void seesTheSameInstanceInTheNextTest() {
            assertTrue(shared.name().startsWith("class-level-instances-shared-"), shared.name());
            assertEquals(StatusCode.RUNNING, shared.statusCode());
            try (SftpClient sftp = shared.fileSftp()) {
                String previous = new String(sftp.readAllBytes("/root/marker"), StandardCharsets.UTF_8);
                assertNotEquals(perTest.name(), previous, "per-test instances are fresh for each test");
            }
        }
    }

    // ---- scenarios run through the JUnit Platform launcher ----------------------------------------------------

    @Test
    void cleansUpAfterFailingTestsAndRemovesTheRoot() {
        Recorder.reset();
        Outcome outcome = run(FailingScenario.class);

        assertEquals(List.of("failsWithAFrozenInstance", "failsWithRunningInstances"), outcome.failedTests());
        assertEquals(List.of(), outcome.failedContainers());
        assertEquals(4, Recorder.NAMES.size(), Recorder.NAMES.toString());
        // After the failing tests, before the class ended, only the class-level instance was left.
        assertEquals(List.of(Recorder.NAMES.get(0)), Recorder.LEFT_AT_AFTER_ALL);
        assertFalse(Files.exists(Recorder.root), Recorder.root + " still exists");
    }

    @Test
    void removesWhatTheTestMadeItselfWithTheRoot() {
        Recorder.reset();
        Outcome outcome = run(LeakingScenario.class);

        assertEquals(List.of(), outcome.failedTests());
        assertEquals(List.of(), outcome.failedContainers());
        assertNotNull(Recorder.root);
        assertFalse(Files.exists(Recorder.root), Recorder.root + " still exists");
    }

    @Test
    void reportsBadDeclarationsByName() {
        Recorder.reset();
        Outcome outcome = run(BadDeclarationScenario.class);

        assertEquals(List.of("badConfig", "badParameterType"), outcome.failedTests());
        String badConfig = outcome.failures().get("badConfig");
        assertTrue(badConfig.contains("\"limits.cpu\"") && badConfig.contains("not key=value"), badConfig);
        String badType = outcome.failures().get("badParameterType");
        assertTrue(badType.contains("must be of type Instance, Container or VM") && badType.contains("String"),
                badType);
        assertFalse(Files.exists(Recorder.root), Recorder.root + " still exists");

        String finalField = run(FinalFieldScenario.class).failures().get("test");
        assertNotNull(finalField);
        assertTrue(finalField.contains("finalField must not be final"), finalField);
    }

    @Test
    void skipsOrFailsWithoutTheDriver() {
        Outcome skipped = run(SkippedWithoutDriverScenario.class);
        assertEquals(1, skipped.skipped().size(), skipped.skipped().toString());
        String reason = skipped.skipped().values().iterator().next();
        assertTrue(reason.contains("No instance driver named \"no-such-driver\""), reason);
        assertEquals(Map.of(), skipped.failures());

        Outcome failed = run(FailingWithoutDriverScenario.class);
        String failure = failed.failures().get("test");
        assertNotNull(failure, failed.failures().toString());
        assertTrue(failure.contains("No instance driver named \"no-such-driver\""), failure);
    }

    @Test
    void theDriverPropertyChoosesTheDriver() {
        Outcome outcome = run(DriverFromPropertyScenario.class, Map.of("incus4j.driver", "no-such-driver"));
        String failure = outcome.failures().get("test");
        assertNotNull(failure, outcome.failures().toString());
        assertTrue(failure.contains("no-such-driver"), failure);
        assertTrue(run(DriverFromPropertyScenario.class, Map.of()).failures().isEmpty());
    }

    /**
     * Marks a class run only through {@link #run}: a build tool selecting test classes by name must not run the
     * scenarios (they fail on purpose).
     */
    @Retention(RetentionPolicy.RUNTIME)
    @Target(ElementType.TYPE)
    @ExtendWith(Scenario.OnlyThroughTheLauncher.class)
    @interface Scenario {
        String PARAMETER = "incus4j.test.scenario";

        /** Enables a scenario only when {@link #run} sets {@link #PARAMETER}. */
        final class OnlyThroughTheLauncher implements ExecutionCondition {
            @Override
            public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
                return context.getConfigurationParameter(PARAMETER).isPresent()
                        ? ConditionEvaluationResult.enabled("run as a scenario")
                        : ConditionEvaluationResult.disabled("a scenario, run by IncusExtensionTest");
            }
        }
    }

    /** What the scenarios saw, read by the assertions once the launcher returns. */
    static final class Recorder {
        static final List<String> NAMES = Collections.synchronizedList(new ArrayList<>());
        static final List<String> LEFT_AT_AFTER_ALL = Collections.synchronizedList(new ArrayList<>());
        static volatile Path root;

        static void reset() {
            NAMES.clear();
            LEFT_AT_AFTER_ALL.clear();
            root = null;
        }
    }

    @Scenario
    @IncusTest
    @TestMethodOrder(MethodOrderer.MethodName.class)
    static class FailingScenario {
        @IncusInstance
        static Instance classLevel;

        @IncusInstance
        Instance field;

        @BeforeEach
        void record(Instances incus) {
            Recorder.root = incus.root();
            if (Recorder.NAMES.isEmpty()) {
                Recorder.NAMES.add(classLevel.name());
            }
        }

        @Test
        void failsWithAFrozenInstance() {
            Recorder.NAMES.add(field.name());
            field.freeze();
            fail("on purpose, with a frozen instance");
        }

        @Test
        void failsWithRunningInstances(@IncusInstance(type = InstanceType.VM) Instance parameter) {
            Recorder.NAMES.add(field.name());
            Recorder.NAMES.add(parameter.name());
            assertTrue(field.isRunning() && parameter.isRunning());
            throw new IllegalStateException("on purpose, with two running instances");
        }

        @AfterAll
        static void recordLeftovers(Instances incus) {
            incus.list().forEach(i -> Recorder.LEFT_AT_AFTER_ALL.add(i.name()));
        }
    }

    @Scenario
    @IncusTest
    static class LeakingScenario {
        @Test
        void leavesARunningInstanceAndASnapshot(Instances incus) {
            Recorder.root = incus.root();
            Instance mine = incus.create(InstanceArgs.builder("mine").config(
                    Map.of("security.protection.delete", "true")).build(), InstanceSource.template("busybox", Map.of()));
            mine.start(false);
            mine.snapshot("snap0", null, false);
        }
    }

    @Scenario
    @IncusTest
    static class BadDeclarationScenario {
        @Test
        void badConfig(@IncusInstance(config = "limits.cpu") Instance instance) {
        }

        @Test
        void badParameterType(@IncusInstance String notAnInstance) {
        }

        @AfterAll
        static void recordRoot(Instances incus) {
            Recorder.root = incus.root();
        }
    }

    @Scenario
    @IncusTest
    static class FinalFieldScenario {
        @IncusInstance
        final Instance finalField = null;

        @Test
        void test() {
        }
    }

    @Scenario
    @IncusTest
    static class SquattingScenario {
        @IncusInstance
        Instance field;

        @BeforeAll
        static void takeTheFirstNames(Instances incus) {
            for (String name : List.of("test-field-1", "test-field-2")) {
                incus.create(InstanceArgs.builder(name).build(), InstanceSource.none());
                Recorder.NAMES.add(name);
            }
        }

        @Test
        void test() {
            Recorder.NAMES.add(field.name());
        }
    }

    @Scenario
    @IncusTest(driver = "no-such-driver", disabledWithoutDriver = true)
    static class SkippedWithoutDriverScenario {
        @Test
        void test(Instances incus) {
            fail("must not run");
        }
    }

    @Scenario
    @IncusTest(driver = "no-such-driver")
    static class FailingWithoutDriverScenario {
        @Test
        void test(Instances incus) {
            fail("must not run");
        }
    }

    @Scenario
    @IncusTest
    static class DriverFromPropertyScenario {
        @Test
        void test(Instances incus) {
            assertEquals("fake", incus.info().name());
        }
    }

    // ---- launcher plumbing ------------------------------------------------------------------------------------

    record Outcome(Map<String, String> failures, List<String> failedContainers, Map<String, String> skipped) {
        List<String> failedTests() {
            return failures.keySet().stream().sorted().collect(Collectors.toList());
        }
    }

    private static Outcome run(Class<?> scenario) {
        return run(scenario, Map.of());
    }

    private static Outcome run(Class<?> scenario, Map<String, String> configuration) {
        Map<String, String> failures = Collections.synchronizedMap(new java.util.TreeMap<>());
        List<String> failedContainers = Collections.synchronizedList(new ArrayList<>());
        Map<String, String> skipped = Collections.synchronizedMap(new java.util.TreeMap<>());
        Launcher launcher = LauncherFactory.create();
        launcher.execute(LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(scenario))
                .configurationParameters(configuration)
                .configurationParameter(Scenario.PARAMETER, "true")
                .build(), new TestExecutionListener() {
                    @Override
                    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                        if (result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
                            return;
                        }
                        String message = result.getThrowable().map(Throwable::toString).orElse("");
                        if (id.isTest()) {
                            failures.put(methodName(id), message);
                        } else {
                            failedContainers.add(id.getDisplayName() + ": " + message);
                        }
                    }

                    @Override
                    public void executionSkipped(TestIdentifier id, String reason) {
                        skipped.put(id.getDisplayName(), reason);
                    }
                });
        return new Outcome(Map.copyOf(failures), List.copyOf(failedContainers), Map.copyOf(skipped));
    }

    private static String methodName(TestIdentifier id) {
        String name = id.getDisplayName();
        int paren = name.indexOf('(');
        return paren < 0 ? name : name.substring(0, paren);
    }
}
