package io.github.incus4j.api.internal.sftp;

import static io.github.incus4j.api.internal.sftp.SftpWire.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.internal.io.BulkInputStream;
import io.github.incus4j.api.internal.io.BulkOutputStream;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.spi.FileBackend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apiguardian.api.API;

/**
 * A minimal SFTP version 3 client over a {@link Connection}: {@code sftp.NewClientPipe(conn, conn)} for a driver's
 * {@code fileSftpConn()}, or any SFTP server's stdin/stdout (OpenSSH's {@code sftp-server} included). One request
 * is in flight at a time (calls from several threads queue); reads and writes move 64 KiB per request. Every wait for
 * the server is bounded: the handshake by {@link #HANDSHAKE_TIMEOUT}, each reply by {@link #REPLY_TIMEOUT} (or what
 * {@link #open(Connection, Duration, Duration)} says); when one passes, the connection is closed (which unblocks the
 * read on pipes and sockets) and the call fails with {@link OperationTimeoutException}, the session being over.
 * Failures map to the API's exceptions as the SFTP status says ({@code NO_SUCH_FILE} is
 * {@link NotFoundException}, {@code PERMISSION_DENIED} {@link PermissionDeniedException}, {@code OP_UNSUPPORTED}
 * {@link NotSupportedException}); a broken connection is an {@link IncusException}, a call after {@link #close()}
 * an {@link IllegalStateException}.
 */
@API(status = INTERNAL)
public final class WireSftpClient implements SftpClient {
    /** How long {@link #open(Connection)} waits for the server's VERSION: it needs nothing but the server. */
    public static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(30);
    /**
     * How long one request waits for its reply by default: generous, as a server may itself wait for a guest agent
     * (the qemu driver waits up to a minute for one after a start) before it answers.
     */
    public static final Duration REPLY_TIMEOUT = Duration.ofMinutes(5);

    private final Connection conn;
    private final InputStream in;
    private final OutputStream out;
    private final Duration replyTimeout;
    private int nextId;
    private boolean closed;
    /** Closed by {@link #close()}, not by a timeout: a later call is the caller's mistake. */
    private boolean closedByCaller;

    private WireSftpClient(Connection conn, Duration replyTimeout) {
        this.conn = conn;
        this.in = conn.input();
        this.out = conn.output();
        this.replyTimeout = replyTimeout;
    }

    /**
     * Starts a session on {@code conn} (INIT, VERSION) with the default bounds; the client owns the connection from
     * here and closes it.
     *
     * @throws IncusException if the server does not speak SFTP version 3 or the connection fails
     * @throws OperationTimeoutException if the server does not answer within {@link #HANDSHAKE_TIMEOUT}
     */
    public static WireSftpClient open(Connection conn) {
        return open(conn, HANDSHAKE_TIMEOUT, REPLY_TIMEOUT);
    }

    /**
     * Starts a session on {@code conn}, waiting at most {@code handshakeTimeout} for the server's VERSION and at most
     * {@code replyTimeout} for each later reply.
     *
     * @throws IncusException if the server does not speak SFTP version 3 or the connection fails
     * @throws OperationTimeoutException if the server does not answer the handshake in time
     */
    public static WireSftpClient open(Connection conn, Duration handshakeTimeout, Duration replyTimeout) {
        requirePositive(handshakeTimeout, "handshake timeout");
        requirePositive(replyTimeout, "reply timeout");
        WireSftpClient c = new WireSftpClient(conn, replyTimeout);
        try {
            Reader r = c.exchange(new Writer(INIT).u32(VERSION), handshakeTimeout, "the SFTP handshake");
            if (r == null || r.type() != VERSION_REPLY) {
                throw new IncusException("The peer did not answer the SFTP handshake");
            }
            int v = r.u32();
            if (v != VERSION) {
                throw new IncusException("The SFTP server speaks version " + v + ", not " + VERSION);
            }
        } catch (IOException | RuntimeException e) {
            c.close();
            throw e instanceof IncusException ie ? ie : new IncusException("SFTP handshake failed: " + e.getMessage(), e);
        }
        return c;
    }

    private static void requirePositive(Duration d, String what) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new InvalidArgumentException("The SFTP " + what + " must be positive, got " + d);
        }
    }

    /** Closes connections whose reply is late; its one thread ends when no wait is pending. */
    private static final class Watchdog {
        static final ScheduledThreadPoolExecutor TIMER = timer();

        private static ScheduledThreadPoolExecutor timer() {
            ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
                Thread th = new Thread(r, "incus4j-sftp-timeout");
                th.setDaemon(true);
                return th;
            });
            t.setRemoveOnCancelPolicy(true);
            t.setKeepAliveTime(10, TimeUnit.SECONDS);
            t.allowCoreThreadTimeOut(true);
            return t;
        }
    }

    /**
     * Sends {@code request} and reads one packet from the server, in at most {@code timeout} together: past it the
     * connection is closed from the watchdog's thread (directly, not through {@link #close()}, whose lock a caller of
     * {@link #call} holds), which ends a write into a full pipe or a blocked read, and the exchange fails with
     * {@link OperationTimeoutException}.
     */
    private Reader exchange(Writer request, Duration timeout, String what) throws IOException {
        AtomicBoolean late = new AtomicBoolean();
        ScheduledFuture<?> alarm = Watchdog.TIMER.schedule(() -> {
            late.set(true);
            try {
                conn.close();
            } catch (IOException | RuntimeException e) {
                // Closing is all we can do; the reader sees the close either way.
            }
        }, timeout.toNanos(), TimeUnit.NANOSECONDS);
        Reader r;
        try {
            request.send(out);
            r = readPacket(in);
        } catch (IOException | RuntimeException e) {
            if (late.get()) {
                throw timedOut(what, timeout, e);
            }
            throw e;
        } finally {
            alarm.cancel(false);
        }
        if (late.get()) {
            throw timedOut(what, timeout, null);
        }
        return r;
    }

    private OperationTimeoutException timedOut(String what, Duration timeout, Throwable cause) {
        synchronized (this) {
            closed = true;
        }
        return new OperationTimeoutException("The SFTP server did not answer " + what + " within "
                + ErrorTexts.duration(timeout) + "; the session is closed", cause);
    }

    // ---- reading ------------------------------------------------------------------------------------------------

    @Override
    public FileAttributes stat(String path) {
        return attrs(path, STAT);
    }

    @Override
    public FileAttributes lstat(String path) {
        return attrs(path, LSTAT);
    }

    private FileAttributes attrs(String path, int type) {
        Reader r = call(req(type).string(path), path);
        expect(r, ATTRS, path);
        return attributes(r);
    }

    @Override
    public InputStream open(String path) {
        String handle = openHandle(path, FXF_READ, null);
        return new BulkInputStream() {
            private long offset;
            private boolean eof;
            private boolean done;

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (done) {
                    throw new IOException("Stream closed");
                }
                if (eof) {
                    return -1;
                }
                if (len == 0) {
                    return 0;
                }
                Reader r = call(req(READ).string(handle).u64(offset).u32(Math.min(len, MAX_DATA)), path);
                if (r == null) {
                    eof = true;
                    return -1;
                }
                expect(r, DATA, path);
                byte[] data = r.bytes();
                if (data.length > len) {
                    throw new IOException("SFTP server sent " + data.length + " bytes, " + len + " asked");
                }
                System.arraycopy(data, 0, b, off, data.length);
                offset += data.length;
                return data.length;
            }

            @Override
            public void close() {
                if (!done) {
                    done = true;
                    closeHandle(handle, path);
                }
            }
        };
    }

    @Override
    public OutputStream create(String path, int mode) {
        String handle = openHandle(path, FXF_WRITE | FXF_CREAT | FXF_TRUNC, mode);
        return new BulkOutputStream() {
            private final byte[] buf = new byte[MAX_DATA];
            private int n;
            private long offset;
            private boolean done;

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (done) {
                    throw new IOException("Stream closed");
                }
                while (len > 0) {
                    int k = Math.min(len, buf.length - n);
                    System.arraycopy(b, off, buf, n, k);
                    n += k;
                    off += k;
                    len -= k;
                    if (n == buf.length) {
                        flush();
                    }
                }
            }

            @Override
            public void flush() {
                if (n > 0) {
                    ok(call(req(WRITE).string(handle).u64(offset).bytes(buf, 0, n), path), path);
                    offset += n;
                    n = 0;
                }
            }

            @Override
            public void close() {
                if (!done) {
                    try {
                        flush();
                    } finally {
                        done = true;
                        closeHandle(handle, path);
                    }
                }
            }
        };
    }

    @Override
    public List<Entry> list(String dir) {
        Reader r = call(req(OPENDIR).string(dir), dir);
        expect(r, HANDLE, dir);
        String handle = string(r);
        List<Entry> out = new ArrayList<>();
        try {
            while (true) {
                Reader names = call(req(READDIR).string(handle), dir);
                if (names == null) {
                    break;
                }
                expect(names, NAME, dir);
                int count = u32(names);
                for (int i = 0; i < count; i++) {
                    String name = string(names);
                    string(names); // longname: for humans
                    FileAttributes a = attributes(names);
                    if (!name.equals(".") && !name.equals("..")) {
                        out.add(new Entry(name, a));
                    }
                }
            }
        } finally {
            closeHandle(handle, dir);
        }
        out.sort(Comparator.comparing(Entry::name));
        return out;
    }

    @Override
    public String readlink(String path) {
        return oneName(call(req(READLINK).string(path), path), path);
    }

    /** The server's canonical form of {@code path} ({@code REALPATH}). */
    public String realpath(String path) {
        return oneName(call(req(REALPATH).string(path), path), path);
    }

    // ---- writing ------------------------------------------------------------------------------------------------

    @Override
    public void mkdir(String path, int mode) {
        ok(call(req(MKDIR).string(path).attrs(new FileBackend.AttrChanges(mode, null, null, null, null)), path), path);
    }

    @Override
    public void remove(String path) {
        ok(call(req(REMOVE).string(path), path), path);
    }

    @Override
    public void rmdir(String path) {
        ok(call(req(RMDIR).string(path), path), path);
    }

    @Override
    public void rename(String from, String to) {
        ok(call(req(RENAME).string(from).string(to), from), from);
    }

    @Override
    public void symlink(String target, String link) {
        // Target first: OpenSSH's order, which Go's pkg/sftp (and so Incus) follows too.
        ok(call(req(SYMLINK).string(target).string(link), link), link);
    }

    @Override
    public void chmod(String path, int mode) {
        setstat(path, new FileBackend.AttrChanges(mode, null, null, null, null));
    }

    @Override
    public void chown(String path, int uid, int gid) {
        setstat(path, new FileBackend.AttrChanges(null, uid, gid, null, null));
    }

    /** Changes attributes ({@code SETSTAT}, following symlinks); {@code null} fields stay. */
    public void setstat(String path, FileBackend.AttrChanges changes) {
        ok(call(req(SETSTAT).string(path).attrs(changes), path), path);
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            closedByCaller = true;
        }
        try {
            conn.close();
        } catch (IOException e) {
            // The session is over either way; a close failure has nothing left to lose.
        }
    }

    // ---- plumbing -----------------------------------------------------------------------------------------------

    private String openHandle(String path, int pflags, Integer mode) {
        Reader r = call(req(OPEN).string(path).u32(pflags)
                .attrs(new FileBackend.AttrChanges(mode, null, null, null, null)), path);
        expect(r, HANDLE, path);
        return string(r);
    }

    private void closeHandle(String handle, String path) {
        ok(call(req(CLOSE).string(handle), path), path);
    }

    /** A request with a fresh id. */
    private synchronized Writer req(int type) {
        return new Writer(type, ++nextId);
    }

    /**
     * Sends a request and reads its reply, from its start: the reply, {@code null} for an {@code EOF} status, an
     * exception for another failure status. {@code OK} statuses come back as the reply, for {@link #ok}.
     */
    private synchronized Reader call(Writer request, String path) {
        if (closed) {
            if (closedByCaller) {
                // Use after close(): a programming error, as with any closed handle.
                throw new IllegalStateException("This file session was closed");
            }
            // An IncusException: a timeout closed the session under the caller.
            throw new IncusException("This file session was closed");
        }
        Reader r;
        int id;
        try {
            r = exchange(request, replyTimeout, "a request about " + ErrorTexts.quote(path));
            if (r == null) {
                throw new IncusException("The SFTP server closed the connection");
            }
            r.type();
            id = r.u32();
        } catch (IOException e) {
            throw new IncusException("SFTP connection failed: " + e.getMessage(), e);
        }
        if (id != request.id()) {
            throw new IncusException("SFTP reply to request " + id + " while waiting for " + request.id());
        }
        Reader status = r.copy();
        if (type(status) != STATUS) {
            return r.copy();
        }
        u32(status);
        int code = u32(status);
        String msg = string(status);
        if (code == FX_OK) {
            return r.copy();
        }
        if (code == FX_EOF) {
            return null;
        }
        throw error(code, msg, path);
    }

    /**
     * The API exception for an SFTP failure status {@code code} with the server's {@code message} about {@code path},
     * as this client raises it: shared with other SFTP clients over our server so that they fail alike.
     */
    public static IncusException statusException(int code, String message, String path) {
        return error(code, message == null ? "" : message, path);
    }

    private static IncusException error(int code, String msg, String path) {
        String q = ErrorTexts.quote(path);
        return switch (code) {
            case FX_NO_SUCH_FILE -> new NotFoundException("No such file or directory: " + q);
            case FX_PERMISSION_DENIED -> new PermissionDeniedException("Permission denied: " + q);
            case FX_OP_UNSUPPORTED -> new NotSupportedException(msg.isEmpty() ? "Operation unsupported" : msg);
            case FX_BAD_MESSAGE -> new IncusException("The SFTP server refused a request as malformed: " + msg);
            default -> failure(msg, q);
        };
    }

    /** A FAILURE status: our server sends the backend's message, which names the kind of failure. */
    private static IncusException failure(String msg, String q) {
        if (msg.startsWith("File exists")) {
            return new BusyException(msg);
        }
        if (msg.startsWith("Is a directory") || msg.startsWith("Not a directory")
                || msg.startsWith("Directory not empty") || msg.startsWith("Not a symbolic link")
                || msg.startsWith("Too many levels") || msg.startsWith("Not a regular file")
                || msg.startsWith("A path ending in") || msg.startsWith("Snapshots cannot be modified")) {
            return new InvalidArgumentException(msg);
        }
        return new IncusException(msg.isEmpty() || msg.equals("Failure") ? "SFTP failure on " + q : msg);
    }

    private static void ok(Reader r, String path) {
        if (r == null || type(r) != STATUS) {
            throw new IncusException("Unexpected SFTP reply for " + ErrorTexts.quote(path));
        }
    }

    private static void expect(Reader r, int type, String path) {
        if (r == null) {
            throw new NotFoundException("No such file or directory: " + ErrorTexts.quote(path));
        }
        int t = type(r);
        if (t != type) {
            throw new IncusException("Unexpected SFTP reply type " + t + " for " + ErrorTexts.quote(path));
        }
        u32(r);
    }

    private static String oneName(Reader r, String path) {
        expect(r, NAME, path);
        if (u32(r) < 1) {
            throw new IncusException("Empty SFTP name reply for " + ErrorTexts.quote(path));
        }
        return string(r);
    }

    private static FileAttributes attributes(Reader r) {
        FileBackend.AttrChanges a;
        try {
            a = r.attrs();
        } catch (BadMessage e) {
            throw new IncusException("Malformed SFTP attributes: " + e.getMessage(), e);
        }
        return new FileAttributes(a.size() == null ? 0 : a.size(), a.uid() == null ? 0 : a.uid(),
                a.gid() == null ? 0 : a.gid(), a.mode() == null ? 0 : a.mode(),
                a.mtime() == null ? Instant.EPOCH : a.mtime());
    }

    private static int type(Reader r) {
        try {
            return r.type();
        } catch (BadMessage e) {
            throw new IncusException("Malformed SFTP reply: " + e.getMessage(), e);
        }
    }

    private static int u32(Reader r) {
        try {
            return r.u32();
        } catch (BadMessage e) {
            throw new IncusException("Malformed SFTP reply: " + e.getMessage(), e);
        }
    }

    private static String string(Reader r) {
        try {
            return r.string();
        } catch (BadMessage e) {
            throw new IncusException("Malformed SFTP reply: " + e.getMessage(), e);
        }
    }
}
