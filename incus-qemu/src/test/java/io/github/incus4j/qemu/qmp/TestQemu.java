package io.github.incus4j.qemu.qmp;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A bare QEMU with only a QMP monitor, paused before the guest runs: {@code qemu-system-x86_64 -machine
 * q35,accel=tcg -m 64 -nodefaults -display none -qmp unix:<sock>,server=on,wait=off -S}. Closing it kills it.
 */
final class TestQemu implements AutoCloseable {
    static final String BINARY = "qemu-system-x86_64";

    private final Process process;
    private final Path monitor;

    private TestQemu(Process process, Path monitor) {
        this.process = process;
        this.monitor = monitor;
    }

    /** The binary on the PATH, if any. */
    static Optional<Path> binary() {
        return Stream.of(System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator))
                .map(p -> Path.of(p, BINARY)).filter(Files::isExecutable).findFirst();
    }

    /** Starts QEMU with its monitor at {@code dir/qmp.sock} and waits (up to 10 s) for the socket to appear. */
    static TestQemu start(Path dir) throws IOException, InterruptedException {
        Path sock = dir.resolve("qmp.sock");
        Files.deleteIfExists(sock);
        Process p = new ProcessBuilder(BINARY, "-machine", "q35,accel=tcg", "-m", "64", "-nodefaults", "-display",
                "none", "-qmp", "unix:" + sock + ",server=on,wait=off", "-S")
                .redirectErrorStream(true).redirectOutput(dir.resolve("qemu.out").toFile()).start();
        TestQemu qemu = new TestQemu(p, sock);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(sock)) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    throw new IOException("QEMU did not create its monitor socket: "
                            + Files.readString(dir.resolve("qemu.out")));
                }
                Thread.sleep(5);
            }
            return qemu;
        } catch (IOException | InterruptedException | RuntimeException e) {
            qemu.close();
            throw e;
        }
    }

    Path monitor() {
        return monitor;
    }

    /**
     * Connects to the monitor. QEMU creates the socket file before it listens on it: a connect that comes in
     * between is refused, and is tried again (for up to 10 s).
     */
    QmpClient connect(QmpClient.Options options) throws InterruptedException {
        return connectWhenListening(monitor, options);
    }

    /** {@link #connect}, for a QEMU started elsewhere (the benchmark's). */
    static QmpClient connectWhenListening(Path monitor, QmpClient.Options options) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                return QmpClient.connect(monitor, options);
            } catch (QmpException e) {
                if (!(e.getCause() instanceof java.net.ConnectException) || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(5);
            }
        }
    }

    Process process() {
        return process;
    }

    /** Sends {@code signal} (STOP, CONT, KILL...) to QEMU with kill(1). */
    void signal(String signal) {
        try {
            int rc = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).start().waitFor();
            if (rc != 0) {
                throw new IllegalStateException("kill -" + signal + " failed: " + rc);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Kills QEMU (SIGKILL) and waits for it. */
    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
