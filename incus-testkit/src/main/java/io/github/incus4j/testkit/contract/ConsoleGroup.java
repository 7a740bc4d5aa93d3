package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.testkit.contract.ContractSupport.ExecResult;

/**
 * The Console group of {@link InstanceDriverContract} (its nested {@code Console} runs these): attaching to the text
 * console.
 */
abstract class ConsoleGroup extends ContractGroup {
    ConsoleGroup(ContractSupport contract) {
        super(contract);
    }

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
