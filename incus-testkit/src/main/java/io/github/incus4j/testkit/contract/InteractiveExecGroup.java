package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.internal.io.BulkOutputStream;
import io.github.incus4j.testkit.contract.ContractSupport.ExecResult;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The InteractiveExec group of {@link InstanceDriverContract} (its nested {@code InteractiveExec} runs these):
 * commands on a terminal: its size and resizes, the echo of what is typed, the status.
 */
abstract class InteractiveExecGroup extends ContractGroup {
    InteractiveExecGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void commandRunsOnATerminalThatFollowsResizes(InstanceType type) throws Exception {
        Instance i = createRunning(type);
        Screen screen = new Screen();
        PipedOutputStream keyboard = new PipedOutputStream();
        ExecRequest request = cmd("sh", "-c", "tty; stty size; cat; stty size; exit 3").interactive(true)
                .window(100, 30).build();
        try (Cmd c = i.exec(request, new PipedInputStream(keyboard), screen, null)) {
            screen.await("30 100\n", timeout());
            c.windowResize(120, 40);
            keyboard.write(utf8("hello\n"));
            keyboard.close(); // the end of input ends cat
            assertEquals(3, c.waitFor(timeout()));
        }
        String text = screen.text();
        assertTrue(text.startsWith("/dev/pts/"), "tty names a pty: " + text);
        // What is typed is echoed by the terminal, then written back by cat.
        assertEquals("30 100\nhello\nhello\n40 120\n", text.substring(text.indexOf('\n') + 1));
    }

    @ForEachInstanceType
    void otherCommandsHaveNoTerminal(InstanceType type) {
        ExecResult r = run(createRunning(type), "tty");
        assertEquals(1, r.exitCode());
        assertEquals("not a tty\n", r.stdout());
    }

    /** What an interactive command writes on its terminal, CRs left out (a terminal ends lines with CR LF). */
    private static final class Screen extends BulkOutputStream {
        private final StringBuilder text = new StringBuilder();

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            text.append(new String(b, off, len, StandardCharsets.ISO_8859_1).replace("\r", ""));
            notifyAll();
        }

        synchronized String text() {
            return text.toString();
        }

        synchronized void await(String expected, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (text.indexOf(expected) < 0) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    fail("no " + expected.strip() + " on the terminal after " + timeout.toMillis() + " ms: " + text);
                }
                wait(left);
            }
        }
    }
}
