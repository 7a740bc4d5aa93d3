package io.github.incus4j.remote;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.io.BulkInputStream;
import io.github.incus4j.api.internal.io.BulkOutputStream;
import io.github.incus4j.api.internal.io.Connections;
import io.github.incus4j.api.io.Connection;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.Destination;
import org.eclipse.jetty.client.DuplexConnectionPool;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.InputStreamResponseListener;
import org.eclipse.jetty.client.MultiPartRequestContent;
import org.eclipse.jetty.client.Origin;
import org.eclipse.jetty.client.PathRequestContent;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.StringRequestContent;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.client.transport.HttpDestination;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.MultiPart;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.client.WebSocketClient;

/**
 * HTTP/1.1 and WebSocket to incusd over its unix socket or HTTPS (Jetty), plus the raw {@code Upgrade: sftp}
 * connection. Every call is bounded by a timeout; failures become {@link IncusException}s carrying the server's own
 * text, connection failures {@link IncusConnectionException}s naming the address. The session's project is added to
 * every path that names none (as Incus's Go client does).
 */
final class Transport implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final System.Logger LOG = System.getLogger(Transport.class.getName());

    private final Path socket;
    private final IncusRemote remote;
    private final String address;
    private final String base;
    private final Duration timeout;
    /** How long a connection no request has taken yet may stay open (silent). */
    static final long SPARE_IDLE_MS = 250;
    private final Clients clients;
    private final HttpClient http;
    private final WebSocketClient ws;
    /** The websockets this session opened and has not seen closed: closed with the session. */
    private final java.util.Set<Session> sessions = new java.util.HashSet<>();
    private boolean closed;
    private volatile Runnable beforeChange = () -> { };

    /** A reply: HTTP status, the JSON envelope and the ETag header (or null). */
    record Reply(int status, JsonNode body, String etag) {
        JsonNode metadata() {
            JsonNode m = body.get("metadata");
            return m == null ? NullNode.getInstance() : m;
        }
    }

    Transport(Path socket, Duration timeout) {
        this(IncusRemote.unix(socket).timeout(timeout).build());
    }

    Transport(IncusRemote remote) {
        this.remote = remote;
        this.socket = remote.socket();
        this.address = remote.address();
        this.base = socket != null ? "//incus" : "//" + remote.uri().getRawAuthority();
        this.timeout = remote.timeout();
        // Sessions on one unix socket share one started client (Clients.shared); an HTTPS remote has its own TLS
        // context and so its own client.
        this.clients = socket != null ? Clients.shared(socket, timeout, address) : Clients.start(remote, address);
        this.http = clients.http;
        this.ws = clients.ws;
    }

    /**
     * A started Jetty HTTP client and its websocket client. Starting one (thread pool, selector, scheduler) costs
     * more than the {@code GET /1.0} of a session's open, so the sessions on one unix socket (and timeout) share one,
     * counted, stopped when the last of them closes. Each session still closes its own websockets.
     */
    static final class Clients {
        private static final Map<String, Clients> SHARED = new java.util.HashMap<>();

        final HttpClient http;
        final WebSocketClient ws;
        private final String key;
        private int users = 1;

        private Clients(HttpClient http, WebSocketClient ws, String key) {
            this.http = http;
            this.ws = ws;
            this.key = key;
        }

        static Clients shared(Path socket, Duration timeout, String address) {
            String key = socket.toAbsolutePath() + " " + timeout.toMillis();
            synchronized (SHARED) {
                Clients c = SHARED.get(key);
                if (c != null) {
                    c.users++;
                    return c;
                }
                c = start(IncusRemote.unix(socket).timeout(timeout).build(), address, key);
                SHARED.put(key, c);
                return c;
            }
        }

        static Clients start(IncusRemote remote, String address) {
            return start(remote, address, null);
        }

        @SuppressWarnings("try") // HttpClient's close() is never called: stop() is.
        private static Clients start(IncusRemote remote, String address, String key) {
            Path socket = remote.socket();
            Duration timeout = remote.timeout();
            QueuedThreadPool pool = new QueuedThreadPool(64, 2);
            pool.setName("incus4j-remote-http");
            pool.setDaemon(true);
            ClientConnector connector = new ClientConnector();
            connector.setExecutor(pool);
            connector.setScheduler(new ScheduledExecutorScheduler("incus4j-remote-scheduler", true));
            connector.setConnectTimeout(timeout);
            if (remote.ssl() != null) {
                SslContextFactory.Client tls = new SslContextFactory.Client();
                tls.setSslContext(remote.ssl());
                // A pinned certificate is compared byte for byte (Tls.Pinned); a trust store's is checked with the
                // host.
                tls.setEndpointIdentificationAlgorithm(remote.verifyHostname() ? "HTTPS" : null);
                connector.setSslContextFactory(tls);
            }
            HttpClientTransportOverHTTP httpTransport = new HttpClientTransportOverHTTP(connector);
            httpTransport.setConnectionPoolFactory(SpareClosingPool::new);
            HttpClient http;
            if (socket != null) {
                org.eclipse.jetty.io.Transport unix = new org.eclipse.jetty.io.Transport.TCPUnix(socket);
                // WebSocketClient has no per-upgrade transport setting: every origin this client creates goes over the
                // unix socket, which makes the websocket upgrades take it too.
                http = new HttpClient(httpTransport) {
                    @Override
                    public Origin createOrigin(Request request, Origin.Protocol protocol) {
                        Origin o = super.createOrigin(request, protocol);
                        return new Origin(o.getScheme(), o.getAddress(), o.getTag(), o.getProtocol(), unix);
                    }
                };
            } else {
                http = new HttpClient(httpTransport);
            }
            http.setExecutor(pool);
            // incusd's unix listener peeks at the first bytes of every new connection inside its accept loop,
            // without a deadline (checked on 6.0.4; LXD fixed it in canonical/lxd#18705): one connected-but-silent
            // client stalls the whole daemon. Jetty's pool opens a few more connections than requests under
            // concurrency (it says so in AbstractConnectionPool.tryCreate) and kept such a spare open, silent and
            // without idle timeout: that was the 30 s stall. So SpareClosingPool gives a new connection a 250 ms idle
            // timeout until a request takes it (a request sets its own for its exchange). A used connection is kept
            // for the next request, as Go's client does: incusd's accept loop has read it already, so it cannot
            // stall the daemon; Jetty restores the 250 ms when the exchange ends, so an idle one is closed soon and
            // the pool stays small.
            http.setIdleTimeout(1_000);
            http.setUserAgentField(new org.eclipse.jetty.http.HttpField("User-Agent", "incus4j"));
            http.setFollowRedirects(false);
            WebSocketClient ws = new WebSocketClient(http);
            ws.setIdleTimeout(Duration.ZERO);
            ws.setConnectTimeout(timeout.toMillis());
            try {
                http.start();
                ws.start();
            } catch (Exception e) {
                new Clients(http, ws, null).stop();
                throw new IncusException("Cannot start the HTTP client for " + address + ": " + e.getMessage(), e);
            }
            return new Clients(http, ws, key);
        }

        /** One user fewer; the last one stops the clients. */
        void release() {
            if (key != null) {
                synchronized (SHARED) {
                    if (--users > 0) {
                        return;
                    }
                    SHARED.remove(key);
                }
            }
            stop();
        }

        private void stop() {
            try {
                ws.stop();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.DEBUG, "stopping the websocket client", e);
            }
            try {
                http.stop();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.DEBUG, "stopping the HTTP client", e);
            }
        }
    }

    /** The server's address for messages: {@code unix:/path} or {@code https://host:port}. */
    String address() {
        return address;
    }

    IncusRemote remote() {
        return remote;
    }

    /** {@code path} with the session's project unless it names one (or all projects). */
    String scoped(String path) {
        String project = remote.project().orElse(null);
        if (project == null || path.contains("?project=") || path.contains("&project=")
                || path.contains("all-projects=")) {
            return path;
        }
        return path + (path.contains("?") ? "&" : "?") + "project=" + IncusInstances.seg(project);
    }

    Duration timeout() {
        return timeout;
    }

    /** The request URI of {@code pathAndQuery} (scoped to the session's project), as HTTP or as a websocket. */
    URI uri(boolean websocket, String pathAndQuery) {
        String scheme = socket != null ? (websocket ? "ws" : "http") : (websocket ? "wss" : "https");
        return URI.create(scheme + ":" + base + scoped(pathAndQuery));
    }

    /**
     * Runs before every request that changes something (not {@code GET}): the session makes it wait until its event
     * subscription is in place, so that no wait misses the operation the request starts.
     */
    void beforeChange(Runnable hook) {
        this.beforeChange = hook;
    }

    private Request request(String method, String path, Duration limit) {
        if (!method.equals("GET")) {
            beforeChange.run();
        }
        // Kept alive: the connection goes back to the pool for the next request (SpareClosingPool bounds its idle
        // life); a connection that has carried a request is past incusd's accept loop and cannot stall it.
        return http.newRequest(uri(false, path)).method(method)
                .timeout(limit.toMillis(), TimeUnit.MILLISECONDS)
                .idleTimeout(limit.toMillis() + 1000, TimeUnit.MILLISECONDS);
    }

    /** Sends a request and returns the reply whatever its status; only transport failures throw. */
    Reply send(String method, String path, Object body, Map<String, String> headers, Duration limit) {
        Request.Content content = null;
        if (body != null) {
            try {
                content = new StringRequestContent("application/json", JSON.writeValueAsString(body));
            } catch (JsonProcessingException e) {
                throw new IncusException("Cannot encode the request to " + path + ": " + e.getOriginalMessage(), e);
            }
        }
        return send(method, path, content, headers, limit);
    }

    /**
     * Uploads files as the body of a request ({@code POST /1.0/images}): one file as the raw body, two as Incus's
     * multipart form (parts named {@code names}, in order). The whole transfer is bounded by {@code limit}; the reply
     * is returned whatever its status.
     */
    Reply upload(String method, String path, List<Path> files, List<String> names, Map<String, String> headers,
            Duration limit) {
        Request.Content content;
        try {
            if (files.size() == 1) {
                content = new PathRequestContent("application/octet-stream", files.get(0));
            } else {
                MultiPartRequestContent multi = new MultiPartRequestContent();
                for (int k = 0; k < files.size(); k++) {
                    multi.addPart(new MultiPart.ContentSourcePart(names.get(k),
                            files.get(k).getFileName().toString(), HttpFields.EMPTY,
                            new PathRequestContent("application/octet-stream", files.get(k))));
                }
                multi.close();
                content = multi;
            }
        } catch (IOException e) {
            throw new IncusException("Cannot read " + files + " for " + method + " " + path + ": " + describe(e), e);
        }
        return send(method, path, content, headers, limit);
    }

    private Reply send(String method, String path, Request.Content content, Map<String, String> headers,
            Duration limit) {
        Request r = request(method, path, limit);
        headers.forEach((k, v) -> r.headers(h -> h.put(k, v)));
        if (content != null) {
            r.body(content);
        }
        ContentResponse resp;
        try {
            resp = r.send();
        } catch (TimeoutException e) {
            throw noReply(method + " " + path, limit, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted during " + method + " " + path, e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            if (c instanceof TimeoutException) {
                throw noReply(method + " " + path, limit, c);
            }
            throw connectionFailure(method + " " + path, c);
        }
        String text = resp.getContentAsString();
        JsonNode json;
        try {
            json = text == null || text.isBlank() ? NullNode.getInstance() : JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IncusException("incusd answered " + method + " " + path + " with status " + resp.getStatus()
                    + " and no JSON: " + abbreviate(text), e);
        }
        return new Reply(resp.getStatus(), json, resp.getHeaders().get("ETag"));
    }

    /** A request whose reply must be a success; the server's error becomes our exception with its text. */
    Reply call(String method, String path, Object body) {
        return call(method, path, body, Map.of());
    }

    Reply call(String method, String path, Object body, Map<String, String> headers) {
        Reply reply = send(method, path, body, headers, timeout);
        if (reply.status() >= 400 || "error".equals(reply.body().path("type").asText())) {
            int code = reply.body().path("error_code").asInt(reply.status());
            String message = reply.body().path("error").asText("");
            throw Errors.map(code, message.isEmpty() ? "incusd answered " + reply.status() + " to " + method + " "
                    + path : message);
        }
        return reply;
    }

    /** Raw bytes of a GET (console log, metrics); a server error is mapped as for {@link #call}. */
    String text(String path) {
        Request r = request("GET", path, timeout);
        ContentResponse resp;
        try {
            resp = r.send();
        } catch (TimeoutException e) {
            throw noReply("GET " + path, timeout, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted during GET " + path, e);
        } catch (ExecutionException e) {
            throw connectionFailure("GET " + path, e.getCause());
        }
        String body = resp.getContentAsString();
        if (resp.getStatus() >= 400) {
            String message = body;
            try {
                message = JSON.readTree(body).path("error").asText(body);
            } catch (JsonProcessingException e) {
                // Not JSON: the body is the message.
            }
            throw Errors.map(resp.getStatus(), message);
        }
        return body;
    }

    /** Streams the body of {@code GET path} into {@code out}, the whole transfer bounded by {@code limit}. */
    void download(String path, OutputStream out, Duration limit) {
        InputStreamResponseListener listener = new InputStreamResponseListener();
        request("GET", path, limit).send(listener);
        org.eclipse.jetty.client.Response resp;
        try {
            resp = listener.get(limit.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw noReply("GET " + path, limit, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IncusException("Interrupted during GET " + path, e);
        } catch (ExecutionException e) {
            throw connectionFailure("GET " + path, e.getCause());
        }
        try (InputStream in = listener.getInputStream()) {
            if (resp.getStatus() >= 400) {
                String body = new String(in.readNBytes(65536), StandardCharsets.UTF_8);
                String message = body;
                try {
                    message = JSON.readTree(body).path("error").asText(body);
                } catch (JsonProcessingException e) {
                    // Not JSON: the body is the message.
                }
                throw Errors.map(resp.getStatus(), message);
            }
            in.transferTo(out);
            out.flush();
        } catch (IOException e) {
            throw new IncusException("Downloading " + path + " failed: " + describe(e), e);
        }
    }

    /** Opens a websocket at {@code path}, bounded by {@code limit}. */
    Session websocket(String path, Session.Listener listener, Duration limit) {
        return await(path, handshake(path, listener, limit), limit);
    }

    /** Remembers {@code s} to close it with the session (and forgets the ones already closed). */
    private Session track(Session s) {
        synchronized (sessions) {
            sessions.removeIf(x -> !x.isOpen());
            if (!closed) {
                sessions.add(s);
                return s;
            }
        }
        s.close();
        throw new IncusException("The session to " + address + " is closed");
    }

    private CompletableFuture<Session> handshake(String path, Session.Listener listener, Duration limit) {
        try {
            // The upgrade request's own idle timeout replaces the short one of a new connection (SpareClosingPool).
            long idle = limit.toMillis() + 1000;
            return ws.connect(listener, uri(true, path), new org.eclipse.jetty.websocket.client.JettyUpgradeListener() {
                @Override
                public void onHandshakeRequest(Request request) {
                    request.idleTimeout(idle, TimeUnit.MILLISECONDS);
                }
            });
        } catch (IOException e) {
            throw new IncusException("Cannot open the websocket " + stripSecret(path) + ": " + describe(e), e);
        }
    }

    private Session await(String path, CompletableFuture<Session> f, Duration limit) {
        try {
            return track(f.get(limit.toMillis(), TimeUnit.MILLISECONDS));
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new OperationTimeoutException("The websocket " + stripSecret(path) + " did not connect within "
                    + limit, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.cancel(true);
            throw new IncusException("Interrupted while connecting " + stripSecret(path), e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            if (hasCause(c, java.net.ConnectException.class) || hasCause(c, javax.net.ssl.SSLException.class)) {
                throw connectionFailure("the websocket " + stripSecret(path), c);
            }
            throw new IncusException("The websocket " + stripSecret(path) + " failed: " + describe(c), c);
        }
    }

    /**
     * A raw connection after {@code GET path} with {@code Upgrade: <protocol>} answered 101 (Incus's {@code /sftp}).
     * Jetty's upgrade hands over a non-blocking endpoint only; the SFTP client wants blocking streams, so this one
     * request goes over a connection of its own: a JDK unix-domain channel, or a TLS socket of the session's context.
     */
    Connection upgrade(String path, String protocol) {
        path = scoped(path);
        Raw raw = socket != null ? unixRaw() : tlsRaw();
        // The handshake is bounded: a watchdog closes the connection, which ends a blocked read.
        CompletableFuture<Void> handshake = new CompletableFuture<>();
        handshake.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS).whenComplete((v, e) -> {
            if (e != null) {
                raw.closeQuietly();
            }
        });
        try {
            if (raw.tls() != null) {
                raw.tls().startHandshake();
            }
            String req = "GET " + path + " HTTP/1.1\r\nHost: " + base.substring(2) + "\r\nUser-Agent: incus4j\r\n"
                    + "Upgrade: " + protocol + "\r\nConnection: Upgrade\r\n\r\n";
            raw.out().write(req.getBytes(StandardCharsets.US_ASCII));
            raw.out().flush();
            InputStream in = raw.in();
            String head = readHead(in);
            String statusLine = head.lines().findFirst().orElse("");
            String[] parts = statusLine.split(" ", 3);
            int status = parts.length > 1 ? Integer.parseInt(parts[1]) : 0;
            if (status != 101) {
                int length = 0;
                for (String line : head.lines().toList()) {
                    if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                        length = Integer.parseInt(line.substring(15).trim());
                    }
                }
                byte[] body = in.readNBytes(Math.min(length, 65536));
                handshake.complete(null);
                raw.closeQuietly();
                String text = new String(body, StandardCharsets.UTF_8);
                String message = text;
                try {
                    message = JSON.readTree(text).path("error").asText(text);
                } catch (JsonProcessingException e) {
                    // Not JSON: keep the body.
                }
                throw Errors.map(status, message.isEmpty() ? statusLine : message);
            }
            handshake.complete(null);
            return raw.connection();
        } catch (IOException | NumberFormatException e) {
            raw.closeQuietly();
            if (handshake.isCompletedExceptionally()) {
                throw new OperationTimeoutException("The Incus server at " + address + " did not answer the "
                        + protocol + " upgrade of " + stripSecret(path) + " within " + timeout, e);
            }
            if (e instanceof javax.net.ssl.SSLException) {
                throw connectionFailure("the " + protocol + " upgrade of " + path, e);
            }
            throw new IncusException("The " + protocol + " upgrade of " + path + " failed: " + describe(e), e);
        } finally {
            handshake.complete(null);
        }
    }

    /** The streams of a raw connection, what closes it, and its TLS socket if any (handshaken by the caller). */
    private record Raw(InputStream in, OutputStream out, Connection connection, javax.net.ssl.SSLSocket tls) {
        void closeQuietly() {
            try {
                connection.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "closing the upgrade connection", e);
            }
        }
    }

    private Raw unixRaw() {
        SocketChannel ch;
        try {
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            throw connectionFailure("a connection", e);
        }
        InputStream in = new ChannelInput(ch);
        // No half-close: incusd cancels on it, so closing the output closes the channel too.
        OutputStream out = new ChannelOutput(ch);
        return new Raw(in, out, Connections.of(in, out, ch), null);
    }

    private Raw tlsRaw() {
        java.net.Socket plain = new java.net.Socket();
        try {
            plain.connect(new java.net.InetSocketAddress(remote.uri().getHost(), remote.uri().getPort()),
                    (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            javax.net.ssl.SSLSocket tls = (javax.net.ssl.SSLSocket) remote.ssl().getSocketFactory()
                    .createSocket(plain, remote.uri().getHost(), remote.uri().getPort(), true);
            if (remote.verifyHostname()) {
                javax.net.ssl.SSLParameters p = tls.getSSLParameters();
                p.setEndpointIdentificationAlgorithm("HTTPS");
                tls.setSSLParameters(p);
            }
            InputStream in = tls.getInputStream();
            OutputStream out = tls.getOutputStream();
            Connection c = Connections.of(in, out, tls);
            return new Raw(in, out, c, tls);
        } catch (java.net.SocketTimeoutException e) {
            closeQuietly(plain);
            throw new OperationTimeoutException("Cannot connect to the Incus server at " + address + " within "
                    + timeout, e);
        } catch (IOException e) {
            closeQuietly(plain);
            throw connectionFailure("a connection", e);
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing a connection", e);
        }
    }

    private static String readHead(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 4 || !sb.substring(sb.length() - 4).equals("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed before the end of the reply's header");
            }
            sb.append((char) b);
            if (sb.length() > 16384) {
                throw new IOException("reply header too long");
            }
        }
        return sb.toString();
    }

    private OperationTimeoutException noReply(String what, Duration limit, Throwable cause) {
        return new OperationTimeoutException(what + " got no reply from the Incus server at " + address + " within "
                + limit, cause);
    }

    /** A transport failure as our exception, naming the address and why (refused, certificate, TLS, other). */
    IncusConnectionException connectionFailure(String what, Throwable c) {
        Tls.PinMismatch pin = cause(c, Tls.PinMismatch.class);
        if (pin != null) {
            return new IncusConnectionException(IncusConnectionException.Reason.SERVER_CERTIFICATE, address,
                    "The Incus server at " + address + " presented a certificate other than the pinned one ("
                            + pin.getMessage() + ")", c);
        }
        java.security.cert.CertificateException cert = cause(c, java.security.cert.CertificateException.class);
        if (cert != null) {
            return new IncusConnectionException(IncusConnectionException.Reason.SERVER_CERTIFICATE, address,
                    "The Incus server at " + address + " presented a certificate this client does not trust: "
                            + describe(cert), c);
        }
        java.net.ConnectException refused = cause(c, java.net.ConnectException.class);
        if (refused != null) {
            return new IncusConnectionException(IncusConnectionException.Reason.REFUSED, address,
                    "Cannot connect to the Incus server at " + address + ": " + describe(refused), c);
        }
        javax.net.ssl.SSLException tls = cause(c, javax.net.ssl.SSLException.class);
        if (tls != null) {
            return new IncusConnectionException(IncusConnectionException.Reason.TLS, address,
                    "The TLS handshake with the Incus server at " + address + " failed during " + what + ": "
                            + describe(tls), c);
        }
        return new IncusConnectionException(IncusConnectionException.Reason.FAILED, address,
                "Connection to the Incus server at " + address + " failed during " + what + ": " + describe(c), c);
    }

    private static boolean hasCause(Throwable t, Class<? extends Throwable> type) {
        return cause(t, type) != null;
    }

    private static <T extends Throwable> T cause(Throwable t, Class<T> type) {
        for (int i = 0; t != null && i < 16; t = t.getCause(), i++) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }

    static String describe(Throwable t) {
        if (t == null) {
            return "unknown error";
        }
        String m = t.getMessage();
        return m == null || m.isEmpty() ? t.getClass().getSimpleName() : m;
    }

    static String stripSecret(String path) {
        int q = path.indexOf("secret=");
        return q < 0 ? path : path.substring(0, q) + "secret=...";
    }

    private static String abbreviate(String s) {
        return s == null ? "" : s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    @Override
    public void close() {
        // The websockets this session opened (events, commands, consoles) end with it, as they did when each
        // session had its own client; the client itself stops with the last session sharing it.
        List<Session> open;
        synchronized (sessions) {
            open = new java.util.ArrayList<>(sessions);
            sessions.clear();
            closed = true;
        }
        for (Session s : open) {
            try {
                s.close();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "closing a websocket", e);
            }
        }
        clients.release();
    }

    /**
     * Jetty's connection pool, except that a new connection gets a short idle timeout until a request takes it (a
     * request sets its own; an upgraded websocket too): a spare connection no request takes is closed by Jetty's own
     * idle handling within {@link #SPARE_IDLE_MS} instead of staying silent, which stalls incusd's accept loop (see the
     * constructor). Closing it at once from here was tried: it races with a request taking it.
     */
    private static final class SpareClosingPool extends DuplexConnectionPool {
        SpareClosingPool(Destination destination) {
            super(destination, ((HttpDestination) destination).getHttpClient().getMaxConnectionsPerDestination());
        }

        @Override
        protected void onCreated(org.eclipse.jetty.client.Connection connection) {
            super.onCreated(connection);
            if (connection instanceof org.eclipse.jetty.io.Connection io) {
                io.getEndPoint().setIdleTimeout(SPARE_IDLE_MS);
            }
        }
    }

    /**
     * Reads straight from the channel: {@code Channels.newInputStream} would hold the channel's blocking lock during
     * a read and so stall concurrent writes, which a full-duplex SFTP session needs.
     */
    private static final class ChannelInput extends BulkInputStream {
        private final SocketChannel ch;

        ChannelInput(SocketChannel ch) {
            this.ch = ch;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            int n;
            do {
                n = ch.read(ByteBuffer.wrap(b, off, len));
            } while (n == 0);
            return n;
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    /** Writes the whole buffer to the upgraded channel; closing it closes the channel. */
    private static final class ChannelOutput extends BulkOutputStream {
        private final SocketChannel ch;

        ChannelOutput(SocketChannel ch) {
            this.ch = ch;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            ByteBuffer buf = ByteBuffer.wrap(b, off, len);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }
}
