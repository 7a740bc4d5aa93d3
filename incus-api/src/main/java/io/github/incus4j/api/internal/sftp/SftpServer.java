package io.github.incus4j.api.internal.sftp;

import static io.github.incus4j.api.internal.sftp.SftpWire.*;
import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.spi.FileBackend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import org.apiguardian.api.API;

/**
 * An SFTP version 3 server (draft-ietf-secsh-filexfer-02) over a {@link Connection}, serving a {@link FileBackend}:
 * what stands behind {@code Instance.fileSftpConn()} in every driver. It answers the requests OpenSSH's
 * {@code sftp-server} answers in version 3 (OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, STAT, SETSTAT, FSETSTAT,
 * OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, RENAME, READLINK, SYMLINK) and refuses others with
 * {@code OP_UNSUPPORTED}; {@code SYMLINK} takes the target first, as OpenSSH and Go's {@code pkg/sftp} do.
 *
 * <p>Requests are served one at a time, in order. Memory is bounded: a packet above 256 KiB ends the session at once
 * (its body is never read), a malformed request is answered {@code BAD_MESSAGE} and ends it too, a READ returns at
 * most 64 KiB, and at most
 * {@value #MAX_HANDLES} handles are open at once (a directory's listing is taken at OPENDIR, so an open directory
 * costs its entries until CLOSE). A session ends at end of input or on a protocol error; the
 * connection and every handle are closed then.
 */
@API(status = INTERNAL)
public final class SftpServer {
    private static final System.Logger LOG = System.getLogger(SftpServer.class.getName());
    /** Open handles per session: a client leaking handles gets FAILURE, not our memory. */
    public static final int MAX_HANDLES = 512;
    private static final int NAMES_PER_READDIR = 100;
    private static final DateTimeFormatter LS_TIME = DateTimeFormatter.ofPattern("MMM dd HH:mm", Locale.ROOT)
            .withZone(ZoneOffset.UTC);

    private final FileBackend backend;
    private final InputStream in;
    private final OutputStream out;
    private final Map<String, Object> handles = new HashMap<>();
    private int nextHandle;

    private SftpServer(Connection conn, FileBackend backend) {
        this.backend = backend;
        this.in = conn.input();
        this.out = conn.output();
    }

    /**
     * Serves {@code conn} on the calling thread until the client closes it or breaks the protocol, then closes it.
     *
     * @throws IOException if the connection fails or the client sends a malformed or oversized packet
     */
    public static void serve(Connection conn, FileBackend backend) throws IOException {
        SftpServer s = new SftpServer(conn, backend);
        try (conn) {
            s.run();
        } finally {
            s.closeHandles();
        }
    }

    /** Serves {@code conn} on a thread from {@code executor} (a driver's own), logging how the session ended. */
    public static void start(Connection conn, FileBackend backend, Executor executor) {
        executor.execute(() -> {
            try {
                serve(conn, backend);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "SFTP session ended: " + e.getMessage(), e);
            }
        });
    }

    /**
     * The client end of a new in-JVM SFTP session on {@code backend}, served on a thread from {@code executor}: what
     * a driver's {@code fileSftpConn()} returns. The session ends when either end is closed.
     */
    public static Connection open(FileBackend backend, Executor executor) {
        try {
            Pipe toServer = Pipe.open();
            Pipe toClient = Pipe.open();
            Connection server = Connection.of(Channels.newInputStream(toServer.source()),
                    Channels.newOutputStream(toClient.sink()));
            start(server, backend, executor);
            return Connection.of(Channels.newInputStream(toClient.source()),
                    Channels.newOutputStream(toServer.sink()));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot open a pipe for an SFTP session", e);
        }
    }

    private void run() throws IOException {
        Reader init = readPacket(in);
        if (init == null) {
            return;
        }
        if (init.type() != INIT) {
            throw new BadMessage("SFTP session must start with INIT, got packet type " + init.type());
        }
        init.u32(); // the client's version: we answer 3 whatever it asked, as sftp-server does
        new Writer(VERSION_REPLY).u32(VERSION).send(out);
        while (true) {
            // An oversized packet throws here, before its id is known: the client learns of it by the close.
            Reader p = readPacket(in);
            if (p == null) {
                return;
            }
            int type = p.type();
            int id = p.u32();
            try {
                dispatch(type, id, p);
            } catch (BadMessage e) {
                status(id, FX_BAD_MESSAGE, e.getMessage());
                throw e;
            } catch (RuntimeException e) {
                failure(id, e);
            }
        }
    }

    private void dispatch(int type, int id, Reader p) throws IOException {
        switch (type) {
            case OPEN -> open(id, p.string(), p.u32(), p.attrs());
            case CLOSE -> close(id, p.string());
            case READ -> read(id, p.string(), p.u64(), p.u32());
            case WRITE -> write(id, p.string(), p.u64(), p.bytes());
            case LSTAT -> attrs(id, backend.lstat(p.string()));
            case STAT -> attrs(id, backend.stat(p.string()));
            case FSTAT -> attrs(id, backend.stat(pathOf(p.string())));
            case SETSTAT -> setstat(id, p.string(), p.attrs());
            case FSETSTAT -> setstat(id, pathOf(p.string()), p.attrs());
            case OPENDIR -> opendir(id, p.string());
            case READDIR -> readdir(id, p.string());
            case REMOVE -> {
                String path = p.string();
                ok(id, () -> backend.remove(path));
            }
            case MKDIR -> {
                String path = p.string();
                FileBackend.AttrChanges a = p.attrs();
                ok(id, () -> backend.mkdir(path, a.mode() == null ? 0777 : a.mode() & 07777));
            }
            case RMDIR -> {
                String path = p.string();
                ok(id, () -> backend.rmdir(path));
            }
            case REALPATH -> name(id, backend.realpath(p.string()));
            case RENAME -> {
                String from = p.string();
                String to = p.string();
                ok(id, () -> backend.rename(from, to));
            }
            case READLINK -> name(id, backend.readlink(p.string()));
            case SYMLINK -> {
                String target = p.string();
                String link = p.string();
                ok(id, () -> backend.symlink(target, link));
            }
            default -> status(id, FX_OP_UNSUPPORTED, "Operation unsupported: packet type " + type);
        }
    }

    // ---- requests -----------------------------------------------------------------------------------------------

    /** An open file and the path it was opened by (FSTAT, FSETSTAT). */
    private record FileHandle(String path, FileBackend.Handle handle) {
    }

    /** An open directory: its entries, read at OPENDIR, handed out in batches. */
    private static final class DirHandle {
        final String path;
        final List<SftpClient.Entry> entries;
        int next;

        DirHandle(String path, List<SftpClient.Entry> entries) {
            this.path = path;
            this.entries = entries;
        }
    }

    private void open(int id, String path, int pflags, FileBackend.AttrChanges attrs) throws IOException {
        Set<FileBackend.OpenFlag> flags = EnumSet.noneOf(FileBackend.OpenFlag.class);
        flag(flags, pflags, FXF_READ, FileBackend.OpenFlag.READ);
        flag(flags, pflags, FXF_WRITE, FileBackend.OpenFlag.WRITE);
        flag(flags, pflags, FXF_APPEND, FileBackend.OpenFlag.APPEND);
        flag(flags, pflags, FXF_CREAT, FileBackend.OpenFlag.CREATE);
        flag(flags, pflags, FXF_TRUNC, FileBackend.OpenFlag.TRUNCATE);
        flag(flags, pflags, FXF_EXCL, FileBackend.OpenFlag.EXCLUSIVE);
        if (handles.size() >= MAX_HANDLES) {
            status(id, FX_FAILURE, "Too many open handles (limit " + MAX_HANDLES + ")");
            return;
        }
        FileBackend.Handle h = backend.open(path, flags, attrs.mode() == null ? 0666 : attrs.mode() & 07777);
        handle(id, new FileHandle(path, h));
    }

    private static void flag(Set<FileBackend.OpenFlag> set, int pflags, int bit, FileBackend.OpenFlag f) {
        if ((pflags & bit) != 0) {
            set.add(f);
        }
    }

    private void opendir(int id, String path) throws IOException {
        if (handles.size() >= MAX_HANDLES) {
            status(id, FX_FAILURE, "Too many open handles (limit " + MAX_HANDLES + ")");
            return;
        }
        handle(id, new DirHandle(path, backend.list(path)));
    }

    private void readdir(int id, String handle) throws IOException {
        if (!(handles.get(handle) instanceof DirHandle d)) {
            status(id, FX_FAILURE, "Invalid handle");
            return;
        }
        if (d.next >= d.entries.size()) {
            status(id, FX_EOF, "End of file");
            return;
        }
        int end = Math.min(d.entries.size(), d.next + NAMES_PER_READDIR);
        Writer w = new Writer(NAME).u32(id).u32(end - d.next);
        for (; d.next < end; d.next++) {
            SftpClient.Entry e = d.entries.get(d.next);
            w.string(e.name()).string(longname(e)).attrs(e.attributes());
        }
        w.send(out);
    }

    private void read(int id, String handle, long offset, int len) throws IOException {
        if (!(handles.get(handle) instanceof FileHandle f)) {
            status(id, FX_FAILURE, "Invalid handle");
            return;
        }
        if (offset < 0) {
            throw new BadMessage("Negative READ offset " + offset);
        }
        // len is unsigned on the wire: a huge or "negative" request gets the cap.
        int want = len < 0 || len > MAX_DATA ? MAX_DATA : len;
        byte[] buf = new byte[want];
        int n = f.handle().read(offset, buf, 0, want);
        if (n < 0) {
            status(id, FX_EOF, "End of file");
            return;
        }
        new Writer(DATA).u32(id).bytes(buf, 0, n).send(out);
    }

    private void write(int id, String handle, long offset, byte[] data) throws IOException {
        if (!(handles.get(handle) instanceof FileHandle f)) {
            status(id, FX_FAILURE, "Invalid handle");
            return;
        }
        if (offset < 0) {
            throw new BadMessage("Negative WRITE offset " + offset);
        }
        f.handle().write(offset, data, 0, data.length);
        status(id, FX_OK, "Success");
    }

    private void close(int id, String handle) throws IOException {
        Object h = handles.remove(handle);
        if (h == null) {
            status(id, FX_FAILURE, "Invalid handle");
            return;
        }
        if (h instanceof FileHandle f) {
            f.handle().close();
        }
        status(id, FX_OK, "Success");
    }

    private void setstat(int id, String path, FileBackend.AttrChanges changes) throws IOException {
        FileBackend.AttrChanges c = changes.mode() == null ? changes : new FileBackend.AttrChanges(
                changes.mode() & 07777, changes.uid(), changes.gid(), changes.mtime(), changes.size());
        ok(id, () -> backend.setattrs(path, c));
    }

    private String pathOf(String handle) {
        Object h = handles.get(handle);
        if (h instanceof FileHandle f) {
            return f.path();
        }
        if (h instanceof DirHandle d) {
            return d.path;
        }
        throw new InvalidHandle();
    }

    /** A request naming a handle this session does not have. */
    private static final class InvalidHandle extends RuntimeException {
        private static final long serialVersionUID = 1L;

        InvalidHandle() {
            super("Invalid handle");
        }
    }

    // ---- replies ------------------------------------------------------------------------------------------------

    private void ok(int id, Runnable op) throws IOException {
        op.run();
        status(id, FX_OK, "Success");
    }

    private void handle(int id, Object h) throws IOException {
        String name = Integer.toString(nextHandle++);
        handles.put(name, h);
        new Writer(HANDLE).u32(id).string(name).send(out);
    }

    private void attrs(int id, FileAttributes a) throws IOException {
        new Writer(ATTRS).u32(id).attrs(a).send(out);
    }

    private void name(int id, String path) throws IOException {
        // REALPATH and READLINK answer one name with empty attributes, as sftp-server does.
        new Writer(NAME).u32(id).u32(1).string(path).string(path).u32(0).send(out);
    }

    private void status(int id, int code, String message) throws IOException {
        new Writer(STATUS).u32(id).u32(code).string(message == null ? "" : message).string("").send(out);
    }

    /** Maps a backend failure to its status code; the message travels too, so the client can show it. */
    private void failure(int id, RuntimeException e) throws IOException {
        int code;
        if (e instanceof NotFoundException) {
            code = FX_NO_SUCH_FILE;
        } else if (e instanceof NotSupportedException) {
            code = FX_OP_UNSUPPORTED;
        } else if (e instanceof PermissionDeniedException) {
            code = FX_PERMISSION_DENIED;
        } else {
            code = FX_FAILURE;
        }
        if (!(e instanceof IncusException || e instanceof InvalidHandle)) {
            LOG.log(System.Logger.Level.DEBUG, "SFTP request failed unexpectedly", e);
        }
        status(id, code, e.getMessage());
    }

    /** An {@code ls -l} line for READDIR, which OpenSSH's client shows for {@code ls -l}. */
    private static String longname(SftpClient.Entry e) {
        FileAttributes a = e.attributes();
        StringBuilder sb = new StringBuilder(64);
        sb.append(a.isDirectory() ? 'd' : a.isSymlink() ? 'l' : a.isRegularFile() ? '-' : '?');
        String rwx = "rwxrwxrwx";
        for (int i = 0; i < 9; i++) {
            sb.append((a.mode() & (0400 >> i)) != 0 ? rwx.charAt(i) : '-');
        }
        sb.append(String.format(Locale.ROOT, " 1 %-8d %-8d %8d ", a.uid(), a.gid(), a.size()));
        sb.append(a.modified() == null ? "Jan 01 00:00" : LS_TIME.format(a.modified()));
        return sb.append(' ').append(e.name()).toString();
    }

    private void closeHandles() {
        for (Object h : handles.values()) {
            if (h instanceof FileHandle f) {
                try {
                    f.handle().close();
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.DEBUG, "Closing an SFTP handle failed", e);
                }
            }
        }
        handles.clear();
    }
}
