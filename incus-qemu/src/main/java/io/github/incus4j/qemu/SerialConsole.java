package io.github.incus4j.qemu;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.io.StreamConsoleSession;
import io.github.incus4j.qemu.qmp.UnixSockets;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadFactory;

/**
 * The serial console of a running VM, attached as Incus does it: the {@code console} chardev is switched from its
 * ring buffer to a unix socket server ({@code chardev-change}), this session connects to it, and closing switches it
 * back. One session at a time. {@link #disconnected()} completes on close or when QEMU goes away.
 */
final class SerialConsole extends StreamConsoleSession {
    private static final System.Logger LOG = System.getLogger(SerialConsole.class.getName());
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

    private final Machine machine;
    private final SocketChannel channel;
    private final int ringbufSize;

    private SerialConsole(Machine machine, SocketChannel channel, int ringbufSize) {
        super(Channels.newInputStream(channel), Channels.newOutputStream(channel), new CompletableFuture<>());
        this.machine = machine;
        this.channel = channel;
        this.ringbufSize = ringbufSize;
    }

    /**
     * Switches the chardev to a socket and connects to it.
     *
     * @param threads for the connect's helper when the socket's backlog is full (see {@link UnixSockets})
     * @throws BusyException a console session is already attached
     * @throws IncusException {@code Cannot attach to the console: ...}, an {@link OperationTimeoutException} when
     *     the socket did not take the connection within {@link #CONNECT_TIMEOUT}
     */
    static SerialConsole attach(Machine m, int ringbufSize, ThreadFactory threads) {
        if (!m.consoleAttached.compareAndSet(false, true)) {
            throw new BusyException("A console session is already attached to this VM");
        }
        try {
            Files.deleteIfExists(m.run.console());
            m.qmp.execute("chardev-change", Map.of("id", "console", "backend", Map.of("type", "socket", "data",
                    Map.of("addr", Map.of("type", "unix", "data", Map.of("path", m.run.console().toString())),
                            "server", true, "wait", false))));
            SocketChannel ch = UnixSockets.connect(m.run.console(), CONNECT_TIMEOUT, threads, "console "
                    + m.run.console(), "Console connection timed out");
            SerialConsole c = new SerialConsole(m, ch, ringbufSize);
            m.qmp.disconnected().whenComplete((v, t) -> c.close());
            return c;
        } catch (OperationTimeoutException e) {
            m.consoleAttached.set(false);
            throw e;
        } catch (IOException | RuntimeException e) {
            m.consoleAttached.set(false);
            throw new IncusException("Cannot attach to the console: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (disconnected.isDone()) {
                return;
            }
            try {
                channel.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "Console close: {0}", e.getMessage());
            }
            if (machine.qmp.isConnected()) {
                try {
                    machine.qmp.execute("chardev-change", Map.of("id", "console", "backend", Map.of("type",
                            "ringbuf", "data", Map.of("size", ringbufSize))));
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "Console back to the ring buffer: {0}", e.getMessage());
                }
            }
            machine.consoleAttached.set(false);
        }
        disconnected.complete(null);
    }
}
