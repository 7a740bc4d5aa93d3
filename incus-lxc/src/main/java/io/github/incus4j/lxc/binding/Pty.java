package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.internal.io.BulkInputStream;
import io.github.incus4j.api.internal.io.BulkOutputStream;
import io.github.incus4j.lxc.binding.ffi.NativeApi.LibC;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import jnr.ffi.LastError;
import jnr.ffi.Runtime;
import org.apiguardian.api.API;

/**
 * A pseudo-terminal allocated in the JVM ({@code posix_openpt}, {@code grantpt}, {@code unlockpt},
 * {@code ptsname_r}) for a helper process to use as its terminal by path ({@link #slavePath()}). The master is read
 * and written through libc, never through a {@code FileDescriptor}. The slave starts in the kernel's default
 * (canonical) mode: a helper that takes the terminal switches it to raw mode itself, which {@link #isCanonical()}
 * lets the owner wait for.
 *
 * <p>The JVM keeps the slave open until the owner says otherwise: the master then never reports a hang-up while the
 * helper is starting (which would look like an end of output before it began), and what the helper leaves unread stays
 * in the pty. The end of output is then announced by the owner, {@link #endOfOutput()}, once the helper is gone:
 * reads return what is left, then -1. An owner whose helper holds the slave from its start may
 * {@link #releaseSlave()} instead, and reads end as soon as the helper's last descriptor is closed. Blocking reads and
 * writes wait in {@code poll} slices of {@value #POLL_MS} ms so that {@link #close()} never closes a descriptor
 * another thread is inside (no fd number reused under a reader). Terminal attributes and the window size are read and
 * set through the master (Linux applies them to the slave).
 */
@API(status = INTERNAL)
public final class Pty implements AutoCloseable {
    private static final int O_RDWR = 02;
    private static final int O_NOCTTY = 0400;
    private static final int O_NONBLOCK = 04000;
    private static final int O_CLOEXEC = 02000000;
    private static final int ICANON = 02;
    private static final int C_LFLAG_OFFSET = 12;
    private static final int C_OFLAG_OFFSET = 4;
    private static final int OPOST = 01;
    private static final int ONLCR = 04;
    private static final long TIOCSWINSZ = 0x5414;
    private static final int EINTR = 4;
    private static final int EIO = 5;
    private static final int EAGAIN = 11;
    private static final long POLLIN = 0x1;
    private static final long POLLOUT = 0x4;
    private static final int POLL_MS = 100;
    private static final int TERMIOS_BYTES = 128;
    private static final int CHUNK = 16384;

    private final LibC libc;
    private final Runtime runtime;
    private final int master;
    private int slave;
    private final String slavePath;
    private final InputStream output = new MasterInput();
    private final OutputStream input = new MasterOutput();
    private int users;
    private boolean closed;
    private volatile boolean ended;

    private Pty(LibC libc, Runtime runtime, int master, int slave, String slavePath) {
        this.libc = libc;
        this.runtime = runtime;
        this.master = master;
        this.slave = slave;
        this.slavePath = slavePath;
    }

    /** Allocates a pty; its descriptors are close-on-exec (no child inherits them). */
    static Pty open(LibC libc, Runtime runtime) {
        // Non-blocking master: a write never blocks past a poll slice when nobody drains the slave.
        int master = libc.posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (master < 0) {
            throw new IncusException("Cannot allocate a pseudo-terminal: posix_openpt failed, errno "
                    + LastError.getLastError(runtime));
        }
        int slave = -1;
        try {
            check(libc.grantpt(master), "grantpt", runtime);
            check(libc.unlockpt(master), "unlockpt", runtime);
            byte[] name = new byte[128];
            int error = libc.ptsname_r(master, name, name.length);
            if (error != 0) {
                throw new IncusException("Cannot name the pseudo-terminal: ptsname_r failed, errno " + error);
            }
            String path = cString(name);
            slave = libc.open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
            check(slave, "open " + path, runtime);
            return new Pty(libc, runtime, master, slave, path);
        } catch (RuntimeException e) {
            if (slave >= 0) {
                libc.close(slave);
            }
            libc.close(master);
            throw e;
        }
    }

    private static void check(int result, String call, Runtime runtime) {
        if (result < 0) {
            throw new IncusException("Pseudo-terminal: " + call + " failed, errno " + LastError.getLastError(runtime));
        }
    }

    private static String cString(byte[] bytes) {
        int n = 0;
        while (n < bytes.length && bytes[n] != 0) {
            n++;
        }
        return new String(bytes, 0, n, StandardCharsets.US_ASCII);
    }

    /** The slave's path, {@code /dev/pts/N}, for the helper's stdin/stdout/stderr. */
    public String slavePath() {
        return slavePath;
    }

    /**
     * Whether the terminal is still in canonical (line) mode, as created. A helper that sets raw mode with
     * {@code TCSAFLUSH} (lxc-console does) discards what was typed before: input is safe once this is false.
     */
    public boolean isCanonical() {
        if (!enter()) {
            throw new IllegalStateException("The pseudo-terminal is closed");
        }
        try {
            return (termiosFlags(C_LFLAG_OFFSET) & ICANON) != 0;
        } finally {
            exit();
        }
    }

    /**
     * Whether the terminal turns each newline written to it into CR LF ({@code OPOST} and {@code ONLCR}, the kernel's
     * default, which {@code lxc-attach} 5.0 keeps in raw mode): then every LF read from the master has a CR inserted
     * before it. False once the pty is closed.
     */
    public boolean mapsNewlines() {
        if (!enter()) {
            return false;
        }
        try {
            int oflag = termiosFlags(C_OFLAG_OFFSET);
            return (oflag & OPOST) != 0 && (oflag & ONLCR) != 0;
        } finally {
            exit();
        }
    }

    private int termiosFlags(int offset) {
        byte[] termios = new byte[TERMIOS_BYTES];
        check(libc.tcgetattr(master, termios), "tcgetattr " + slavePath, runtime);
        return (termios[offset] & 0xff) | (termios[offset + 1] & 0xff) << 8 | (termios[offset + 2] & 0xff) << 16
                | (termios[offset + 3] & 0xff) << 24;
    }

    /**
     * Sets the window size ({@code TIOCSWINSZ}); the kernel sends {@code SIGWINCH} to the terminal's foreground
     * process group, if it is some process's controlling terminal.
     */
    public void resize(int columns, int rows) {
        if (columns <= 0 || rows <= 0 || columns > 0xffff || rows > 0xffff) {
            throw new IllegalArgumentException("Invalid window size: " + columns + "x" + rows);
        }
        if (!enter()) {
            throw new IllegalStateException("The pseudo-terminal is closed");
        }
        try {
            check(libc.ioctl(master, TIOCSWINSZ, new short[] {(short) rows, (short) columns, 0, 0}),
                    "TIOCSWINSZ " + slavePath, runtime);
        } finally {
            exit();
        }
    }

    /**
     * Closes the JVM's descriptor of the slave, once a helper holds its own: reads of the master then end (after what
     * is left) as soon as the helper's last descriptor of the slave is closed, with no need for {@link #endOfOutput()}.
     */
    public synchronized void releaseSlave() {
        if (slave >= 0) {
            libc.close(slave);
            slave = -1;
        }
    }

    /**
     * Starts {@code command} (spawned by the JDK, never a fork of the JVM) with its stdin, stdout and stderr on the
     * slave; no other descriptor of the JVM reaches it.
     */
    public Process spawn(List<String> command) throws IOException {
        File tty = new File(slavePath);
        return new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(tty))
                .redirectOutput(ProcessBuilder.Redirect.to(tty))
                .redirectError(ProcessBuilder.Redirect.to(tty))
                .start();
    }

    /**
     * Waits until the terminal has left canonical mode ({@code true}), or {@code helper} has ended or
     * {@code timeout} passed first ({@code false}).
     */
    public boolean awaitRawMode(Process helper, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (isCanonical()) {
            if (!helper.isAlive() || System.nanoTime() - deadline > 0) {
                return false;
            }
            Thread.sleep(1);
        }
        return true;
    }

    /** What the helper writes on the terminal. */
    public InputStream output() {
        return output;
    }

    /** What the helper reads from the terminal. */
    public OutputStream input() {
        return input;
    }

    /** The helper is gone: once what it wrote is read, reads return -1 and writes fail. */
    public void endOfOutput() {
        ended = true;
    }

    /** Closes both descriptors, at once or when the last read or write in progress returns (within 100 ms). */
    @Override
    public void close() {
        if (markClosed()) {
            release();
        }
    }

    /** Marks the pty closed; true when the caller releases it now (the first close, no read or write in progress). */
    private synchronized boolean markClosed() {
        boolean first = !closed;
        closed = true;
        return first && users == 0;
    }

    private synchronized boolean enter() {
        if (closed) {
            return false;
        }
        users++;
        return true;
    }

    private void exit() {
        boolean last;
        synchronized (this) {
            users--;
            last = closed && users == 0;
        }
        if (last) {
            release();
        }
    }

    private void release() {
        releaseSlave();
        libc.close(master);
    }

    private synchronized boolean isClosed() {
        return closed;
    }

    /** Polls the master for {@code events}: true when ready, false after {@code timeoutMillis}. */
    private boolean poll(long events, int timeoutMillis) throws IOException {
        long[] pollfd = {(master & 0xffffffffL) | events << 32};
        int n = libc.poll(pollfd, 1, timeoutMillis);
        if (n < 0) {
            int errno = LastError.getLastError(runtime);
            if (errno == EINTR) {
                return false;
            }
            throw new IOException("poll on the pseudo-terminal failed, errno " + errno);
        }
        return n > 0;
    }

    private final class MasterInput extends BulkInputStream {
        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            if (!enter()) {
                return -1;
            }
            try {
                byte[] buffer = new byte[Math.min(len, CHUNK)];
                while (true) {
                    boolean wasEnded = ended;
                    if (isClosed()) {
                        return -1;
                    }
                    // Once the helper is gone, only what is already in the pty is left: no need to wait for more.
                    if (!poll(POLLIN, wasEnded ? 0 : POLL_MS)) {
                        if (wasEnded) {
                            return -1; // nothing left of what the helper wrote
                        }
                        continue;
                    }
                    long n = libc.read(master, buffer, buffer.length);
                    if (n > 0) {
                        System.arraycopy(buffer, 0, b, off, (int) n);
                        return (int) n;
                    }
                    int errno = n == 0 ? 0 : LastError.getLastError(runtime);
                    if (n == 0 || errno == EIO) {
                        return -1;
                    }
                    if (errno != EINTR && errno != EAGAIN) {
                        throw new IOException("Reading the pseudo-terminal failed, errno " + errno);
                    }
                }
            } finally {
                exit();
            }
        }
    }

    private final class MasterOutput extends BulkOutputStream {
        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            if (!enter()) {
                throw new IOException("The console is closed");
            }
            try {
                int done = 0;
                while (done < len) {
                    if (isClosed() || ended) {
                        throw new IOException("The console is closed");
                    }
                    if (!poll(POLLOUT, POLL_MS)) {
                        continue;
                    }
                    int size = Math.min(len - done, CHUNK);
                    byte[] chunk = new byte[size];
                    System.arraycopy(b, off + done, chunk, 0, size);
                    long n = libc.write(master, chunk, size);
                    if (n >= 0) {
                        done += (int) n;
                        continue;
                    }
                    int errno = LastError.getLastError(runtime);
                    if (errno != EINTR && errno != EAGAIN) {
                        throw new IOException("Writing to the pseudo-terminal failed, errno " + errno);
                    }
                }
            } finally {
                exit();
            }
        }
    }
}
