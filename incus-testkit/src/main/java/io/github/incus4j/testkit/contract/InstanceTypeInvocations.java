package io.github.incus4j.testkit.contract;

import io.github.incus4j.api.InstanceType;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.Extension;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestTemplateInvocationContext;
import org.junit.jupiter.api.extension.TestTemplateInvocationContextProvider;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The invocations of a {@link ForEachInstanceType} test: one per concrete {@link InstanceType} (not {@code ANY}), in the enum's order; those of
 * a type the driver does not run are disabled with the reason {@link OneInstanceTypeProvider#notRunReason} gives (the
 * text {@code .ci/run} allows per module), so that they are reported as skipped rather than left out.
 */
final class InstanceTypeInvocations implements TestTemplateInvocationContextProvider {

    @Override
    public boolean supportsTestTemplate(ExtensionContext context) {
        return context.getTestMethod().filter(m -> AnnotationSupport.isAnnotated(m, ForEachInstanceType.class))
                .isPresent();
    }

    @Override
    public Stream<TestTemplateInvocationContext> provideTestTemplateInvocationContexts(ExtensionContext context) {
        ContractSupport contract = ContractSupport.of(context).orElseThrow(() ->
                new IllegalStateException("@ForEachInstanceType is for tests inside a ContractSupport subclass"));
        DriverUnderTest driver = contract.dut();
        if (driver.instanceTypes().isEmpty()) {
            // A failure rather than skips: a driver runs at least one type, so this is a broken declaration.
            throw new IllegalStateException("driver " + contract.driverName()
                    + " declares no instance type: tests for each instance type cannot run");
        }
        return Arrays.stream(InstanceType.values()).filter(t -> t != InstanceType.ANY).map(type -> invocation(type, driver.instanceTypes().contains(type)
                ? null : OneInstanceTypeProvider.notRunReason(contract.driverName(), type, driver)));
    }

    /** The invocation for {@code type}, disabled with {@code notRunReason} unless that is null. */
    private static TestTemplateInvocationContext invocation(InstanceType type, String notRunReason) {
        return new TestTemplateInvocationContext() {
            @Override
            public String getDisplayName(int invocationIndex) {
                return String.valueOf(type);
            }

            @Override
            public List<Extension> getAdditionalExtensions() {
                ParameterResolver resolver = new ParameterResolver() {
                    @Override
                    public boolean supportsParameter(ParameterContext parameter, ExtensionContext extension) {
                        return parameter.getParameter().getType() == InstanceType.class;
                    }

                    @Override
                    public Object resolveParameter(ParameterContext parameter, ExtensionContext extension) {
                        return type;
                    }
                };
                if (notRunReason == null) {
                    return List.of(resolver);
                }
                ExecutionCondition notRun = c -> ConditionEvaluationResult.disabled(notRunReason);
                return List.of(resolver, notRun);
            }
        };
    }
}
