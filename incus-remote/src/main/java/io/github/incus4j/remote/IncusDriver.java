package io.github.incus4j.remote;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.spi.Applicability;
import io.github.incus4j.api.spi.InstanceDriver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * The {@code incus} instance driver: instances on a real Incus server, over its REST API on the local unix socket
 * ({@code INCUS_SOCKET}, else {@code /var/lib/incus/unix.socket}, else {@code /run/incus/unix.socket}) or over HTTPS
 * with a TLS client certificate ({@link IncusRemote}). It applies when the server answers {@code GET /1.0} as
 * trusted; the refusal says why (no socket, permission denied, untrusted, connection refused, certificate). It ranks
 * below the local drivers: name it ({@code incus}) to use it where they apply too.
 *
 * <p>Which server {@link #open(Path)} uses: the incus CLI's remote named by the system property
 * {@value #REMOTE_PROPERTY}; else the CLI's {@code default-remote} when that is not {@code local}
 * ({@link IncusRemote#fromConfig(String)}); else the local socket.
 */
@API(status = EXPERIMENTAL)
public final class IncusDriver implements InstanceDriver {
    /** The driver's name. */
    public static final String NAME = "incus";
    /** The bound of every call unless the session is opened with another. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
    /** The system property naming the incus CLI remote {@link #open(Path)} connects to: {@code -Dincus4j.incus.remote=prod}. */
    public static final String REMOTE_PROPERTY = "incus4j.incus.remote";
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(5);

    /** The service-loader constructor; probes nothing. */
    public IncusDriver() {
        // Probing belongs in applicability().
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 30;
    }

    /** The sockets tried, in order: {@code $INCUS_SOCKET}, {@code /var/lib/incus/unix.socket}, {@code /run/incus/unix.socket}. */
    static List<Path> candidateSockets() {
        List<Path> out = new ArrayList<>();
        String env = System.getenv("INCUS_SOCKET");
        if (env != null && !env.isEmpty()) {
            out.add(Path.of(env));
        }
        out.add(Path.of("/var/lib/incus/unix.socket"));
        out.add(Path.of("/run/incus/unix.socket"));
        return out;
    }

    /** The first candidate socket that exists, else a {@link NotSupportedException} naming those tried. */
    public static Path findSocket() {
        List<Path> tried = candidateSockets();
        for (Path p : tried) {
            if (Files.exists(p)) {
                return p;
            }
        }
        throw new NotSupportedException("No Incus socket found (tried " + tried + ")");
    }

    /**
     * The remote {@link #open(Path)} uses: the incus CLI's remote named by {@value #REMOTE_PROPERTY}, else its
     * {@code default-remote} when that is not {@code local}, else the local socket.
     */
    public static IncusRemote defaultRemote() {
        String named = System.getProperty(REMOTE_PROPERTY, "").trim();
        if (!named.isEmpty()) {
            return IncusRemote.fromConfig(named).build();
        }
        IncusRemote.Builder cli = IncusRemote.fromConfig(null);
        return cli.build();
    }

    @Override
    public Applicability applicability() {
        try {
            probe(defaultRemote(), PROBE_TIMEOUT);
            return Applicability.yes();
        } catch (RuntimeException e) {
            return Applicability.no(e.getMessage());
        }
    }

    /** {@code GET /1.0} on {@code remote}: the server's description, or why it cannot be used. */
    static JsonNode probe(IncusRemote remote, Duration timeout) {
        Path socket = remote.socket();
        if (socket != null && (!Files.isReadable(socket) || !Files.isWritable(socket))) {
            throw new PermissionDeniedException("Permission denied on the Incus socket " + socket
                    + " (run as root or as a member of the incus-admin group)");
        }
        IncusRemote bounded = remote.timeout().compareTo(timeout) <= 0 ? remote : remote.withTimeout(timeout);
        try (Transport t = new Transport(bounded)) {
            return trusted(t);
        }
    }

    private static JsonNode trusted(Transport t) {
        JsonNode server;
        try {
            server = t.call("GET", "/1.0", null).metadata();
        } catch (IncusConnectionException | OperationTimeoutException e) {
            throw e; // already names the address and the cause
        } catch (IncusException e) {
            throw new NotSupportedException("The Incus server at " + t.address() + " does not answer: "
                    + e.getMessage(), e);
        }
        String auth = server.path("auth").asText("");
        if (!auth.equals("trusted")) {
            throw new PermissionDeniedException("The Incus server at " + t.address() + " does not trust this client"
                    + " (auth: " + (auth.isEmpty() ? "none" : auth) + ")"
                    + (t.remote().socket() == null ? ": add its certificate on the server with `incus config trust "
                    + "add-certificate <client.crt>`" : ""));
        }
        return server;
    }

    /**
     * Name {@code incus}, type {@link InstanceType#ANY} (the server runs both), version = the server's; features
     * {@code server_name}, {@code api_extensions} (how many), {@code storage}, {@code driver} (the server's
     * instance drivers).
     */
    @Override
    public Info info() {
        try {
            return info(probe(defaultRemote(), PROBE_TIMEOUT));
        } catch (RuntimeException e) {
            return new Info(NAME, "", e.getMessage(), InstanceType.ANY, Map.of());
        }
    }

    private static Info info(JsonNode server) {
        JsonNode env = server.path("environment");
        Map<String, Object> features = new TreeMap<>();
        features.put("server_name", env.path("server_name").asText(""));
        features.put("api_extensions", server.path("api_extensions").size());
        features.put("storage", env.path("storage").asText(""));
        features.put("driver", env.path("driver").asText(""));
        return new Info(NAME, env.path("server_version").asText(""), null, InstanceType.ANY, features);
    }

    /** Opens a session on {@link #defaultRemote()}. */
    @Override
    public Instances open(Path root) {
        return open(root, defaultRemote());
    }

    /**
     * Opens a session on the server at {@code socket}; every call is bounded by {@code timeout}. {@code root} is
     * created (the API requires one) but holds nothing: the instances are the server's.
     */
    public Instances open(Path root, Path socket, Duration timeout) {
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(timeout, "timeout");
        return open(root, IncusRemote.unix(socket).timeout(timeout).build());
    }

    /**
     * Opens a session on {@code remote} (unix socket or HTTPS, its project and target); every call is bounded by the
     * remote's timeout. {@code root} is created (the API requires one) but holds nothing.
     *
     * @throws IncusConnectionException nothing listens at the address, or the server's certificate is not trusted
     * @throws PermissionDeniedException the server does not trust this client (its certificate)
     * @throws io.github.incus4j.api.OperationTimeoutException the server does not answer within the timeout
     */
    public Instances open(Path root, IncusRemote remote) {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(remote, "remote");
        Path socket = remote.socket();
        if (socket != null && !Files.exists(socket)) {
            throw new NotSupportedException("No Incus socket at " + socket);
        }
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new InvalidArgumentException("Cannot create the root directory " + root + ": " + e.getMessage(), e);
        }
        Transport t = new Transport(remote);
        try {
            Info info = info(trusted(t));
            return new IncusInstances(root, t, info);
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }
}
