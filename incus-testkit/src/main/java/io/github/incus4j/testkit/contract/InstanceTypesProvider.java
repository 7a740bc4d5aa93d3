package io.github.incus4j.testkit.contract;

import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.ArgumentsProvider;
import org.junit.jupiter.params.support.ParameterDeclarations;

/** The instance types of the driver under test, for {@link ForEachInstanceType}. */
final class InstanceTypesProvider implements ArgumentsProvider {

    @Override
    public Stream<? extends Arguments> provideArguments(ParameterDeclarations parameters, ExtensionContext context) {
        ContractSupport contract = ContractSupport.of(context).orElseThrow(() ->
                new IllegalStateException("@ForEachInstanceType is for tests inside a ContractSupport subclass"));
        if (contract.dut().instanceTypes().isEmpty()) {
            // A failure rather than a skip: a driver runs at least one type, so this is a broken declaration.
            throw new IllegalStateException("driver " + contract.driverName()
                    + " declares no instance type: tests for each instance type cannot run");
        }
        return contract.dut().instanceTypes().stream().sorted().map(Arguments::of);
    }
}
