package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One command started by {@code exec}: the {@link Cmd} handed to the caller and the process state its
 * {@link FakeCommand} runs in (exit status, signals, terminal size). The command dies the moment it is killed: its
 * exit status is set, its thread interrupted, and its streams refuse further I/O, whatever the handler still does.
 */
final class Task implements Cmd {
    private static final System.Logger LOG = System.getLogger(Task.class.getName());

    private final Guest guest;
    private final int pid;
    private final String name;
    private final CompletableFuture<Integer> exit = new CompletableFuture<>();
    private final LinkedBlockingQueue<Integer> signals = new LinkedBlockingQueue<>();
    private volatile boolean trapping;
    private volatile int lastSignal;
    private volatile FakeProcess.WindowSize window;
    private Thread thread; // guarded by this

    Task(Guest guest, int pid, String name, FakeProcess.WindowSize window) {
        this.guest = guest;
        this.pid = pid;
        this.name = name;
        this.window = window;
    }

    /** Runs the command on the current (driver-owned) thread and records its exit status. */
    void run(Proc p, FakeCommand handler) {
        Thread self = Thread.currentThread();
        String oldName = self.getName();
        synchronized (this) {
            if (exit.isDone()) {
                return;
            }
            thread = self;
        }
        self.setName(oldName + " " + name + "[" + pid + "]");
        int status;
        try {
            status = handler.run(p);
        } catch (InterruptedException | InterruptedIOException e) {
            status = 130;
        } catch (Exception | AssertionError e) {
            if (!exit.isDone()) {
                LOG.log(System.Logger.Level.DEBUG, "Simulated command " + name + " failed", e);
                p.printErr(name + ": " + e + "\n");
            }
            status = 1;
        } finally {
            synchronized (this) {
                thread = null;
                Thread.interrupted();
            }
            self.setName(oldName);
        }
        try {
            p.stdout().flush();
            p.stderr().flush();
        } catch (IOException e) {
            // The caller's stream failed or the command was killed: the status still counts.
        }
        // Leave the process table first: whoever sees the exit status must not count the command any more.
        guest.tasks.remove(this);
        exit.complete(status & 0xff);
    }

    boolean dead() {
        return exit.isDone();
    }

    /** The runtime the command runs in. */
    Guest guest() {
        return guest;
    }

    /** Completes with the exit status when the command ends. */
    java.util.concurrent.CompletionStage<Integer> exited() {
        return exit;
    }

    /** Ends the command with {@code status} now (a kill). */
    void kill(int status) {
        if (exit.isDone()) {
            return;
        }
        guest.tasks.remove(this);
        if (exit.complete(status)) {
            synchronized (this) {
                if (thread != null) {
                    thread.interrupt();
                }
            }
        }
    }

    /**
     * Ends the command without a status: its VM died under it, so how it ended is unknown and {@link #waitFor}
     * fails with {@code why}, as the qemu driver's commands do.
     */
    void lose(InstanceStateException why) {
        if (exit.isDone()) {
            return;
        }
        guest.tasks.remove(this);
        if (exit.completeExceptionally(why)) {
            synchronized (this) {
                if (thread != null) {
                    thread.interrupt();
                }
            }
        }
    }

    /** Signals the handler awaits; see {@link FakeProcess#awaitSignal}. */
    OptionalInt awaitSignal(Duration timeout) throws InterruptedException {
        trapping = true;
        Integer s = signals.poll(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
        return s == null ? OptionalInt.empty() : OptionalInt.of(s);
    }

    OptionalInt lastSignal() {
        int s = lastSignal;
        return s == 0 ? OptionalInt.empty() : OptionalInt.of(s);
    }

    FakeProcess.WindowSize window() {
        return window;
    }

    /** Sleeps, dying with the command (what {@code sleep} does when signalled). */
    void sleep(long nanos) throws InterruptedException {
        try {
            exit.get(nanos, TimeUnit.NANOSECONDS);
            throw new InterruptedException("killed");
        } catch (TimeoutException e) {
            return;
        } catch (ExecutionException e) {
            throw new InterruptedException("lost with its VM");
        }
    }

    /** Blocks I/O while frozen, refuses it once dead. */
    void enter() throws IOException {
        if (exit.isDone()) {
            throw new InterruptedIOException("Killed");
        }
        guest.awaitThawed();
    }

    void countOut(long n) {
        guest.bytesOut.addAndGet(n);
    }

    void countIn(long n) {
        guest.bytesIn.addAndGet(n);
    }

    // ---- Cmd ----------------------------------------------------------------------------------------------------

    @Override
    public int pid() {
        return pid;
    }

    @Override
    public void signal(int signal) {
        if (signal < 1 || signal > 64) {
            throw new InvalidArgumentException("Invalid signal " + signal + ": expected 1 to 64");
        }
        if (exit.isDone()) {
            return;
        }
        lastSignal = signal;
        if (signal == 9) {
            kill(Cmd.exitStatusForSignal(9));
        } else if (trapping) {
            signals.add(signal);
        } else if (!ignoredByDefault(signal)) {
            kill(Cmd.exitStatusForSignal(signal));
        }
    }

    /** Signals whose default action is not to terminate: SIGCHLD, SIGCONT, SIGSTOP..SIGTTOU, SIGURG, SIGWINCH. */
    private static boolean ignoredByDefault(int signal) {
        return signal == 17 || signal == 18 || signal == 19 || signal == 20 || signal == 21 || signal == 22
                || signal == 23 || signal == 28;
    }

    @Override
    public void windowResize(int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new InvalidArgumentException("Invalid window size: " + width + "x" + height);
        }
        window = new FakeProcess.WindowSize(width, height);
    }

    @Override
    public int waitFor(Duration timeout) {
        try {
            return exit.get(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new OperationTimeoutException(ErrorTexts.commandStillRunning(timeout));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while waiting for command " + ErrorTexts.quote(name), e);
        } catch (ExecutionException e) {
            // Lost with its VM: a fresh exception of the same kind, so that the stack trace shows the caller.
            InstanceStateException lost = (InstanceStateException) e.getCause();
            InstanceStateException fresh = new InstanceStateException(lost.getMessage(), lost.statusCode());
            fresh.addSuppressed(lost);
            throw fresh;
        }
    }

    @Override
    public OptionalInt exitCode() {
        if (exit.isCompletedExceptionally()) {
            return OptionalInt.empty();
        }
        Integer s = exit.getNow(null);
        return s == null ? OptionalInt.empty() : OptionalInt.of(s);
    }

    /** Nothing to release: the command writes to the caller's streams itself; closing does not kill. */
    @Override
    public void close() {
        // Deliberately empty.
    }

    @Override
    public String toString() {
        return "Task[" + name + " pid " + pid + (exit.isDone() ? " exited " + exit.join() : " running") + "]";
    }

    // ---- the process's stream ends --------------------------------------------------------------------------------

    /** Standard output or error: the caller's stream (or nothing), gated by the process's life and freezing. */
    final class Out extends OutputStream {
        private final OutputStream target;

        Out(OutputStream target) {
            this.target = target;
        }

        @Override
        public void write(int b) throws IOException {
            enter();
            if (target != null) {
                target.write(b);
            }
            countOut(1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            enter();
            if (target != null) {
                target.write(b, off, len);
            }
            countOut(len);
        }

        @Override
        public void flush() throws IOException {
            if (target != null) {
                target.flush();
            }
        }

        /** The caller owns its stream: closing the process's end only flushes it. */
        @Override
        public void close() throws IOException {
            flush();
        }
    }

    /** Standard input: the caller's stream (or an empty one), gated likewise. */
    final class In extends InputStream {
        private final InputStream source;

        In(InputStream source) {
            this.source = source;
        }

        @Override
        public int read() throws IOException {
            enter();
            if (source == null) {
                return -1;
            }
            int b = source.read();
            if (b >= 0) {
                countIn(1);
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            enter();
            if (source == null) {
                return -1;
            }
            int n = source.read(b, off, len);
            if (n > 0) {
                countIn(n);
            }
            return n;
        }

        @Override
        public int available() throws IOException {
            return source == null ? 0 : source.available();
        }
    }
}
