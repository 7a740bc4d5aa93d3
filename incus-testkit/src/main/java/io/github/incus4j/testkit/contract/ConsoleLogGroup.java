package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.model.ConsoleLogOptions;
import io.github.incus4j.testkit.contract.ContractSupport.ExecResult;

/**
 * The ConsoleLog group of {@link InstanceDriverContract} (its nested {@code ConsoleLog} runs these): the console log.
 */
abstract class ConsoleLogGroup extends ContractGroup {
    ConsoleLogGroup(ContractSupport contract) {
        super(contract);
    }

    /** Writes {@code marker} on the instance's console from inside it. */
    private void writeToConsole(Instance i, String marker) {
        // The marker is put together by the shell, so that no command line echoed anywhere contains it.
        int cut = marker.length() / 2;
        ExecResult r = run(i, "sh", "-c", "A=" + marker.substring(0, cut) + "; echo ${A}" + marker.substring(cut)
                + " > /dev/console");
        assertEquals(0, r.exitCode(), "writing to /dev/console: " + r.stderr());
    }

    /** Reads the log until it holds {@code marker} (drivers copy console output asynchronously). */
    private String awaitInLog(java.util.function.Supplier<String> log, String marker) throws InterruptedException {
        long deadline = System.nanoTime() + timeout().toNanos();
        String text = log.get();
        while (!text.contains(marker)) {
            if (System.nanoTime() > deadline) {
                fail("no " + marker + " in the console log after " + timeout() + "; it holds: " + text);
            }
            Thread.sleep(100);
            text = log.get();
        }
        return text;
    }

    /**
     * Reads a container's console log until what the reads returned, together, holds {@code marker}; returns
     * that text. A container's reads consume (see {@link #containerConsoleLogReadConsumesWhatItReturned}), so
     * the marker may come out across two reads.
     */
    private String awaitInContainerLog(Container c, String marker) throws InterruptedException {
        StringBuilder read = new StringBuilder();
        awaitInLog(() -> read.append(c.consoleLog(ConsoleLogOptions.READ)).toString(), marker);
        return read.toString();
    }

    /**
     * Takes a container's console log one byte at a time until {@code prefix} has come out, so that what
     * follows it in the same write stays in the buffer, unread.
     */
    private void takeUntil(Container c, String prefix) throws InterruptedException {
        ConsoleLogOptions oneByte = new ConsoleLogOptions(false, true, 1, false);
        long deadline = System.nanoTime() + timeout().toNanos();
        StringBuilder taken = new StringBuilder();
        while (!taken.toString().endsWith(prefix)) {
            if (System.nanoTime() > deadline) {
                fail("no " + prefix + " in the console log after " + timeout() + "; the reads returned: "
                        + (taken.length() > 200 ? "..." + taken.substring(taken.length() - 200) : taken));
            }
            String b = c.consoleLog(oneByte);
            assertTrue(b.length() <= 1, "a read of at most 1 byte returned " + b);
            if (b.isEmpty()) {
                Thread.sleep(20);
            }
            taken.append(b);
        }
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.EXEC)
    void containerConsoleLogHoldsWhatTheContainerWrote(InstanceType type) throws Exception {
        Container c = (Container) createRunning(type);
        writeToConsole(c, "written-to-console-log");
        awaitInContainerLog(c, "written-to-console-log");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.EXEC)
    void containerConsoleLogReadConsumesWhatItReturned(InstanceType type) throws Exception {
        // Incus reads a running container's log through liblxc's ring buffer with ClearLog=false, and liblxc
        // moves the read position past what it returns: each read holds what was written since the last one.
        Container c = (Container) createRunning(type);
        writeToConsole(c, "first-write");
        awaitInContainerLog(c, "first-write");
        writeToConsole(c, "second-write");
        String next = awaitInContainerLog(c, "second-write");
        assertFalse(next.contains("first-write"), "a read returned what an earlier read had: " + next);
    }

    @ForInstanceType(InstanceType.CONTAINER)
    @RequiresCapability(Capability.EXEC)
    void containerConsoleLogReadsAtMostReadMaxAndCanBeCleared(InstanceType type) throws Exception {
        Container c = (Container) createRunning(type);
        c.consoleLog(ConsoleLogOptions.READ); // what the boot printed: out of the way of the byte-wise reads
        writeToConsole(c, "before-the-clear");
        takeUntil(c, "before-");
        assertEquals("the-", c.consoleLog(new ConsoleLogOptions(false, true, 4, false)), "a read of 4 bytes");
        assertEquals("", c.consoleLog(ConsoleLogOptions.CLEAR), "clearing reads nothing");
        String cleared = c.consoleLog(ConsoleLogOptions.READ);
        assertFalse(cleared.contains("clear"), "the rest of the line survived the clear: " + cleared);
        writeToConsole(c, "written-after");
        String log = awaitInContainerLog(c, "written-after");
        assertFalse(log.contains("clear"), "what was cleared came back: " + log);
    }

    @ForInstanceType(InstanceType.VM)
    @RequiresCapability(Capability.EXEC)
    void vmConsoleLogHoldsWhatTheGuestWrote(InstanceType type) throws Exception {
        VM v = (VM) createRunning(type);
        writeToConsole(v, "written-by-the-guest");
        awaitInLog(v::consoleLog, "written-by-the-guest");
    }

    @ForInstanceType(InstanceType.VM)
    @RequiresCapability(Capability.EXEC)
    void vmConsoleLogKeepsWhatEarlierReadsReturned(InstanceType type) throws Exception {
        // Incus drains a VM's serial ring buffer into console.log at each read and returns the whole file.
        VM v = (VM) createRunning(type);
        writeToConsole(v, "first-write");
        awaitInLog(v::consoleLog, "first-write");
        writeToConsole(v, "second-write");
        String log = awaitInLog(v::consoleLog, "second-write");
        int first = log.indexOf("first-write");
        assertTrue(first >= 0 && first < log.indexOf("second-write"),
                "the VM's log lost what an earlier read returned: " + log);
    }
}
