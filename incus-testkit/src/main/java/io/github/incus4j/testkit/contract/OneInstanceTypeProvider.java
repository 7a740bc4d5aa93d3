package io.github.incus4j.testkit.contract;

import io.github.incus4j.api.InstanceType;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.ArgumentsProvider;
import org.junit.jupiter.params.support.AnnotationConsumer;
import org.junit.jupiter.params.support.ParameterDeclarations;

/**
 * The type of {@link ForInstanceType} if the driver under test runs it. {@link InstanceTypeCondition} has already
 * disabled the test otherwise; should it not have known the driver, the test is aborted here with the same reason
 * rather than run zero times.
 */
final class OneInstanceTypeProvider implements ArgumentsProvider, AnnotationConsumer<ForInstanceType> {
    private InstanceType type;

    @Override
    public void accept(ForInstanceType annotation) {
        type = annotation.value();
    }

    @Override
    public Stream<? extends Arguments> provideArguments(ParameterDeclarations parameters, ExtensionContext context) {
        ContractSupport contract = ContractSupport.of(context).orElseThrow(() ->
                new IllegalStateException("@ForInstanceType is for tests inside a ContractSupport subclass"));
        DriverUnderTest driver = contract.dut();
        if (!driver.instanceTypes().contains(type)) {
            Assumptions.abort(notRunReason(contract.driverName(), type, driver));
        }
        return Stream.of(Arguments.of(type));
    }

    /** The skip reason of a test about {@code type} on a driver that does not run it; {@code .ci/run} matches it. */
    static String notRunReason(String driverName, InstanceType type, DriverUnderTest driver) {
        return "driver " + driverName + " runs no " + type + " instances (its instance types: "
                + driver.instanceTypes().stream().sorted().toList() + ")";
    }
}
