package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.testing.TerminalScreen;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interactive exec on a real unprivileged busybox container: the command has a terminal (the container's own pty),
 * sees the requested size and later resizes, echoes what is typed, and ends with its own status; nothing of the JVM
 * (descriptors, signal dispositions, children) is left behind.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LxcInteractiveExecTest {
    private static final Duration WAIT = Duration.ofSeconds(15);

    private LxcInstances lxc;
    private Instance c;

    @BeforeAll
    void start(@TempDir Path dir) {
        LxcHost.require();
        lxc = new LxcDriver().open(LxcHost.searchable(dir.resolve("root")), Duration.ofSeconds(30));
        c = LxcHost.runningBusybox(lxc, "pty-");
    }

    @AfterAll
    void stop() {
        LxcHost.deleteAll(lxc);
    }

    @Test
    void commandHasATerminalOfTheRequestedSizeThatFollowsResizes() throws Exception {
        TerminalScreen screen = new TerminalScreen(false, WAIT);
        PipedOutputStream keyboard = new PipedOutputStream();
        ExecRequest request = ExecRequest.builder("sh", "-c", "tty; test -t 0 && test -t 1 && test -t 2"
                + " && echo all-ttys; stty size; echo READY; read line; echo \"got:$line\"; stty size; exit 3")
                .interactive(true).window(100, 30).build();
        try (Cmd cmd = c.exec(request, new PipedInputStream(keyboard), screen, null)) {
            screen.await("READY");
            cmd.windowResize(120, 40);
            keyboard.write("hello\n".getBytes(StandardCharsets.US_ASCII));
            keyboard.flush();
            assertEquals(3, cmd.waitFor(WAIT));
            keyboard.close();
        }
        // The container's pty: CR LF line ends, what is typed echoed before the command reads it, and no CR added by
        // our side of lxc-attach's relay.
        String text = screen.text();
        assertFalse(text.contains("\r\r"), text);
        assertEquals("/dev/pts/", text.lines().findFirst().orElseThrow().substring(0, "/dev/pts/".length()), text);
        assertTrue(text.contains("\r\nall-ttys\r\n30 100\r\nREADY\r\nhello\r\ngot:hello\r\n40 120\r\n"), text);
    }

    @Test
    void endOfInputIsCtrlDAndErrorsShareTheTerminal() {
        TerminalScreen screen = new TerminalScreen(false, WAIT);
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        ExecRequest request = ExecRequest.builder("sh", "-c", "cat; echo oops >&2; exit 5").interactive(true).build();
        try (Cmd cmd = c.exec(request, new ByteArrayInputStream("one\ntwo\n".getBytes(StandardCharsets.US_ASCII)),
                screen, stderr)) {
            assertEquals(5, cmd.waitFor(WAIT));
        }
        // Each line typed is echoed by the terminal, then written back by cat.
        assertEquals("one\r\ntwo\r\none\r\ntwo\r\noops\r\n", screen.text().replace("^D\b\b", ""));
        assertEquals(0, stderr.size(), "stderr is the terminal");
    }

    @Test
    void signalsReachTheCommand() {
        try (Cmd cmd = c.exec(ExecRequest.builder("sleep", "30").interactive(true).build(), null, null, null)) {
            cmd.signal(15);
            assertEquals(143, cmd.waitFor(WAIT));
        }
    }

    @Test
    void missingCommandIsNotFoundAndBadSizesAreRefused() {
        try (Cmd cmd = c.exec(ExecRequest.builder("/no/such/command").interactive(true).build(), null, null, null)) {
            assertEquals("Command not found",
                    assertThrows(InvalidArgumentException.class, () -> cmd.waitFor(WAIT)).getMessage());
            assertEquals("Invalid window size: 0x10",
                    assertThrows(InvalidArgumentException.class, () -> cmd.windowResize(0, 10)).getMessage());
            cmd.windowResize(100, 50); // the command has ended: nothing to resize, no error
        }
    }

    @Test
    void leavesNoDescriptorChildOrSignalDispositionBehind() throws Exception {
        // One command first, so that classes and driver threads loaded once are not counted.
        runTrue();
        long fds = LxcConsoleTest.openFds();
        String ignored = signalLine("SigIgn");
        String caught = signalLine("SigCgt");
        for (int i = 0; i < 5; i++) {
            runTrue();
        }
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (LxcConsoleTest.openFds() != fds && System.nanoTime() < deadline) {
            Thread.sleep(10); // the pumps close the pty as they end, just after waitFor returns
        }
        assertEquals(fds, LxcConsoleTest.openFds(), "descriptors");
        assertEquals(ignored, signalLine("SigIgn"));
        assertEquals(caught, signalLine("SigCgt"));
        assertTrue(ProcessHandle.current().children().noneMatch(p -> p.isAlive()
                && p.info().command().orElse("").matches(".*/(lxc-attach|setsid)")), "no helper left");
    }

    private void runTrue() {
        try (Cmd cmd = c.exec(ExecRequest.builder("true").interactive(true).build(), null, null, null)) {
            assertEquals(0, cmd.waitFor(WAIT));
        }
    }

    private static String signalLine(String name) throws IOException {
        return Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith(name + ":"))
                .findFirst().orElseThrow();
    }

    /**
     * Logs the mean time of {@code true}, exec to status, interactive and not (a figure, not an assertion: the machine
     * is shared).
     */
    @Test
    void latencyOfTrue() {
        double plain = meanMillis(false);
        double interactive = meanMillis(true);
        System.getLogger(LxcInteractiveExecTest.class.getName()).log(System.Logger.Level.INFO,
                "exec true, mean of 20: {0} ms, interactive {1} ms", String.format("%.1f", plain),
                String.format("%.1f", interactive));
    }

    private double meanMillis(boolean interactive) {
        ExecRequest request = ExecRequest.builder("true").interactive(interactive).build();
        int n = 20;
        long total = 0;
        for (int i = 0; i <= n; i++) {
            long t0 = System.nanoTime();
            try (Cmd cmd = c.exec(request, null, null, null)) {
                assertEquals(0, cmd.waitFor(WAIT));
            }
            total += i == 0 ? 0 : System.nanoTime() - t0; // the first one warms up
        }
        return total / 1e6 / n;
    }
}
