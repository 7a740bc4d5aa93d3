package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.Bounded;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ThreadFactory;
import java.util.function.Supplier;
import net.schmizz.sshj.DefaultConfig;
import net.schmizz.sshj.SSHClient;
import net.schmizz.sshj.common.Buffer;
import net.schmizz.sshj.common.KeyType;
import net.schmizz.sshj.common.LoggerFactory;
import net.schmizz.sshj.transport.verification.PromiscuousVerifier;
import net.schmizz.sshj.userauth.keyprovider.KeyPairWrapper;

/**
 * The SSH endpoint of a running VM, for what the guest agent cannot do (a command on a terminal): QEMU forwards a
 * free loopback port of the host to the guest's port 22 (the port is kept in the run directory, so that a reopened
 * session finds it), the instance has its own key pair ({@code ssh_key}, PKCS#8, mode 0600, and {@code ssh_key.pub}
 * in its directory), and the public key is added to the guest's {@code /root/.ssh/authorized_keys} through the agent
 * before the first connection. One sshj connection per machine is shared by its commands; sshj reads it on its own
 * daemon thread and logs to {@link System.Logger} ({@code net.schmizz.sshj}).
 *
 * <p>The guest's host key is not checked: it is reached only through QEMU's forwarding on the loopback interface, and
 * guests may make a new one at each boot (the test guest does).
 */
final class GuestSsh implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("net.schmizz.sshj");
    static final String PORT_FILE = "ssh.port";
    private static final String KEY = "ssh_key";
    private static final String AUTHORIZED_KEYS = "/root/.ssh/authorized_keys";
    private static final Duration RETRY = Duration.ofMillis(200);
    private static final Duration MIN_WAIT = Duration.ofSeconds(5);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration MIN_ATTEMPT = Duration.ofSeconds(1);

    private final int port;
    private final Path keyDir;
    private final Supplier<GuestAgentClient> agent;
    private final Instant deadline;
    private final ThreadFactory threads;
    private SSHClient client;
    private boolean authorized;
    private boolean closed;

    /**
     * @param runDir the machine's run directory, which names the forwarded port
     * @param keyDir the instance's directory, which holds its key pair
     * @param agent the guest agent, for installing the public key
     * @param startedAt when the VM started: a booting guest is given until {@code startedAt + wait} for its SSH server
     * @param threads for the helper that runs each connection attempt (see {@link #connect()})
     */
    GuestSsh(Path runDir, Path keyDir, Supplier<GuestAgentClient> agent, Instant startedAt, Duration wait,
            ThreadFactory threads) {
        this.port = port(runDir);
        this.threads = threads;
        this.keyDir = keyDir;
        this.agent = agent;
        Instant boot = startedAt.plus(wait);
        Instant soon = Instant.now().plus(MIN_WAIT);
        this.deadline = boot.isAfter(soon) ? boot : soon;
    }

    // ---- the forwarded port ---------------------------------------------------------------------------------

    /**
     * Picks a free loopback port for QEMU's {@code hostfwd} and records it in {@code runDir}. The port is free when
     * picked; another process could take it before QEMU binds it, in which case QEMU fails to start and says so.
     */
    static int allocatePort(Path runDir) {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = s.getLocalPort();
            PrivateFiles.write(runDir.resolve(PORT_FILE), (port + "\n").getBytes(StandardCharsets.UTF_8));
            return port;
        } catch (IOException e) {
            throw HostIo.failure("Cannot pick a loopback port for the VM's SSH forwarding", e);
        }
    }

    /** The port recorded by {@link #allocatePort}. */
    static int port(Path runDir) {
        Path f = runDir.resolve(PORT_FILE);
        try {
            return Integer.parseInt(Files.readString(f).trim());
        } catch (IOException | NumberFormatException e) {
            throw new IncusException("The VM has no SSH forwarding (" + f + " unreadable: " + e.getMessage()
                    + "); restart it to get one");
        }
    }

    // ---- the connection --------------------------------------------------------------------------------------

    /**
     * The connection, opened (and the key installed in the guest) on first use; a booting guest is retried until its
     * SSH server answers or the deadline passes.
     *
     * @throws IncusException naming the port and the reason when SSH cannot be reached
     */
    synchronized SSHClient client() {
        if (closed) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, StatusCode.STOPPED);
        }
        if (client != null && client.isConnected() && client.isAuthenticated()) {
            return client;
        }
        closeClient();
        KeyPair keys = keyPair();
        SSHClient c = connect();
        try {
            if (!authorized) {
                authorize(agent.get(), keys.getPublic());
                authorized = true;
            }
            c.authPublickey("root", new KeyPairWrapper(keys));
        } catch (IOException | RuntimeException e) {
            closeQuietly(c);
            throw new IncusException("SSH login to the VM on 127.0.0.1:" + port + " failed: " + e.getMessage(), e);
        }
        client = c;
        return c;
    }

    /**
     * Connects (the transport only), retrying while the guest's SSH server is not up yet. Each attempt is bounded by
     * {@link #CONNECT_TIMEOUT} as a whole: sshj bounds the TCP connect, but not the wait for the server's banner
     * (QEMU's forwarding accepts at once, and a paused or hung guest then never answers); its socket timeout cannot
     * do it either, as it would stay on the connection and kill it after any silence (commands may be silent).
     */
    private SSHClient connect() {
        while (true) {
            SSHClient c = new SSHClient(config());
            c.addHostKeyVerifier(new PromiscuousVerifier());
            Duration left = Duration.between(Instant.now(), deadline);
            Duration attempt = left.compareTo(CONNECT_TIMEOUT) > 0 ? CONNECT_TIMEOUT
                    : left.compareTo(MIN_ATTEMPT) < 0 ? MIN_ATTEMPT : left;
            c.setConnectTimeout((int) attempt.toMillis());
            c.setTimeout(0); // commands may be silent for any time
            Throwable failure;
            try {
                failure = Bounded.call(threads, attempt, () -> {
                    c.connect(InetAddress.getLoopbackAddress(), port);
                    return true;
                }, () -> closeQuietly(c), () -> new OperationTimeoutException("The VM's SSH server on 127.0.0.1:"
                        + port + " did not answer within " + ErrorTexts.duration(attempt))).failure();
            } catch (OperationTimeoutException e) {
                failure = e;
            }
            if (failure == null) {
                return c;
            }
            closeQuietly(c);
            if (Instant.now().plus(RETRY).isAfter(deadline)) {
                String message = "Cannot reach the VM's SSH server on 127.0.0.1:" + port + ": " + failure.getMessage();
                throw failure instanceof OperationTimeoutException ? new OperationTimeoutException(message, failure)
                        : new IncusException(message, failure);
            }
            LOG.log(System.Logger.Level.DEBUG, "SSH on port {0} not ready: {1}", port, failure.getMessage());
            sleep(RETRY);
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        closeClient();
    }

    private void closeClient() {
        if (client != null) {
            closeQuietly(client);
            client = null;
        }
    }

    private static void closeQuietly(SSHClient c) {
        try {
            c.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "Closing SSH: {0}", e.getMessage());
        }
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted while waiting for the VM's SSH server", e);
        }
    }

    // ---- the key pair ----------------------------------------------------------------------------------------

    /** The instance's key pair, made (ECDSA P-256: quick to make, supported by sshj and dropbear) on first use. */
    private KeyPair keyPair() {
        Path priv = keyDir.resolve(KEY);
        Path pub = keyDir.resolve(KEY + ".pub");
        try {
            if (Files.isRegularFile(priv) && Files.isRegularFile(pub)) {
                String[] line = Files.readString(pub).trim().split(" ");
                PublicKey publicKey = new Buffer.PlainBuffer(Base64.getDecoder().decode(line[1])).readPublicKey();
                return new KeyPair(publicKey, KeyFactory.getInstance("EC").generatePrivate(
                        new PKCS8EncodedKeySpec(Files.readAllBytes(priv))));
            }
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair keys = g.generateKeyPair();
            // Written aside, then renamed: a key file is never seen half written, and never readable by others.
            writePrivate(priv, keys.getPrivate().getEncoded());
            Path tmp = pub.resolveSibling(pub.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            PrivateFiles.write(tmp, (authorizedLine(keys.getPublic()) + "\n").getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, pub, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return keys;
        } catch (IOException e) {
            throw HostIo.failure("Cannot keep the SSH key of the VM", e);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new IncusException("Unusable SSH key in " + keyDir + ": " + e.getMessage(), e);
        }
    }

    private static void writePrivate(Path priv, byte[] pkcs8) throws IOException {
        Path tmp = priv.resolveSibling(priv.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        PrivateFiles.write(tmp, pkcs8);
        Files.move(tmp, priv, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** {@code <type> <base64 blob> incus4j}, as {@code authorized_keys} lines are. */
    static String authorizedLine(PublicKey key) {
        byte[] blob = new Buffer.PlainBuffer().putPublicKey(key).getCompactData();
        return KeyType.fromKey(key) + " " + Base64.getEncoder().encodeToString(blob) + " incus4j";
    }

    /**
     * Adds the public key to the guest's {@code authorized_keys} unless it is there. The file is opened as it exists:
     * qemu-ga makes the files it creates mode 0666, which SSH servers refuse, so a missing file is made 0600 by a
     * command first.
     */
    private static void authorize(GuestAgentClient agent, PublicKey key) {
        String line = authorizedLine(key);
        String current;
        try {
            current = read(agent, AUTHORIZED_KEYS);
        } catch (IncusException missing) {
            run(agent, "umask 077 && mkdir -p /root/.ssh && : >> " + AUTHORIZED_KEYS + " && chmod 600 "
                    + AUTHORIZED_KEYS);
            current = "";
        }
        if (current.lines().anyMatch(l -> l.trim().equals(line))) {
            return;
        }
        long h = agent.fileOpen(AUTHORIZED_KEYS, "a");
        try {
            String prefix = current.isEmpty() || current.endsWith("\n") ? "" : "\n";
            agent.fileWrite(h, (prefix + line + "\n").getBytes(StandardCharsets.UTF_8));
        } finally {
            agent.fileClose(h);
        }
    }

    private static String read(GuestAgentClient agent, String path) {
        long h = agent.fileOpen(path, "r");
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk;
            while ((chunk = agent.fileRead(h, 65536)).length > 0) {
                out.write(chunk, 0, chunk.length);
            }
            return out.toString(StandardCharsets.UTF_8);
        } finally {
            agent.fileClose(h);
        }
    }

    /** Runs {@code script} through the agent and waits for it. */
    private static void run(GuestAgentClient agent, String script) {
        int pid = agent.exec("/bin/sh", List.of("-c", script), List.of("PATH=" + AbstractInstance.DEFAULT_EXEC_PATH),
                null, false);
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        GuestAgentClient.ExecStatus s;
        while (!(s = agent.execStatus(pid)).exited()) {
            if (System.nanoTime() > end) {
                throw new IncusException("Preparing " + AUTHORIZED_KEYS + " in the guest did not end within 10 s");
            }
            sleep(Duration.ofMillis(5));
        }
        if (s.exitCode() == null || s.exitCode() != 0) {
            throw new IncusException("Cannot prepare " + AUTHORIZED_KEYS + " in the guest: exit status "
                    + s.exitCode());
        }
    }

    // ---- sshj's configuration --------------------------------------------------------------------------------

    private static DefaultConfig config() {
        DefaultConfig c = new DefaultConfig();
        c.setLoggerFactory(LOGGERS);
        return c;
    }

    private static final LoggerFactory LOGGERS = loggerFactory();

    /**
     * Some sshj classes (key exchange, ECDSA keys, authentication) log through slf4j directly, whatever logger
     * factory the configuration names; without an slf4j provider, slf4j 2 then prints three warnings to stderr.
     * Where no provider is visible and the user has not chosen slf4j's verbosity, it is lowered to errors before this
     * class first uses sshj (slf4j reads it once), which silences those warnings and nothing else.
     */
    static {
        String property = "slf4j.internal.verbosity";
        ClassLoader cl = GuestSsh.class.getClassLoader();
        if (System.getProperty(property) == null && cl != null
                && cl.getResource("META-INF/services/org.slf4j.spi.SLF4JServiceProvider") == null) {
            System.setProperty(property, "ERROR");
        }
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
        ClassLoader cl = GuestSsh.class.getClassLoader();
        Object logger = Proxy.newProxyInstance(cl, new Class<?>[] {loggerType}, (p, m, args) -> log(m, args));
        return (LoggerFactory) Proxy.newProxyInstance(cl, new Class<?>[] {LoggerFactory.class},
                (p, m, args) -> switch (m.getName()) {
                    case "getLogger" -> logger;
                    case "hashCode" -> 0;
                    case "equals" -> false;
                    default -> "System.Logger for sshj";
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
