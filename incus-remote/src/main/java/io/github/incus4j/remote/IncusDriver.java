package io.github.incus4j.remote;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Info;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.Instances;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
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
 * ({@code INCUS_SOCKET}, else {@code /var/lib/incus/unix.socket}, else {@code /run/incus/unix.socket}). It applies
 * when the server answers {@code GET /1.0} as trusted; the refusal says why (no socket, permission denied,
 * untrusted). It ranks below the local drivers: name it ({@code incus}) to use it where they apply too.
 */
@API(status = EXPERIMENTAL)
public final class IncusDriver implements InstanceDriver {
    /** The driver's name. */
    public static final String NAME = "incus";
    /** The bound of every call unless the session is opened with another. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
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

    @Override
    public Applicability applicability() {
        try {
            probe(findSocket(), PROBE_TIMEOUT);
            return Applicability.yes();
        } catch (RuntimeException e) {
            return Applicability.no(e.getMessage());
        }
    }

    /** {@code GET /1.0} on {@code socket}: the server's description, or why it cannot be used. */
    static JsonNode probe(Path socket, Duration timeout) {
        if (!Files.isReadable(socket) || !Files.isWritable(socket)) {
            throw new PermissionDeniedException("Permission denied on the Incus socket " + socket
                    + " (run as root or as a member of the incus-admin group)");
        }
        try (Transport t = new Transport(socket, timeout)) {
            return trusted(t);
        }
    }

    private static JsonNode trusted(Transport t) {
        JsonNode server;
        try {
            server = t.call("GET", "/1.0", null).metadata();
        } catch (IncusException e) {
            throw new NotSupportedException("The Incus server at " + t.socket() + " does not answer: "
                    + e.getMessage(), e);
        }
        String auth = server.path("auth").asText("");
        if (!auth.equals("trusted")) {
            throw new PermissionDeniedException("The Incus server at " + t.socket() + " does not trust this client"
                    + " (auth: " + (auth.isEmpty() ? "none" : auth) + ")");
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
            return info(probe(findSocket(), PROBE_TIMEOUT));
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

    @Override
    public Instances open(Path root) {
        return open(root, findSocket(), DEFAULT_TIMEOUT);
    }

    /**
     * Opens a session on the server at {@code socket}; every call is bounded by {@code timeout}. {@code root} is
     * created (the API requires one) but holds nothing: the instances are the server's.
     */
    public Instances open(Path root, Path socket, Duration timeout) {
        return open(root, socket, timeout, null);
    }

    /**
     * As {@link #open(Path, Path, Duration)}, on a cluster: {@code target} names the member new instances are placed
     * on ({@code POST /1.0/instances?target=<member>}), {@code null} lets the server choose. The session still sees
     * and works on the instances of every member (the server forwards to the owning member); each instance's
     * {@link io.github.incus4j.api.Instance#location() location} names its member, and {@link RemoteInstance#move}
     * moves a stopped one to another member.
     */
    public Instances open(Path root, Path socket, Duration timeout, String target) {
        if (target != null && target.isBlank()) {
            throw new InvalidArgumentException("The cluster target must name a member: \"" + target + "\"");
        }
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new InvalidArgumentException("The timeout must be positive: " + timeout);
        }
        if (!Files.exists(socket)) {
            throw new NotSupportedException("No Incus socket at " + socket);
        }
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new InvalidArgumentException("Cannot create the root directory " + root + ": " + e.getMessage(), e);
        }
        Transport t = new Transport(socket, timeout);
        try {
            Info info = info(trusted(t));
            return new IncusInstances(root, t, info, target);
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }
}
