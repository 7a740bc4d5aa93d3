package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.exec.ConsoleSession;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The console on a real busybox container: what its init runs on the console answers keystrokes. */
class LxcConsoleTest {
    private static final long WAIT_MS = 15_000;

    @TempDir
    Path dir;
    private LxcInstances lxc;
    private Instance c;

    @BeforeEach
    void start() {
        LxcHost.require();
        lxc = new LxcDriver().open(LxcHost.searchable(dir.resolve("root")), Duration.ofSeconds(30));
        c = LxcHost.runningBusybox(lxc, "con-");
    }

    @AfterEach
    void stop() {
        LxcHost.deleteAll(lxc);
    }

    /**
     * Types {@code line} every half second until the console shows {@code expected} (or fails after 15 s): what is
     * typed while the container's init is still setting up its console may be dropped, and the first line only
     * activates the console (busybox init's {@code askfirst}).
     */
    static void typeUntil(ConsoleSession s, String line, String expected) throws Exception {
        ByteArrayOutputStream seen = new ByteArrayOutputStream();
        CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> {
            byte[] buf = new byte[4096];
            try {
                int n;
                while ((n = s.output().read(buf)) >= 0) {
                    synchronized (seen) {
                        seen.write(buf, 0, n);
                    }
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
        while (System.nanoTime() < deadline && !reader.isDone()) {
            synchronized (seen) {
                if (seen.toString(StandardCharsets.UTF_8).contains(expected)) {
                    return;
                }
            }
            s.input().write(line.getBytes(StandardCharsets.US_ASCII));
            s.input().flush();
            Thread.sleep(500);
        }
        synchronized (seen) {
            throw new AssertionError("no \"" + expected + "\" on the console; read: " + seen);
        }
    }

    @Test
    void keystrokesReachTheShellOnTheConsoleEscapeIncluded() throws Exception {
        try (ConsoleSession s = c.console("console")) {
            // lxc-console's default escape is Ctrl+a, and Ctrl+a q would detach: with the escape disabled it is typed
            // into the container (and swallowed with the line that activates the console).
            s.input().write(new byte[] {1, 'q'});
            // lxc's busybox template: "console::askfirst:/bin/sh", a shell once Enter is pressed. The product is
            // computed by that shell: an echo of what was typed does not contain it.
            typeUntil(s, "echo con$((6*7))sole\n", "con42sole");
        }
    }

    @Test
    void closeEndsLxcConsoleAndLeavesNoDescriptor() throws Exception {
        // One session first, so that classes and driver threads loaded once are not counted as leaks.
        c.console("console").close();
        long before = openFds();
        ConsoleSession s = c.console("console");
        long helpers = ProcessHandle.current().children()
                .filter(p -> p.info().command().orElse("").endsWith("lxc-console")).count();
        assertEquals(1, helpers, "one lxc-console child while attached");
        s.close();
        s.disconnected().toCompletableFuture().get(WAIT_MS, TimeUnit.MILLISECONDS);
        assertEquals(-1, s.output().read(), "no output after close");
        assertEquals(before, openFds(), "descriptors after close");
        assertTrue(ProcessHandle.current().children()
                .noneMatch(p -> p.info().command().orElse("").endsWith("lxc-console")), "lxc-console ended");
    }

    @Test
    void outputEndsWhenTheContainerStops() throws Exception {
        try (ConsoleSession s = c.console("console")) {
            c.stop(false);
            s.disconnected().toCompletableFuture().get(WAIT_MS, TimeUnit.MILLISECONDS);
            CompletableFuture<Void> drained = CompletableFuture.runAsync(() -> {
                try {
                    s.output().readAllBytes();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            drained.get(WAIT_MS, TimeUnit.MILLISECONDS);
        }
    }

    static long openFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
