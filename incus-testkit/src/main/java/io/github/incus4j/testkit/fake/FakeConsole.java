package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.api.internal.io.BulkOutputStream;
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
 * as needed so that a quiet instance stays small) and the sessions attached to it. As busybox init's
 * {@code console::askfirst:/bin/sh}, each boot prints "Please press Enter to activate this console." and the first
 * line typed starts a shell; then every line typed is run by the instance's {@code sh} (through {@link LineRunner})
 * with its output on the console, followed by a new prompt. What is typed is echoed, as a terminal does. Typing
 * needs no thread of its own; commands run on the driver's threads, one at a time, in the order typed.
 * Output is offered to each session without blocking (what a session does not read in time is dropped for it, as a
 * slow terminal loses output, but stays in the ring buffer).
 */
final class FakeConsole {
    /** Runs a line typed on the console; {@code done} runs when the command ends. */
    interface LineRunner {
        void run(String line, OutputStream console, Runnable done);
    }

    private static final String PROMPT = "/ # ";

    /** The ring buffer's bound, liblxc's default console buffer size. */
    static final int CAPACITY = 128 * 1024;
    private static final int SESSION_BUFFER = 64 * 1024;

    /** The instance's name, read at each use: it may be renamed while stopped. */
    private final Supplier<String> name;
    private byte[] ring = new byte[256];
    private int start;
    private int length;
    private final List<Session> sessions = new CopyOnWriteArrayList<>();
    private final LineRunner runner;
    private final StringBuilder typed = new StringBuilder();
    private final java.util.ArrayDeque<String> pending = new java.util.ArrayDeque<>();
    private boolean activated;
    private boolean running;
    /** Counts boots: a command still running from before a stop must not prompt on the next boot's shell. */
    private long boot;

    FakeConsole(Supplier<String> name, LineRunner runner) {
        this.name = name;
        this.runner = runner;
    }

    /** A boot: init asks for Enter before it starts the console's shell. */
    void booted() {
        synchronized (this) {
            boot++;
            activated = false;
            running = false;
            typed.setLength(0);
            pending.clear();
        }
        print("\r\nPlease press Enter to activate this console. ");
    }

    /** An output stream onto the console, as a tty with {@code onlcr}: LF becomes CR LF. */
    OutputStream terminal() {
        return new BulkOutputStream() {
            @Override
            public void write(byte[] b, int off, int len) {
                print(new String(b, off, len, StandardCharsets.UTF_8).replace("\r\n", "\n").replace("\n", "\r\n"));
            }
        };
    }

    /** What the keyboard sends: echoed, collected into lines, and each line handed to init or the shell. */
    private void type(byte[] b, int off, int len) {
        StringBuilder echo = new StringBuilder();
        for (int i = off; i < off + len; i++) {
            char c = (char) (b[i] & 0xff);
            String line = null;
            synchronized (this) {
                if (c == '\r' || c == '\n') {
                    echo.append("\r\n");
                    line = typed.toString();
                    typed.setLength(0);
                } else if (c == 0x7f || c == '\b') {
                    if (typed.length() > 0) {
                        typed.setLength(typed.length() - 1);
                        echo.append("\b \b");
                    }
                } else if (c >= ' ' || c == '\t') {
                    typed.append(c);
                    echo.append(c);
                }
            }
            if (line != null) {
                print(echo.toString()); // the echo of a line comes before what running it prints
                echo.setLength(0);
                enter(line);
            }
        }
        if (echo.length() > 0) {
            print(echo.toString());
        }
    }

    private void enter(String line) {
        long at;
        synchronized (this) {
            if (!activated) {
                activated = true; // askfirst: the line only starts the shell
                line = null;
            } else if (running) {
                pending.add(line);
                return;
            } else {
                running = true;
            }
            at = boot;
        }
        if (line == null) {
            print(PROMPT);
            return;
        }
        runOne(line, at);
    }

    private void runOne(String line, long at) {
        runner.run(line, terminal(), () -> {
            String next;
            synchronized (this) {
                if (boot != at) {
                    return;
                }
                next = pending.poll();
                running = next != null;
            }
            print(PROMPT);
            if (next != null) {
                runOne(next, at);
            }
        });
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

    /**
     * Takes up to {@code max} bytes (all when {@code max <= 0}) from the buffer's start: what is returned is gone
     * from the buffer, as liblxc's ring buffer read moves its read position.
     */
    synchronized String take(long max) {
        int n = max > 0 ? (int) Math.min(max, length) : length;
        byte[] out = new byte[n];
        copyOut(out, 0, n);
        start = (start + n) % ring.length;
        length -= n;
        return new String(out, StandardCharsets.UTF_8);
    }

    synchronized void clear() {
        ring = new byte[256];
        start = 0;
        length = 0;
    }

    /** Attaches a session; it sees what is printed from now on. */
    ConsoleSession attach() {
        Session s = new Session();
        sessions.add(s);
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
        private final OutputStream keyboard = new BulkOutputStream() {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (disconnected.isDone()) {
                    throw new IOException("The console session is closed");
                }
                type(b, off, len);
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
