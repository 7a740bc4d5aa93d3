package io.github.incus4j.testkit.junit;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Container;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceDrivers;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.NoDriverException;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.internal.config.NameRules;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Parameter;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;
import org.apiguardian.api.API;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;
import org.junit.platform.commons.support.HierarchyTraversalMode;
import org.junit.platform.commons.support.ReflectionSupport;

/**
 * The JUnit 5 extension behind {@link IncusTest}. Per test class it opens one driver on a temporary root (shared by
 * {@code @Nested} classes) and deletes the root after the class; it injects that driver into {@link Instances}
 * parameters and {@link IncusDriver} fields, and creates the instances declared with {@link IncusInstance}.
 *
 * <p>Everything created is kept in the {@link ExtensionContext.Store} of the context it was created for and removed
 * when that context closes, on success or failure: a test's instances after the test (after its {@code @AfterEach}
 * methods), a class's after the class. The extension holds no state of its own, so one instance of it serves any
 * number of tests running in parallel. Store values are {@link AutoCloseable}, which JUnit 5.13 and later close.
 *
 * <p>Fields are set by reflection: on the module path, open the test package to {@code io.github.incus4j.testkit}.
 */
@API(status = EXPERIMENTAL)
public final class IncusExtension implements ExecutionCondition, BeforeAllCallback, BeforeEachCallback,
        ParameterResolver {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(IncusExtension.class);

    /** Creates the extension; JUnit does so for {@link IncusTest} and {@code @ExtendWith(IncusExtension.class)}. */
    public IncusExtension() {
    }

    // ---- JUnit callbacks ----------------------------------------------------------------------------------------

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if (context.getTestMethod().isPresent()) {
            return ConditionEvaluationResult.enabled("decided for the class");
        }
        Optional<IncusTest> incusTest = incusTest(context);
        if (incusTest.isEmpty() || !incusTest.get().disabledWithoutDriver()) {
            return ConditionEvaluationResult.enabled("the driver is required");
        }
        String name = driverName(context);
        try {
            InstanceDrivers.select(name);
            return ConditionEvaluationResult.enabled("the " + name + " driver is usable");
        } catch (NoDriverException e) {
            return ConditionEvaluationResult.disabled(e.getMessage());
        }
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        Class<?> testClass = context.getRequiredTestClass();
        inject(context, testClass, null, true);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        // getAllInstances: a @Nested test also has its enclosing classes' instances, whose fields are per test too.
        for (Object testInstance : context.getRequiredTestInstances().getAllInstances()) {
            inject(context, testInstance.getClass(), testInstance, false);
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        Parameter p = parameterContext.getParameter();
        if (p.getType() == Instances.class) {
            return true;
        }
        if (!parameterContext.isAnnotated(IncusInstance.class)) {
            return false;
        }
        if (!isInstanceType(p.getType())) {
            throw new ParameterResolutionException("@IncusInstance parameter " + describe(parameterContext)
                    + " must be of type Instance, Container or VM, not " + p.getType().getName());
        }
        return true;
    }

    @Override
    public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        Parameter p = parameterContext.getParameter();
        DriverResource driver = driver(extensionContext);
        if (p.getType() == Instances.class) {
            return driver.instances();
        }
        IncusInstance spec = parameterContext.findAnnotation(IncusInstance.class).orElseThrow();
        try {
            return launch(extensionContext, driver, spec, p.getType(), p.getName(), describe(parameterContext));
        } catch (ExtensionConfigurationException e) {
            throw new ParameterResolutionException(e.getMessage(), e);
        }
    }

    // ---- fields -------------------------------------------------------------------------------------------------

    /** Sets the {@link IncusDriver} and {@link IncusInstance} fields of {@code type}: static ones or instance ones. */
    private static void inject(ExtensionContext context, Class<?> type, Object target, boolean statics) {
        Predicate<Field> scope = f -> Modifier.isStatic(f.getModifiers()) == statics;
        List<Field> driverFields = ReflectionSupport.findFields(type,
                scope.and(f -> f.isAnnotationPresent(IncusDriver.class)), HierarchyTraversalMode.TOP_DOWN);
        List<Field> instanceFields = ReflectionSupport.findFields(type,
                scope.and(f -> f.isAnnotationPresent(IncusInstance.class)), HierarchyTraversalMode.TOP_DOWN);
        if (driverFields.isEmpty() && instanceFields.isEmpty()) {
            return;
        }
        DriverResource driver = driver(context);
        for (Field f : driverFields) {
            if (f.getType() != Instances.class) {
                throw new ExtensionConfigurationException("@IncusDriver field " + describe(f)
                        + " must be of type Instances, not " + f.getType().getName());
            }
            set(f, target, driver.instances());
        }
        for (Field f : instanceFields) {
            if (!isInstanceType(f.getType())) {
                throw new ExtensionConfigurationException("@IncusInstance field " + describe(f)
                        + " must be of type Instance, Container or VM, not " + f.getType().getName());
            }
            requireWritable(f); // before anything is created for it
            set(f, target, launch(context, driver, f.getAnnotation(IncusInstance.class), f.getType(), f.getName(),
                    describe(f)));
        }
    }

    private static void requireWritable(Field f) {
        if (Modifier.isFinal(f.getModifiers())) {
            throw new ExtensionConfigurationException("Field " + describe(f) + " must not be final: the extension sets it");
        }
    }

    private static void set(Field f, Object target, Object value) {
        requireWritable(f);
        try {
            f.setAccessible(true);
            f.set(target, value);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new ExtensionConfigurationException("Cannot set " + describe(f) + ": " + e, e);
        }
    }

    // ---- instances ----------------------------------------------------------------------------------------------

    /**
     * Creates (and starts, if asked) an instance for {@code context}, registered in the context's scope before it is
     * started so that a failed start is cleaned up too.
     */
    private static Instance launch(ExtensionContext context, DriverResource driver, IncusInstance spec,
            Class<?> declared, String elementName, String where) {
        InstanceType type = instanceType(spec, declared, driver, where);
        Map<String, String> config = parseConfig(spec.config(), where);
        InstanceSource source = spec.source().isEmpty()
                ? InstanceSource.none()
                : InstanceSource.template(spec.source(), Map.of());
        String prefix = spec.prefix().isEmpty() ? testName(context) + "-" + elementName : spec.prefix();
        InstanceScope scope = scope(context, driver);
        Instance instance = null;
        // The serial makes names unique within this driver; a clash can only come from an instance the test made
        // itself, so the next serial is tried.
        for (int attempt = 0; instance == null; attempt++) {
            String name = uniqueName(prefix, driver.nextSerial());
            InstanceArgs args = InstanceArgs.builder(name)
                    .type(type)
                    .ephemeral(spec.ephemeral())
                    .config(config)
                    .devices(ForwardedPorts.devices(type, spec.forwardPorts(), where))
                    .description("Created by IncusExtension for " + context.getUniqueId())
                    .build();
            try {
                instance = driver.instances().create(args, source);
            } catch (BusyException e) {
                if (attempt >= 100 || driver.instances().find(args.project(), name).isEmpty()) {
                    throw e;
                }
            }
        }
        scope.add(instance);
        if (!declared.isInstance(instance)) {
            throw new ExtensionConfigurationException(where + " is declared " + declared.getSimpleName()
                    + " but the " + driver.instances().info().name() + " driver made a "
                    + instance.getClass().getName());
        }
        if (spec.start()) {
            instance.start(false);
        }
        return instance;
    }

    private static InstanceType instanceType(IncusInstance spec, Class<?> declared, DriverResource driver,
            String where) {
        InstanceType wanted = spec.type();
        InstanceType implied = declared == VM.class ? InstanceType.VM
                : declared == Container.class ? InstanceType.CONTAINER : InstanceType.ANY;
        if (wanted != InstanceType.ANY && implied != InstanceType.ANY && wanted != implied) {
            throw new ExtensionConfigurationException(where + " is declared " + declared.getSimpleName()
                    + " but asks for type = " + wanted.name());
        }
        if (wanted != InstanceType.ANY) {
            return wanted;
        }
        if (implied != InstanceType.ANY) {
            return implied;
        }
        InstanceType driverType = driver.instances().info().type();
        return driverType == null || driverType == InstanceType.ANY ? InstanceType.CONTAINER : driverType;
    }

    /** {@code key=value} entries; the value may be empty and may contain {@code =}. */
    static Map<String, String> parseConfig(String[] entries, String where) {
        Map<String, String> config = new HashMap<>();
        for (String entry : entries) {
            int eq = entry.indexOf('=');
            if (eq <= 0) {
                throw new ExtensionConfigurationException("@IncusInstance config entry \"" + entry + "\" of " + where
                        + " is not key=value");
            }
            if (config.put(entry.substring(0, eq).trim(), entry.substring(eq + 1)) != null) {
                throw new ExtensionConfigurationException("@IncusInstance config key \"" + entry.substring(0, eq)
                        + "\" of " + where + " is given twice");
            }
        }
        return config;
    }

    /**
     * A valid Incus name from {@code prefix} and {@code serial}: camel case hyphenated, lower case, anything but
     * letters and digits turned into single hyphens, cut so the whole fits {@value NameRules#MAX_LENGTH} characters,
     * starting with a letter.
     */
    static String uniqueName(String prefix, long serial) {
        String suffix = "-" + serial;
        String words = prefix.replaceAll("([a-z0-9])([A-Z])", "$1-$2").replaceAll("([A-Z])([A-Z][a-z])", "$1-$2")
                .toLowerCase(Locale.ROOT)
                .replaceAll("[^a-z0-9]+", "-").replaceAll("^-|-$", "");
        if (words.isEmpty() || !Character.isLetter(words.charAt(0))) {
            words = words.isEmpty() ? "i" : "i-" + words;
        }
        words = words.substring(0, Math.min(words.length(), NameRules.MAX_LENGTH - suffix.length())).replaceAll("-+$", "");
        return words + suffix;
    }

    /** The test method's name, or the class's simple name for class-level instances. */
    private static String testName(ExtensionContext context) {
        return context.getTestMethod().map(Method::getName)
                .orElseGet(() -> context.getRequiredTestClass().getSimpleName());
    }

    private static boolean isInstanceType(Class<?> type) {
        return type == Instance.class || type == Container.class || type == VM.class;
    }

    // ---- store --------------------------------------------------------------------------------------------------

    /**
     * The driver of the test class, opened on first use. It lives in the class's store; a {@code @Nested} class
     * finds its enclosing class's driver there (stores see their parents), unless it names another driver.
     */
    private static DriverResource driver(ExtensionContext context) {
        ExtensionContext classContext = context;
        while (classContext.getTestMethod().isPresent() && classContext.getParent().isPresent()) {
            classContext = classContext.getParent().get();
        }
        String name = driverName(classContext);
        return classContext.getStore(NAMESPACE).getOrComputeIfAbsent(new DriverKey(name),
                k -> DriverResource.open(k.driver()), DriverResource.class);
    }

    /**
     * The instances of exactly this context. Keyed by the context's unique id: a lookup by a shared key would find
     * the enclosing context's scope, since stores see their parents.
     */
    private static InstanceScope scope(ExtensionContext context, DriverResource driver) {
        return context.getStore(NAMESPACE).getOrComputeIfAbsent(new ScopeKey(context.getUniqueId()),
                k -> new InstanceScope(driver), InstanceScope.class);
    }

    private static String driverName(ExtensionContext context) {
        String named = incusTest(context).map(IncusTest::driver).orElse("").trim();
        if (!named.isEmpty()) {
            return named;
        }
        return context.getConfigurationParameter(InstanceDrivers.DRIVER_PROPERTY)
                .map(String::trim)
                .filter(s -> !s.isEmpty())
                .orElse(IncusTest.DEFAULT_DRIVER);
    }

    /** The nearest {@link IncusTest}: on the test class (or its superclasses), else on an enclosing class. */
    private static Optional<IncusTest> incusTest(ExtensionContext context) {
        for (Class<?> c = context.getTestClass().orElse(null); c != null; c = c.getEnclosingClass()) {
            Optional<IncusTest> found = AnnotationSupport.findAnnotation(c, IncusTest.class);
            if (found.isPresent()) {
                return found;
            }
        }
        return Optional.empty();
    }

    private static String describe(Field f) {
        return f.getDeclaringClass().getName() + "." + f.getName();
    }

    private static String describe(ParameterContext p) {
        return p.getParameter().getName() + " of " + p.getDeclaringExecutable();
    }

    private record DriverKey(String driver) {
    }

    private record ScopeKey(String uniqueId) {
    }
}
