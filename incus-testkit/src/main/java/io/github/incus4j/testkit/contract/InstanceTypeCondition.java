package io.github.incus4j.testkit.contract;

import java.util.Optional;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The condition behind {@link ForInstanceType} (registered by the annotation): disables a test about an instance type
 * the driver under test does not run, with the reason, so that test reports list it as skipped (a test template that
 * ran zero times, or whose argument source gave up, would not be listed at all by Maven's surefire).
 */
final class InstanceTypeCondition implements ExecutionCondition {

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        Optional<ForInstanceType> about = context.getElement()
                .flatMap(e -> AnnotationSupport.findAnnotation(e, ForInstanceType.class));
        if (about.isEmpty()) {
            return ConditionEvaluationResult.enabled("not about one instance type");
        }
        Optional<ContractSupport> contract = ContractSupport.of(context);
        if (contract.isEmpty()) {
            // Not known yet: OneInstanceTypeProvider checks again when the test runs.
            return ConditionEvaluationResult.enabled("driver not known yet");
        }
        DriverUnderTest driver = contract.get().dut();
        if (driver.instanceTypes().contains(about.get().value())) {
            return ConditionEvaluationResult.enabled("driver runs " + about.get().value() + " instances");
        }
        return ConditionEvaluationResult.disabled(
                OneInstanceTypeProvider.notRunReason(contract.get().driverName(), about.get().value(), driver));
    }
}
