package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.io.ConsoleSession;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

/**
 * An instance's console: a ring buffer of everything printed on it (what {@code consoleLog} reads; bounded, it grows
 * as needed so that a quiet instance stays small) and the sessions attached to it, served by a simulated getty that
 * echoes what is typed and prompts for a login at each line. Nothing here needs a thread: typing runs the getty in
 * the typist's thread, and output is offered to each session without blocking (what a session does not read in time
 * is dropped for it, as a slow terminal loses output, but stays in the ring buffer).
 */
final class FakeConsole {
    /** The ring buffer's bound, liblxc's default console buffer size. */
    static final int CAPACITY = 128 * 1024;
    private static final int SESSION_BUFFER = 64 * 1024;

    /** The instance's name, read at each use: it may be renamed while stopped. */
    private final Supplier<String> name;
    private byte[] ring = new byte[256];
    private int start;
    private int length;
    private final List<Session> sessions = new CopyOnWriteArrayList<>();

    FakeConsole(Supplier<String> name) {
        this.name = name;
    }

    /** Prints on the console: into the ring buffer and to every attached session. */
    void print(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        synchronized (this) {
            append(b);
        }
        for (Session s : sessions) {
            s.pipe.offer(b, 0, b.length);
        }
    }

    private void append(byte[] b) {
        if (length + b.length > ring.length && ring.length < CAPACITY) {
            int size = ring.length;
            while (size < length + b.length && size < CAPACITY) {
                size *= 2;
            }
            byte[] grown = new byte[Math.min(size, CAPACITY)];
            copyOut(grown, 0, length);
            ring = grown;
            start = 0;
        }
        int from = Math.max(0, b.length - ring.length);
        for (int i = from; i < b.length; i++) {
            if (length < ring.length) {
                ring[(start + length) % ring.length] = b[i];
                length++;
            } else {
                ring[start] = b[i];
                start = (start + 1) % ring.length;
            }
        }
    }

    private void copyOut(byte[] to, int skip, int n) {
        for (int i = 0; i < n; i++) {
            to[i] = ring[(start + skip + i) % ring.length];
        }
    }

    /** The buffer's content (at most {@code max} bytes from its start when {@code max > 0}); optionally cleared. */
    synchronized String read(long max, boolean clear) {
        int n = max > 0 ? (int) Math.min(max, length) : length;
        byte[] out = new byte[n];
        copyOut(out, 0, n);
        if (clear) {
            clear();
        }
        return new String(out, StandardCharsets.UTF_8);
    }

    synchronized void clear() {
        ring = new byte[256];
        start = 0;
        length = 0;
    }

    /** Attaches a session; the getty greets it with a login prompt. */
    ConsoleSession attach() {
        Session s = new Session();
        sessions.add(s);
        byte[] prompt = ("\r\n" + name.get() + " login: ").getBytes(StandardCharsets.UTF_8);
        s.pipe.offer(prompt, 0, prompt.length);
        return s;
    }

    /** Detaches every session (the instance stopped). */
    void detachAll() {
        for (Session s : sessions) {
            s.close();
        }
    }

    private final class Session implements ConsoleSession {
        final BoundedPipe pipe = new BoundedPipe(SESSION_BUFFER, null);
        final CompletableFuture<Void> disconnected = new CompletableFuture<>();
        private final OutputStream keyboard = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (disconnected.isDone()) {
                    throw new IOException("The console session is closed");
                }
                StringBuilder echo = new StringBuilder();
                for (int i = off; i < off + len; i++) {
                    char c = (char) (b[i] & 0xff);
                    if (c == '\r' || c == '\n') {
                        echo.append("\r\n").append(name.get()).append(" login: ");
                    } else {
                        echo.append(c);
                    }
                }
                print(echo.toString());
            }
        };

        @Override
        public InputStream output() {
            return pipe.input();
        }

        @Override
        public OutputStream input() {
            return keyboard;
        }

        @Override
        public CompletionStage<Void> disconnected() {
            return disconnected;
        }

        @Override
        public void close() {
            if (sessions.remove(this)) {
                pipe.closeOutput();
                disconnected.complete(null);
            }
        }
    }
}
