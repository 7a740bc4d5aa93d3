package io.github.incus4j.remote;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.internal.io.BulkInputStream;
import io.github.incus4j.api.internal.io.BulkOutputStream;
import io.github.incus4j.api.internal.io.StreamConsoleSession;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;

/**
 * The text console over {@code POST /1.0/instances/<n>/console} ({@code type: console}): one websocket carries the
 * console both ways, a control websocket keeps the session; closing the control socket detaches (incusd then ends
 * the console operation). The session ends when the data socket closes, e.g. when the instance stops.
 */
final class IncusConsole extends StreamConsoleSession {
    private static final System.Logger LOG = System.getLogger(IncusConsole.class.getName());

    private final Session data;
    private final Session control;

    private IncusConsole(Transport transport, Session data, Session control, Output output,
            CompletableFuture<Void> disconnected) {
        super(output, keyboard(transport, data), disconnected);
        this.data = data;
        this.control = control;
    }

    /** Keystrokes, each write sent as one binary message on the data socket and awaited. */
    private static OutputStream keyboard(Transport transport, Session data) {
        return new BulkOutputStream() {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (!data.isOpen()) {
                    throw new IOException("The console is detached");
                }
                CompletableFuture<Void> sent = new CompletableFuture<>();
                data.sendBinary(ByteBuffer.wrap(b.clone(), off, len).slice(), Callback.from(() -> sent.complete(null),
                        sent::completeExceptionally));
                try {
                    sent.get(transport.timeout().toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("Interrupted while typing on the console", e);
                } catch (ExecutionException | TimeoutException e) {
                    throw new IOException("Typing on the console failed: " + Transport.describe(e), e);
                }
            }
        };
    }

    static IncusConsole attach(IncusInstance instance, String protocol, int width, int height) {
        Transport transport = instance.transport();
        Map<String, Object> body = Map.of("type", protocol, "width", width, "height", height);
        Transport.Reply r = transport.call("POST", instance.path("/console"), body);
        JsonNode op = r.metadata();
        String id = op.path("id").asText();
        JsonNode fds = op.path("metadata").path("fds");
        Output output = new Output();
        OutputStream sink = output.sink();
        CompletableFuture<Void> disconnected = new CompletableFuture<>();
        disconnected.whenComplete((v, e) -> output.end());
        String base = "/1.0/operations/" + IncusInstances.seg(id) + "/websocket?secret=";
        Session data = null;
        try {
            data = transport.websocket(base + IncusInstances.seg(fds.path("0").asText()),
                    new IncusExec.Sink(sink, disconnected), transport.timeout());
            Session control = transport.websocket(base + IncusInstances.seg(fds.path("control").asText()),
                    new IncusExec.Sink(null, disconnected), transport.timeout());
            return new IncusConsole(transport, data, control, output, disconnected);
        } catch (RuntimeException e) {
            if (data != null) {
                data.close();
            }
            transport.send("DELETE", "/1.0/operations/" + IncusInstances.seg(id), null, Map.of(),
                    transport.timeout());
            throw e;
        }
    }

    @Override
    public void close() {
        control.close();
        data.close();
        disconnected.complete(null);
    }

    /**
     * What the console prints, queued by the websocket's thread for the reader (a pipe would break when the Jetty
     * thread that wrote last ends). Chunks arrive as the console writes them; the end is an empty chunk.
     */
    private static final class Output extends BulkInputStream {
        private static final byte[] END = new byte[0];
        private final LinkedBlockingQueue<byte[]> chunks = new LinkedBlockingQueue<>();
        private byte[] current;
        private int pos;
        private boolean ended;

        OutputStream sink() {
            return new OutputStream() {
                @Override
                public void write(int b) {
                    chunks.add(new byte[] {(byte) b});
                }

                @Override
                public void write(byte[] b, int off, int len) {
                    if (len > 0) {
                        chunks.add(java.util.Arrays.copyOfRange(b, off, off + len));
                    }
                }
            };
        }

        void end() {
            chunks.add(END);
        }

        @Override
        public synchronized int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (current == null || pos == current.length) {
                if (ended) {
                    return -1;
                }
                try {
                    current = chunks.take(); // the console's own pace: ends when the session does
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("Interrupted while reading the console");
                }
                pos = 0;
                if (current == END) {
                    ended = true;
                    return -1;
                }
            }
            int n = Math.min(len, current.length - pos);
            System.arraycopy(current, pos, b, off, n);
            pos += n;
            return n;
        }
    }
}
