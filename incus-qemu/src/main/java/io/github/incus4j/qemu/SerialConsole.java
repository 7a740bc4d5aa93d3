package io.github.incus4j.qemu;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.io.ConsoleSession;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

/**
 * The serial console of a running VM, attached as Incus does it: the {@code console} chardev is switched from its
 * ring buffer to a unix socket server ({@code chardev-change}), this session connects to it, and closing switches it
 * back. One session at a time. {@link #disconnected()} completes on close or when QEMU goes away.
 */
final class SerialConsole implements ConsoleSession {
    private static final System.Logger LOG = System.getLogger(SerialConsole.class.getName());

    private final Machine machine;
    private final SocketChannel channel;
    private final int ringbufSize;
    private final InputStream output;
    private final OutputStream input;
    private final CompletableFuture<Void> disconnected = new CompletableFuture<>();

    private SerialConsole(Machine machine, SocketChannel channel, int ringbufSize) {
        this.machine = machine;
        this.channel = channel;
        this.ringbufSize = ringbufSize;
        this.output = Channels.newInputStream(channel);
        this.input = Channels.newOutputStream(channel);
    }

    static SerialConsole attach(Machine m, int ringbufSize, Executor executor) {
        if (!m.consoleAttached.compareAndSet(false, true)) {
            throw new BusyException("A console session is already attached to this VM");
        }
        try {
            Files.deleteIfExists(m.run.console());
            m.qmp.execute("chardev-change", Map.of("id", "console", "backend", Map.of("type", "socket", "data",
                    Map.of("addr", Map.of("type", "unix", "data", Map.of("path", m.run.console().toString())),
                            "server", true, "wait", false))));
            SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(m.run.console()));
            SerialConsole c = new SerialConsole(m, ch, ringbufSize);
            m.qmp.disconnected().whenComplete((v, t) -> c.close());
            return c;
        } catch (IOException | RuntimeException e) {
            m.consoleAttached.set(false);
            throw new IncusException("Cannot attach to the console: " + e.getMessage(), e);
        }
    }

    @Override
    public InputStream output() {
        return output;
    }

    @Override
    public OutputStream input() {
        return input;
    }

    @Override
    public CompletionStage<Void> disconnected() {
        return disconnected;
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
