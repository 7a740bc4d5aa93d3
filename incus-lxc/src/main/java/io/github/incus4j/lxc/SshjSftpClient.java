package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.sftp.WireSftpClient;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import net.schmizz.sshj.common.LoggerFactory;
import net.schmizz.sshj.connection.channel.direct.Session;
import net.schmizz.sshj.connection.channel.direct.SessionFactory;
import net.schmizz.sshj.sftp.OpenMode;
import net.schmizz.sshj.sftp.RemoteDirectory;
import net.schmizz.sshj.sftp.RemoteFile;
import net.schmizz.sshj.sftp.RemoteResourceInfo;
import net.schmizz.sshj.sftp.SFTPEngine;
import net.schmizz.sshj.sftp.SFTPException;

/**
 * {@link SftpClient} on sshj's SFTP engine over a raw {@link Connection} (Incus's {@code sftp.NewClientPipe(conn,
 * conn)}). sshj needs an SSH session only for the subsystem's two streams, so {@link Proxy} session objects hand it
 * the connection's; its logging goes to {@link System.Logger} ({@code net.schmizz.sshj}), never to slf4j's provider
 * lookup (which would print to stderr when no provider exists). The engine reads replies on sshj's own daemon thread,
 * which ends when the connection closes.
 */
final class SshjSftpClient implements SftpClient {
    /** sshj sends each {@code write()} as one packet; our server refuses packets over 256 KiB. */
    private static final int CHUNK = 32 * 1024;
    private static final int IN_FLIGHT = 16;
    private static final System.Logger LOG = System.getLogger("net.schmizz.sshj");

    private final SFTPEngine engine;

    private SshjSftpClient(SFTPEngine engine) {
        this.engine = engine;
    }

    /** Starts an SFTP session over {@code conn}; closing the client closes the connection. */
    static SshjSftpClient open(Connection conn) {
        try {
            return new SshjSftpClient(new SFTPEngine(sessionFactory(conn)).init());
        } catch (IOException | RuntimeException e) {
            try {
                conn.close();
            } catch (IOException closing) {
                e.addSuppressed(closing);
            }
            throw e instanceof IncusException ie ? ie : new IncusException("SFTP handshake failed: " + e.getMessage(),
                    e);
        }
    }

    // ---- reading ------------------------------------------------------------------------------------------------

    @Override
    public FileAttributes stat(String path) {
        return call(path, () -> attributes(engine.stat(path)));
    }

    @Override
    public FileAttributes lstat(String path) {
        return call(path, () -> attributes(engine.lstat(path)));
    }

    @Override
    public InputStream open(String path) {
        RemoteFile file = call(path, () -> engine.open(path, EnumSet.of(OpenMode.READ)));
        return new FilterInputStream(file.new ReadAheadRemoteFileInputStream(IN_FLIGHT)) {
            @Override
            public void close() throws IOException {
                try {
                    super.close();
                } finally {
                    file.close();
                }
            }
        };
    }

    @Override
    public OutputStream create(String path, int mode) {
        RemoteFile file = call(path, () -> engine.open(path,
                EnumSet.of(OpenMode.WRITE, OpenMode.CREAT, OpenMode.TRUNC),
                new net.schmizz.sshj.sftp.FileAttributes.Builder().withPermissions(mode).build()));
        OutputStream out = file.new RemoteFileOutputStream(0, IN_FLIGHT);
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                out.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                for (int at = off; at < off + len; at += CHUNK) {
                    out.write(b, at, Math.min(CHUNK, off + len - at));
                }
            }

            @Override
            public void flush() throws IOException {
                out.flush();
            }

            @Override
            public void close() throws IOException {
                try {
                    out.close();
                } finally {
                    file.close();
                }
            }
        };
    }

    @Override
    public List<Entry> list(String dir) {
        return call(dir, () -> {
            List<Entry> out = new ArrayList<>();
            try (RemoteDirectory d = engine.openDir(dir)) {
                for (RemoteResourceInfo r : d.scan((net.schmizz.sshj.sftp.RemoteResourceFilter) null)) {
                    if (!r.getName().equals(".") && !r.getName().equals("..")) {
                        out.add(new Entry(r.getName(), attributes(r.getAttributes())));
                    }
                }
            }
            out.sort(Comparator.comparing(Entry::name));
            return out;
        });
    }

    @Override
    public String readlink(String path) {
        return call(path, () -> engine.readLink(path));
    }

    // ---- writing ------------------------------------------------------------------------------------------------

    @Override
    public void mkdir(String path, int mode) {
        run(path, () -> engine.makeDir(path, new net.schmizz.sshj.sftp.FileAttributes.Builder()
                .withPermissions(mode).build()));
    }

    @Override
    public void remove(String path) {
        run(path, () -> engine.remove(path));
    }

    @Override
    public void rmdir(String path) {
        run(path, () -> engine.removeDir(path));
    }

    @Override
    public void rename(String from, String to) {
        run(from, () -> engine.rename(from, to, EnumSet.noneOf(net.schmizz.sshj.sftp.RenameFlags.class)));
    }

    @Override
    public void symlink(String target, String link) {
        // sshj sends its arguments in the draft's order (link first); our server, like OpenSSH and Go's pkg/sftp,
        // takes the first string as the target, so sshj is handed them swapped.
        run(link, () -> engine.symlink(target, link));
    }

    @Override
    public void chmod(String path, int mode) {
        run(path, () -> engine.setAttributes(path, new net.schmizz.sshj.sftp.FileAttributes.Builder()
                .withPermissions(mode).build()));
    }

    @Override
    public void chown(String path, int uid, int gid) {
        run(path, () -> engine.setAttributes(path, new net.schmizz.sshj.sftp.FileAttributes.Builder()
                .withUIDGID(uid, gid).build()));
    }

    @Override
    public void close() {
        try {
            engine.close();
        } catch (IOException e) {
            // The session is over either way.
            LOG.log(System.Logger.Level.DEBUG, "Closing an SFTP session: " + e.getMessage(), e);
        }
    }

    // ---- plumbing -----------------------------------------------------------------------------------------------

    private interface Io<T> {
        T get() throws IOException;
    }

    private interface IoRun {
        void run() throws IOException;
    }

    private static void run(String path, IoRun r) {
        call(path, () -> {
            r.run();
            return null;
        });
    }

    /** Runs an sshj call, mapping its failures as {@link WireSftpClient} maps the same statuses. */
    private static <T> T call(String path, Io<T> io) {
        try {
            return io.get();
        } catch (SFTPException e) {
            throw WireSftpClient.statusException(e.getStatusCode().getCode(), e.getMessage(), path);
        } catch (IOException e) {
            throw new IncusException("SFTP connection failed: " + e.getMessage(), e);
        }
    }

    private static FileAttributes attributes(net.schmizz.sshj.sftp.FileAttributes a) {
        return new FileAttributes(a.getSize(), a.getUID(), a.getGID(), a.getMode().getMask(),
                Instant.ofEpochSecond(a.getMtime()));
    }

    // ---- sshj's session, made of the connection -----------------------------------------------------------------

    private static SessionFactory sessionFactory(Connection conn) {
        LoggerFactory loggers = loggerFactory();
        Object subsystem = proxy(Session.Subsystem.class, conn, (name, args) -> switch (name) {
            case "getInputStream" -> conn.input();
            case "getOutputStream" -> conn.output();
            case "isOpen" -> true;
            case "getRemoteCharset" -> StandardCharsets.UTF_8;
            case "getLoggerFactory" -> loggers;
            default -> common(name, conn);
        });
        Object session = proxy(Session.class, conn, (name, args) -> switch (name) {
            case "startSubsystem" -> subsystem;
            case "getLoggerFactory" -> loggers;
            default -> common(name, conn);
        });
        return (SessionFactory) proxy(SessionFactory.class, conn, (name, args) -> switch (name) {
            case "startSession" -> session;
            default -> common(name, conn);
        });
    }

    private interface Handler {
        Object handle(String method, Object[] args) throws IOException;
    }

    private static Object proxy(Class<?> type, Connection conn, Handler h) {
        return Proxy.newProxyInstance(SshjSftpClient.class.getClassLoader(), new Class<?>[] {type},
                (p, m, args) -> h.handle(m.getName(), args));
    }

    /** The {@code Object} methods and {@code close}; anything else is a method sshj should not need here. */
    private static Object common(String name, Connection conn) throws IOException {
        return switch (name) {
            case "close" -> {
                conn.close();
                yield null;
            }
            case "getRemoteSocketAddress" -> InetSocketAddress.createUnresolved("instance", 0);
            case "toString" -> "sftp over " + conn;
            case "hashCode" -> System.identityHashCode(conn);
            case "equals" -> false;
            default -> throw new UnsupportedOperationException("Not available over an SFTP pipe: " + name);
        };
    }

    /**
     * sshj's loggers as slf4j {@code Logger} proxies writing to {@link System.Logger}: the slf4j type is taken from
     * sshj's own signature, so this module needs no compile-time slf4j.
     */
    private static LoggerFactory loggerFactory() {
        Class<?> loggerType;
        try {
            loggerType = LoggerFactory.class.getMethod("getLogger", String.class).getReturnType();
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException("sshj's LoggerFactory changed", e);
        }
        Object logger = Proxy.newProxyInstance(SshjSftpClient.class.getClassLoader(), new Class<?>[] {loggerType},
                (p, m, args) -> log(m, args));
        return (LoggerFactory) Proxy.newProxyInstance(SshjSftpClient.class.getClassLoader(),
                new Class<?>[] {LoggerFactory.class}, (p, m, args) -> switch (m.getName()) {
                    case "getLogger" -> logger;
                    case "toString" -> "System.Logger for sshj";
                    case "hashCode" -> 0;
                    case "equals" -> false;
                    default -> throw new UnsupportedOperationException(m.getName());
                });
    }

    private static Object log(Method m, Object[] args) {
        String name = m.getName();
        System.Logger.Level level = switch (name.replace("is", "").replace("Enabled", "").toLowerCase()) {
            case "trace" -> System.Logger.Level.TRACE;
            case "debug" -> System.Logger.Level.DEBUG;
            case "info" -> System.Logger.Level.INFO;
            case "warn" -> System.Logger.Level.WARNING;
            case "error" -> System.Logger.Level.ERROR;
            default -> null;
        };
        if (m.getReturnType() == boolean.class) {
            return level != null && LOG.isLoggable(level);
        }
        if (level == null || args == null || args.length == 0 || !LOG.isLoggable(level)) {
            return m.getReturnType() == String.class ? "net.schmizz.sshj" : null;
        }
        StringBuilder msg = new StringBuilder();
        Throwable thrown = null;
        for (Object a : args) {
            if (a instanceof Throwable t) {
                thrown = t;
            } else if (a instanceof Object[] more) {
                msg.append(' ').append(java.util.Arrays.toString(more));
            } else if (a != null && !a.getClass().getName().startsWith("org.slf4j")) {
                msg.append(msg.length() == 0 ? "" : " ").append(a);
            }
        }
        LOG.log(level, msg.toString(), thrown);
        return null;
    }
}
