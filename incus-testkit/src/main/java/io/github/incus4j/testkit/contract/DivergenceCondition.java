package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.lang.reflect.Method;
import java.util.Optional;
import org.apiguardian.api.API;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Skips a contract test the driver under test declares as a divergence ({@link DriverUnderTest#divergences()}),
 * with the message {@code declared divergence of <driver>: <reason>}. Registered by {@link ContractSupport}.
 */
@API(status = INTERNAL)
public final class DivergenceCondition implements ExecutionCondition {

    /** Instantiated by JUnit. */
    public DivergenceCondition() {
    }

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        Optional<String> method = context.getTestMethod().map(Method::getName);
        Optional<ContractSupport> contract = ContractSupport.of(context);
        if (method.isEmpty() || contract.isEmpty()) {
            return ConditionEvaluationResult.enabled("not a contract test method");
        }
        String reason = contract.get().dut().divergences().get(method.get());
        return reason == null ? ConditionEvaluationResult.enabled("no declared divergence")
                : ConditionEvaluationResult.disabled("declared divergence of " + contract.get().driverName() + ": "
                        + reason);
    }
}
