package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.lang.reflect.AnnotatedElement;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import org.apiguardian.api.API;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The condition behind {@link RequiresCapability} (registered by the annotation; not used directly): skips what it marks when the driver under test lacks a capability. The driver is read from
 * the enclosing {@link InstanceDriverContract} instance, which exists before its groups run (the contract uses one
 * instance per class).
 */
@API(status = INTERNAL)
public final class CapabilityCondition implements ExecutionCondition {

    /** Instantiated by JUnit. */
    public CapabilityCondition() {
    }

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        Set<Capability> required = EnumSet.noneOf(Capability.class);
        context.getElement().ifPresent(e -> collect(e, required));
        for (Class<?> c = context.getTestClass().orElse(null); c != null; c = c.getEnclosingClass()) {
            collect(c, required);
        }
        if (required.isEmpty()) {
            return ConditionEvaluationResult.enabled("no capability required");
        }
        Optional<ContractSupport> contract = ContractSupport.of(context);
        if (contract.isEmpty()) {
            // Not known yet at this level: the test methods are evaluated again with their instance.
            return ConditionEvaluationResult.enabled("driver not known yet");
        }
        DriverUnderTest driver = contract.get().dut();
        Set<Capability> missing = EnumSet.copyOf(required);
        missing.removeAll(driver.capabilities());
        // A container-only capability is not missing from a VM-only driver: its tests are about containers only.
        missing.removeIf(c -> c.concernsOnly() != null && !driver.instanceTypes().contains(c.concernsOnly()));
        if (missing.isEmpty()) {
            return ConditionEvaluationResult.enabled("driver has " + required);
        }
        return ConditionEvaluationResult.disabled("driver " + contract.get().driverName() + " lacks capability "
                + missing);
    }

    private static void collect(AnnotatedElement element, Set<Capability> into) {
        RequiresCapability r = element.getAnnotation(RequiresCapability.class);
        if (r != null) {
            into.addAll(java.util.List.of(r.value()));
        }
    }
}
