package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.testing.TerminalScreen;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interactive exec over SSH: the command line given to the guest's shell (checked against the host's {@code /bin/sh}),
 * then one booted VM: terminal size and resizes, status, signals, the key kept 0600, a session reopened on the running
 * VM, and the latency of an interactive {@code true}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SshExecTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path dir;
    private QemuInstances instances;
    private QemuVm vm;

    // ---- the command line, without a VM ------------------------------------------------------------------------

    @Test
    void commandLineKeepsEveryArgumentAsIs() throws Exception {
        List<String> argv = List.of("printf", "[%s]", "a b", "it's", "$HOME", "\"q\"", "", "*", "back\\slash",
                "new\nline");
        ExecRequest r = ExecRequest.builder(argv).build();
        String line = SshExec.commandLine(r, Map.of("PATH", "/usr/bin:/bin", "X", "y'z"), dir.toString());
        String out = sh(line);
        assertEquals("[a b][it's][$HOME][\"q\"][][*][back\\slash][new\nline]", out);
        String env = sh(SshExec.commandLine(ExecRequest.builder("sh", "-c", "echo \"$X|$(pwd)|$HOME\"").build(),
                Map.of("PATH", "/usr/bin:/bin", "X", "y'z"), dir.toString()));
        assertEquals("y'z|" + dir + "|\n", env, "exactly the given environment, in the given directory");
    }

    private static String sh(String commandLine) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("/bin/sh", "-c", commandLine).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    // ---- on a VM -----------------------------------------------------------------------------------------------

    @BeforeAll
    void boot() {
        TestGuest.image();
        instances = new QemuDriver().open(dir.resolve("root"), TestGuest.settings());
        vm = (QemuVm) instances.create(InstanceArgs.builder("ssh-1").type(InstanceType.VM).build(),
                InstanceSource.image(TestGuest.image()));
        vm.start(false);
    }

    @AfterAll
    void stop() {
        if (instances == null) {
            return;
        }
        for (Instance i : instances.list()) {
            if (i.isRunning()) {
                i.stop(false);
            }
        }
        instances.close();
    }

    @Test
    void terminalSizeResizeAndStatus() throws Exception {
        TerminalScreen screen = new TerminalScreen(true, WAIT);
        PipedOutputStream keyboard = new PipedOutputStream();
        ExecRequest r = ExecRequest.builder("sh", "-c", "stty size; read x; stty size; echo \"[$x]\"; exit 7")
                .interactive(true).window(91, 17).build();
        try (Cmd c = vm.exec(r, new PipedInputStream(keyboard), screen, null)) {
            screen.await("17 91\n");
            c.windowResize(133, 41);
            keyboard.write("typed\n".getBytes(StandardCharsets.UTF_8));
            keyboard.close();
            assertEquals(7, c.waitFor(WAIT));
        }
        assertEquals("17 91\ntyped\n41 133\n[typed]\n", screen.text());
        Path key = vm.path().resolve("ssh_key");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key)));
    }

    @Test
    void signalEndsTheCommandWith128PlusN() throws Exception {
        TerminalScreen screen = new TerminalScreen(true, WAIT);
        ExecRequest r = ExecRequest.builder("sh", "-c", "echo started; exec sleep 60").interactive(true).build();
        try (Cmd c = vm.exec(r, null, screen, null)) {
            screen.await("started\n");
            c.signal(15);
            assertEquals(128 + 15, c.waitFor(WAIT));
            assertThrows(InvalidArgumentException.class, () -> c.signal(40));
        }
    }

    @Test
    void missingCommandIsReportedAsTheAgentsAre() {
        ExecRequest r = ExecRequest.builder("/no/such/command").interactive(true).build();
        try (Cmd c = vm.exec(r, null, OutputStream.nullOutputStream(), null)) {
            assertThrows(InvalidArgumentException.class, () -> c.waitFor(WAIT));
        }
    }

    @Test
    void reopenedSessionFindsTheForwardedPort() {
        assertEquals("/dev/pts", interactive(vm, "tty").substring(0, 8)); // key installed by this session
        instances.close();
        instances = new QemuDriver().open(dir.resolve("root"), TestGuest.settings());
        vm = (QemuVm) instances.load(vm.name());
        assertEquals("again\n", interactive(vm, "echo", "again"));
    }

    @Test
    void unreachableSshNamesThePort() throws IOException {
        Path run = Files.createDirectories(dir.resolve("fake-run"));
        int port = GuestSsh.allocatePort(run); // nothing listens there
        try (GuestSsh ssh = new GuestSsh(run, dir, () -> fail("no agent needed"), java.time.Instant.EPOCH,
                Duration.ZERO, Thread::new)) {
            IncusException e = assertThrows(IncusException.class, ssh::client);
            assertTrue(e.getMessage().startsWith("Cannot reach the VM's SSH server on 127.0.0.1:" + port + ": "),
                    e.getMessage());
        }
    }

    @Test
    void latencyOfAnInteractiveTrue() {
        interactive(vm, "true"); // connection and key set up
        long[] ns = new long[10];
        for (int k = 0; k < ns.length; k++) {
            long t = System.nanoTime();
            interactive(vm, "true");
            ns[k] = System.nanoTime() - t;
        }
        Arrays.sort(ns);
        System.out.printf("interactive true: median %.1f ms, min %.1f ms, max %.1f ms%n", ns[5] / 1e6, ns[0] / 1e6,
                ns[9] / 1e6);
    }

    private static String interactive(Instance i, String... argv) {
        TerminalScreen out = new TerminalScreen(true, WAIT);
        try (Cmd c = i.exec(ExecRequest.builder(argv).interactive(true).build(), null, out, null)) {
            assertEquals(0, c.waitFor(WAIT), "exit status of " + Arrays.toString(argv) + ": " + out.text());
        }
        return out.text();
    }
}
