package io.github.incus4j.remote;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import org.apiguardian.api.API;

/**
 * Where and how the {@code incus} driver reaches an Incus server: the local unix socket, or HTTPS with a TLS client
 * certificate; plus the session's project and cluster target and the bound of every call. Pass one to
 * {@link IncusDriver#open(Path, IncusRemote)}.
 *
 * <pre>{@code
 * IncusRemote remote = IncusRemote.https(URI.create("https://incus.example:8443"))
 *         .clientCertificate(Path.of("client.crt"), Path.of("client.key"))   // PEM, as `incus` writes them
 *         .serverCertificate(Path.of("server.crt"))                         // pinned
 *         .project("web").build();
 * IncusRemote fromCli = IncusRemote.fromConfig("prod").build();             // ~/.config/incus/config.yml
 * }</pre>
 *
 * <p>Project: the API's {@code default} project means the session's project (as {@code incus --project} does),
 * and {@link io.github.incus4j.api.Instances#list()} lists that project only. Target: the cluster member new
 * instances are created on ({@code ?target=}).
 */
@API(status = EXPERIMENTAL)
public final class IncusRemote {
    /** Incus's HTTPS port when an address names none. */
    public static final int DEFAULT_PORT = 8443;

    private final String name;
    private final Path socket;
    private final URI address;
    private final SSLContext ssl;
    private final boolean verifyHostname;
    private final String project;
    private final String target;
    private final Duration timeout;

    private IncusRemote(IncusRemote r, Duration timeout) {
        this.name = r.name;
        this.socket = r.socket;
        this.address = r.address;
        this.ssl = r.ssl;
        this.verifyHostname = r.verifyHostname;
        this.project = r.project;
        this.target = r.target;
        this.timeout = timeout;
    }

    /** This remote with another bound on every call. */
    IncusRemote withTimeout(Duration timeout) {
        return new IncusRemote(this, timeout);
    }

    private IncusRemote(Builder b, SSLContext ssl) {
        this.name = b.name;
        this.socket = b.socket;
        this.address = b.address;
        this.ssl = ssl;
        this.verifyHostname = b.pinned == null;
        this.project = b.project;
        this.target = b.target;
        this.timeout = b.timeout;
    }

    /** A remote on the unix socket {@code socket}. */
    public static Builder unix(Path socket) {
        Builder b = new Builder();
        b.socket = Objects.requireNonNull(socket, "socket");
        return b;
    }

    /** A remote at {@code https://host[:port]} (port {@value #DEFAULT_PORT} when none is given). */
    public static Builder https(URI address) {
        Objects.requireNonNull(address, "address");
        if (!"https".equalsIgnoreCase(address.getScheme()) || address.getHost() == null) {
            throw new InvalidArgumentException("An Incus HTTPS address is https://host[:port], not " + address);
        }
        Builder b = new Builder();
        try {
            b.address = new URI("https", null, address.getHost(),
                    address.getPort() < 0 ? DEFAULT_PORT : address.getPort(), null, null, null);
        } catch (URISyntaxException e) {
            throw new InvalidArgumentException("Invalid Incus address " + address + ": " + e.getMessage(), e);
        }
        return b;
    }

    /**
     * The incus CLI's configuration directory: {@code $INCUS_CONF}, else {@code ~/.config/incus} (as the CLI: not
     * {@code $XDG_CONFIG_HOME}).
     */
    public static Path defaultConfigDir() {
        String env = System.getenv("INCUS_CONF");
        if (env != null && !env.isEmpty()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".config", "incus");
    }

    /** The remote {@code name} of the incus CLI's configuration ({@link #fromConfig(Path, String)}). */
    public static Builder fromConfig(String name) {
        return fromConfig(defaultConfigDir(), name);
    }

    /**
     * The remote {@code name} (null: the configuration's {@code default-remote}) of the incus CLI's configuration in
     * {@code configDir}: {@code config.yml}'s {@code remotes.<name>} ({@code addr}, {@code protocol: incus},
     * {@code project}), the client certificate {@code client.crt}/{@code client.key} beside it, and the pinned server
     * certificate {@code servercerts/<name>.crt} (without one, the JDK's trust store and a host name check). The
     * remote {@code local} (the unix socket) exists even where the file does not.
     *
     * @throws NotFoundException no such remote
     * @throws NotSupportedException the remote is no Incus server (an image server) or does not use TLS
     * @throws InvalidArgumentException the file cannot be read, or a certificate or key is missing or unreadable
     */
    public static Builder fromConfig(Path configDir, String name) {
        Objects.requireNonNull(configDir, "configDir");
        Path file = configDir.resolve("config.yml");
        JsonNode config = null;
        if (Files.exists(file)) {
            try {
                config = new YAMLMapper().readTree(file.toFile());
            } catch (IOException e) {
                throw new InvalidArgumentException("Cannot read the incus configuration " + file + ": "
                        + Transport.describe(e), e);
            }
        }
        String wanted = name != null && !name.isEmpty() ? name
                : config == null ? "local" : config.path("default-remote").asText("local");
        JsonNode remote = config == null ? null : config.path("remotes").get(wanted);
        if (remote == null) {
            if (wanted.equals("local")) {
                return named(unix(IncusDriver.findSocket()), wanted);
            }
            List<String> known = new ArrayList<>();
            if (config != null) {
                config.path("remotes").fieldNames().forEachRemaining(known::add);
            }
            throw new NotFoundException("No incus remote named \"" + wanted + "\" in " + file + " (remotes: "
                    + known + ")");
        }
        String addr = remote.path("addr").asText("");
        String protocol = remote.path("protocol").asText("incus");
        if (!protocol.equals("incus")) {
            throw new NotSupportedException("The incus remote \"" + wanted + "\" (" + addr + ") is a " + protocol
                    + " image server, not an Incus server");
        }
        String auth = remote.path("auth_type").asText("tls");
        if (!auth.isEmpty() && !auth.equals("tls")) {
            throw new NotSupportedException("The incus remote \"" + wanted + "\" uses " + auth
                    + " authentication; the incus driver uses TLS client certificates only");
        }
        Builder b;
        if (addr.startsWith("unix:")) {
            String path = addr.substring("unix:".length());
            path = path.startsWith("//") ? path.substring(2) : path;
            b = unix(path.isEmpty() ? IncusDriver.findSocket() : Path.of(path));
        } else if (addr.toLowerCase(Locale.ROOT).startsWith("https://")) {
            b = https(URI.create(addr));
            Path crt = configDir.resolve("client.crt");
            Path key = configDir.resolve("client.key");
            if (Files.exists(crt) && Files.exists(key)) {
                b.clientCertificate(crt, key);
            } else if (!remote.path("public").asBoolean(false)) {
                throw new InvalidArgumentException("No client certificate for the incus remote \"" + wanted
                        + "\": " + crt + " and " + key + " are needed (the incus CLI writes them on its first "
                        + "`incus remote add`)");
            }
            Path server = configDir.resolve("servercerts").resolve(wanted + ".crt");
            if (Files.exists(server)) {
                b.serverCertificate(server);
            }
        } else {
            throw new InvalidArgumentException("The incus remote \"" + wanted + "\" in " + file
                    + " has an address the incus driver cannot use: \"" + addr + "\"");
        }
        String project = remote.path("project").asText("");
        if (!project.isEmpty()) {
            b.project(project);
        }
        return named(b, wanted);
    }

    private static Builder named(Builder b, String name) {
        b.name = name;
        return b;
    }

    /** The remote's name in the incus CLI's configuration, if it came from there. */
    public Optional<String> name() {
        return Optional.ofNullable(name);
    }

    /** The server's address: {@code https://host:port} or {@code unix:/path/to/socket}. */
    public String address() {
        return socket != null ? "unix:" + socket : address.toString();
    }

    /** The session's project, if one is set (else the API's projects are the server's). */
    public Optional<String> project() {
        return Optional.ofNullable(project);
    }

    /** The cluster member new instances are created on, if one is set. */
    public Optional<String> target() {
        return Optional.ofNullable(target);
    }

    /** The bound of every call. */
    public Duration timeout() {
        return timeout;
    }

    Path socket() {
        return socket;
    }

    URI uri() {
        return address;
    }

    SSLContext ssl() {
        return ssl;
    }

    boolean verifyHostname() {
        return verifyHostname;
    }

    @Override
    public String toString() {
        return (name == null ? "" : name + " = ") + address() + (project == null ? "" : " project " + project)
                + (target == null ? "" : " target " + target);
    }

    /** Builds an {@link IncusRemote}; certificates and keys are read by {@link #build()}. */
    public static final class Builder {
        private String name;
        private Path socket;
        private URI address;
        private Path clientCert;
        private Path clientKey;
        private Path pinned;
        private Path trustStore;
        private char[] trustStorePassword;
        private String project;
        private String target;
        private Duration timeout = IncusDriver.DEFAULT_TIMEOUT;

        private Builder() {
        }

        /** The client certificate (PEM, leaf first) and its private key (PEM: SEC1, PKCS#1 or PKCS#8). */
        public Builder clientCertificate(Path certificatePem, Path keyPem) {
            this.clientCert = Objects.requireNonNull(certificatePem, "certificatePem");
            this.clientKey = Objects.requireNonNull(keyPem, "keyPem");
            return this;
        }

        /** Trusts exactly this server certificate (PEM), as the incus CLI's {@code servercerts/} do. */
        public Builder serverCertificate(Path pem) {
            this.pinned = Objects.requireNonNull(pem, "pem");
            this.trustStore = null;
            return this;
        }

        /** Trusts the CAs of this key store (PKCS#12 or JKS), with a host name check. */
        public Builder trustStore(Path store, char[] password) {
            this.trustStore = Objects.requireNonNull(store, "store");
            this.trustStorePassword = password == null ? null : password.clone();
            this.pinned = null;
            return this;
        }

        /** The session's project (null: none). */
        public Builder project(String project) {
            this.project = project == null || project.isEmpty() ? null : project;
            return this;
        }

        /** The cluster member new instances are created on (null: the server chooses). */
        public Builder target(String target) {
            this.target = target == null || target.isEmpty() ? null : target;
            return this;
        }

        /** The bound of every call (default {@link IncusDriver#DEFAULT_TIMEOUT}). */
        public Builder timeout(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new InvalidArgumentException("The timeout must be positive: " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /** Reads the certificates and keys; a missing or unreadable one is refused, naming the file. */
        public IncusRemote build() {
            if (socket != null) {
                if (clientCert != null || pinned != null || trustStore != null) {
                    throw new InvalidArgumentException("Certificates are for HTTPS remotes, not the unix socket "
                            + socket);
                }
                return new IncusRemote(this, null);
            }
            KeyManager[] keys = clientCert == null ? null : Tls.keyManagers(clientCert, clientKey);
            TrustManager[] trust = pinned != null
                    ? new TrustManager[] {new Tls.Pinned(Tls.certificates(pinned).get(0))}
                    : Tls.trustStore(trustStore, trustStorePassword);
            return new IncusRemote(this, Tls.context(keys, trust));
        }
    }
}
