package io.github.incus4j.testkit.contract;

import io.github.incus4j.api.InstanceType;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.ArgumentsProvider;
import org.junit.jupiter.params.support.AnnotationConsumer;
import org.junit.jupiter.params.support.ParameterDeclarations;

/** The type of {@link ForInstanceType} if the driver under test runs it, else nothing. */
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
        return contract.dut().instanceTypes().contains(type) ? Stream.of(Arguments.of(type)) : Stream.empty();
    }
}
