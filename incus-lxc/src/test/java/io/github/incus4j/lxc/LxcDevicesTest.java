package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.io.NativeFd;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** disk, unix-char, proxy devices and devptsFd in real containers (root and liblxc needed, else skipped). */
class LxcDevicesTest extends LxcFixture {
    private static String name() {
        return "lxcd-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private Instance create(boolean privileged, Map<String, Device> devices) {
        InstanceArgs.Builder b = InstanceArgs.builder(name());
        if (privileged) {
            b.config("security.privileged", "true");
        }
        devices.forEach(b::device);
        return lxc.create(b.build(), InstanceSource.template("busybox", Map.of()));
    }

    /** Runs a shell command in the container: its exit code and output. */
    private static Result sh(Instance i, String script) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of("sh", "-c", script), null, out, err)) {
            int code = c.waitFor(WAIT);
            return new Result(code, out.toString(StandardCharsets.UTF_8).strip() + err.toString(StandardCharsets.UTF_8)
                    .strip());
        }
    }

    private record Result(int code, String out) {
    }

    private static int uid(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    private Path share() throws IOException {
        Path share = LxcHost.searchable(dir.resolve("share-" + UUID.randomUUID().toString().substring(0, 6)));
        Files.setAttribute(share, "unix:mode", 0777); // others may write: the unshifted mount's test writes as nobody
        Files.writeString(share.resolve("hello"), "from the host");
        return share;
    }

    @Test
    void sharedFolderInPrivilegedContainerIsWritableAndReadOnlyOnRequest() throws IOException {
        Path share = share();
        Path ro = share();
        Instance c = create(true, Map.of(
                "share", Device.of("type", "disk", "source", share.toString(), "path", "/mnt/share"),
                "ro", Device.of("type", "disk", "source", ro.toString(), "path", "/mnt/ro", "readonly", "true")));
        c.start(false);
        assertEquals(new Result(0, "from the host"), sh(c, "cat /mnt/share/hello"));
        assertEquals(new Result(0, "0"), sh(c, "stat -c %u /mnt/share/hello"));
        assertEquals(0, sh(c, "echo inside > /mnt/share/new").code());
        assertEquals("inside\n", Files.readString(share.resolve("new")));
        assertEquals(0, uid(share.resolve("new")), "written by root inside, root outside");
        assertEquals(new Result(0, "from the host"), sh(c, "cat /mnt/ro/hello"));
        assertNotEquals(0, sh(c, "touch /mnt/ro/new").code(), "read-only mount");
        assertFalse(Files.exists(ro.resolve("new")));
    }

    @Test
    void sharedFolderInUnprivilegedContainerIsShiftedOnRequest() throws IOException {
        Path shifted = share();
        Path plain = share();
        Path ro = share();
        Instance c = create(false, Map.of(
                "shifted", Device.of("type", "disk", "source", shifted.toString(), "path", "/mnt/shifted",
                        "shift", "true"),
                "plain", Device.of("type", "disk", "source", plain.toString(), "path", "/mnt/plain"),
                "ro", Device.of("type", "disk", "source", ro.toString(), "path", "/mnt/ro", "readonly", "true",
                        "shift", "true")));
        c.start(false);
        // Idmapped: host root's files are root's inside, and root's writes are host root's.
        assertEquals(new Result(0, "0 from the host"),
                sh(c, "echo $(stat -c %u /mnt/shifted/hello) $(cat /mnt/shifted/hello)")
);
        assertEquals(0, sh(c, "echo inside > /mnt/shifted/new").code());
        assertEquals(0, uid(shifted.resolve("new")));
        // Not shifted, as Incus without shift=true: host root is unmapped (nobody) inside, root writes as a mapped id.
        assertEquals(new Result(0, "65534"), sh(c, "stat -c %u /mnt/plain/hello"));
        assertEquals(0, sh(c, "echo inside > /mnt/plain/new").code());
        long base = LxcDriver.allocation().orElseThrow().entries().get(0).hostId();
        assertEquals(base, uid(plain.resolve("new")));
        assertNotEquals(0, sh(c, "touch /mnt/ro/new").code(), "read-only mount");
        assertFalse(Files.exists(ro.resolve("new")));
    }

    @Test
    void singleFileIsBound() throws IOException {
        Path file = dir.resolve("single.txt");
        Files.writeString(file, "one file");
        Instance c = create(false, Map.of("f", Device.of("type", "disk", "source", file.toString(),
                "path", "/etc/single.txt", "readonly", "true")));
        c.start(false);
        assertEquals(new Result(0, "one file"), sh(c, "cat /etc/single.txt"));
    }

    @Test
    void targetThroughASymlinkIsRefusedAndMissingSourcesFollowRequired() throws IOException {
        Path share = share();
        Instance c = create(true, Map.of("share", Device.of("type", "disk", "source", share.toString(),
                "path", "/mnt/evil/inner")));
        Files.createDirectories(c.rootfsPath().resolve("mnt"));
        Files.createSymbolicLink(c.rootfsPath().resolve("mnt/evil"), dir);
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> c.start(false));
        assertTrue(e.getMessage().contains("goes through the symbolic link \"/mnt/evil\""), e.getMessage());
        assertFalse(Files.exists(dir.resolve("inner")), "nothing made outside the root filesystem");

        // As Incus's disk.validateConfig: a required source that does not exist is refused at create.
        e = assertThrows(InvalidArgumentException.class, () -> create(true, Map.of("gone", Device.of("type", "disk",
                "source", "/nonexistent-src", "path", "/mnt/gone"))));
        assertEquals("Failed add validation for device \"gone\": Missing source path \"/nonexistent-src\" for disk"
                + " \"gone\"", e.getMessage());
        Instance optional = create(true, Map.of("gone", Device.of("type", "disk", "source", "/nonexistent-src",
                "path", "/mnt/gone", "required", "false")));
        optional.start(false);
        assertTrue(optional.isRunning());
    }

    @Test
    void unixCharNodesWork() {
        Instance c = create(false, Map.of(
                "mynull", Device.of("type", "unix-char", "source", "/dev/null", "path", "/dev/mynull", "mode",
                        "0666"),
                "myzero", Device.of("type", "unix-char", "path", "/dev/myzero", "major", "1", "minor", "5"),
                "absent", Device.of("type", "unix-char", "source", "/dev/no-such-node", "required", "false"),
                "mask", Device.of("type", "none")));
        c.start(false);
        assertEquals(new Result(0, "1:3 666 0"), sh(c, "stat -c '%t:%T %a %u' /dev/mynull"));
        assertEquals(0, sh(c, "echo discarded > /dev/mynull").code());
        assertEquals(new Result(0, "4"), sh(c, "head -c 4 /dev/myzero | wc -c"));
        assertEquals(new Result(0, "660"), sh(c, "stat -c %a /dev/myzero"));
        assertNotEquals(0, sh(c, "test -e /dev/no-such-node").code());

        Instance required = create(false, Map.of("absent", Device.of("type", "unix-char", "source",
                "/dev/no-such-node")));
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> required.start(false));
        assertEquals("Failed to start device \"absent\": The required device path doesn't exist and the major and "
                + "minor settings are not specified", e.getMessage());
    }

    @Test
    void unsupportedDeviceTypesAreRefusedAtCreate() {
        int before = lxc.list().size();
        // The driver's DeviceSupport refuses what it would not apply, before anything is written.
        NotSupportedException e = assertThrows(NotSupportedException.class,
                () -> create(true, Map.of("g", Device.of("type", "gpu"))));
        assertEquals("The \"lxc\" driver does not support device type \"gpu\" (device \"g\")", e.getMessage());
        assertEquals(before, lxc.list().size());
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static String httpGet(int port) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write("GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void proxyReachesHttpdInsideAnUnprivilegedContainer() throws Exception {
        int port = freePort();
        Instance c = create(false, Map.of("web", Device.of("type", "proxy", "listen", "tcp:127.0.0.1:" + port,
                "connect", "tcp:127.0.0.1:8080")));
        c.start(false);
        assertEquals(0, sh(c, "ifconfig lo 127.0.0.1 up").code()); // busybox init leaves the loopback down
        assertEquals(0, sh(c, "mkdir -p /www && echo 'hello through the proxy' > /www/index.html"
                + " && httpd -p 127.0.0.1:8080 -h /www").code());
        String page = null;
        for (int attempt = 0; attempt < 50; attempt++) { // httpd daemonizes: give it time to listen
            page = httpGet(port);
            if (page.contains("200 OK")) {
                break;
            }
            Thread.sleep(100);
        }
        assertTrue(page.contains("200 OK") && page.endsWith("hello through the proxy\n"), page);
        // Many connections in a row: each is forwarded and closed.
        for (int i = 0; i < 20; i++) {
            assertTrue(httpGet(port).endsWith("hello through the proxy\n"));
        }
        ((LxcContainerInstance) c).deviceRemoved("web", c.expandedDevices().get("web"));
        assertThrows(IOException.class, () -> httpGet(port), "the listener is closed with the device");
        ((LxcContainerInstance) c).deviceAdded("web", c.expandedDevices().get("web"));
        assertTrue(httpGet(port).endsWith("hello through the proxy\n"), "added again while running");
        c.stop(false);
        assertTrue(((LxcContainerInstance) c).runningProxies().isEmpty());
        assertThrows(IOException.class, () -> httpGet(port), "closed with the stop");
    }

    @Test
    void proxyBoundInTheInstanceReachesAHostListener() throws Exception {
        int inside = 9000;
        try (ServerSocket host = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            Instance c = create(true, Map.of("back", Device.of("type", "proxy", "bind", "instance",
                    "listen", "tcp:127.0.0.1:" + inside, "connect", "tcp:127.0.0.1:" + host.getLocalPort())));
            c.start(false);
            assertEquals(0, sh(c, "ifconfig lo 127.0.0.1 up").code());
            Thread server = new Thread(() -> {
                try (Socket s = host.accept()) {
                    s.getOutputStream().write("pong\n".getBytes(StandardCharsets.US_ASCII));
                } catch (IOException ignored) {
                    // the assertion below fails instead
                }
            }, "test-host-listener");
            server.setDaemon(true);
            server.start();
            assertEquals(new Result(0, "pong"), sh(c, "nc 127.0.0.1 " + inside + " </dev/null"));
            server.join(10_000);
        }
    }

    @Test
    void devptsFdOfARunningContainer() throws IOException {
        Container c = (Container) create(false, Map.of());
        assertThrows(InstanceStateException.class, c::devptsFd);
        c.start(false);
        try (NativeFd fd = c.devptsFd()) {
            assertTrue(fd.fd() > 2);
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd.fd())).toString();
            assertTrue(target.endsWith("pts"), target);
        }
    }

    @Test
    void disksAndNodesAreAddedToAndRemovedFromARunningContainer() throws IOException {
        Path shifted = share();
        Path ro = share();
        LxcContainerInstance c = (LxcContainerInstance) create(false, Map.of());
        c.start(false);
        Device disk = Device.of("type", "disk", "source", shifted.toString(), "path", "/mnt/hot", "shift", "true");
        Device roDisk = Device.of("type", "disk", "source", ro.toString(), "path", "/mnt/hotro", "readonly", "true");
        Device node = Device.of("type", "unix-char", "source", "/dev/null", "path", "/dev/hotnull", "mode", "0666");
        c.deviceAdded("hot", disk);
        c.deviceAdded("hotro", roDisk);
        c.deviceAdded("hotnull", node);
        assertEquals(new Result(0, "0 from the host"),
                sh(c, "echo $(stat -c %u /mnt/hot/hello) $(cat /mnt/hot/hello)"));
        assertEquals(0, sh(c, "echo inside > /mnt/hot/new").code());
        assertEquals(0, uid(shifted.resolve("new")), "idmapped: root inside is root outside");
        assertEquals(new Result(0, "65534 from the host"),
                sh(c, "echo $(stat -c %u /mnt/hotro/hello) $(cat /mnt/hotro/hello)"));
        assertNotEquals(0, sh(c, "touch /mnt/hotro/new").code(), "read-only mount");
        assertEquals(new Result(0, "1:3 666"), sh(c, "stat -c '%t:%T %a' /dev/hotnull"));
        assertEquals(0, sh(c, "echo x > /dev/hotnull").code());

        c.deviceRemoved("hot", disk);
        c.deviceRemoved("hotnull", node);
        assertEquals(new Result(1, ""), sh(c, "test -e /mnt/hot/hello"));
        assertEquals(new Result(1, ""), sh(c, "test -e /dev/hotnull"));
        assertTrue(Files.exists(shifted.resolve("hello")), "the host side stays");

        Path outside = dir.resolve("outside");
        Files.createDirectories(outside);
        assertEquals(0, sh(c, "ln -s / /mnt/link").code());
        Device escape = Device.of("type", "disk", "source", shifted.toString(), "path", "/mnt/link/tmp/x");
        assertThrows(InvalidArgumentException.class, () -> c.deviceAdded("escape", escape));
    }

    @Test
    void seccompDeviceInsertionMakesTheNodeForTheProcess() {
        LxcContainerInstance c = (LxcContainerInstance) create(false, Map.of());
        assertThrows(InvalidArgumentException.class, () -> c.insertSeccompUnixDevice("forkmknod.unix.1",
                Device.of("type", "unix-char"), -1), "Invalid request PID specified");
        c.start(false);
        int pid = c.initPid();
        c.insertSeccompUnixDevice("forkmknod.unix." + pid, Device.of("type", "unix-char", "major", "1", "minor", "3",
                "mode", "020644", "path", "/dev/seccompnull"), pid);
        assertEquals(new Result(0, "1:3 644 0"), sh(c, "stat -c '%t:%T %a %u' /dev/seccompnull"));
        assertEquals(0, sh(c, "echo x > /dev/seccompnull").code());
    }

    @Test
    void unixProxiesStayInsideTheContainer() throws Exception {
        // A host listener a symbolic link in the container points at: the proxy must not reach it.
        Path hostSock = dir.resolve("host.sock");
        try (java.nio.channels.ServerSocketChannel host = java.nio.channels.ServerSocketChannel.open(
                java.net.StandardProtocolFamily.UNIX).bind(java.net.UnixDomainSocketAddress.of(hostSock));
                ServerSocket tcpHost = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            host.configureBlocking(false);
            int port = freePort();
            LxcContainerInstance c = (LxcContainerInstance) create(false, Map.of(
                    "evil", Device.of("type", "proxy", "listen", "tcp:127.0.0.1:" + port, "connect",
                            "unix:/tmp/evil.sock"),
                    "in", Device.of("type", "proxy", "bind", "instance", "listen", "unix:/tmp/in.sock",
                            "connect", "tcp:127.0.0.1:" + tcpHost.getLocalPort(), "mode", "0600")));
            c.start(false);
            assertEquals(0, sh(c, "ln -s " + hostSock + " /tmp/evil.sock").code());
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.setSoTimeout(5000);
                assertEquals(-1, s.getInputStream().read(), "closed: the link is not followed");
            } catch (IOException reset) {
                // a reset is the same refusal
            }
            assertEquals(null, host.accept(), "the host socket was never reached");

            // bind=instance: the socket is made in the container's /tmp, with its mode, and leads to the host.
            assertEquals(new Result(0, "srw-------"), sh(c, "ls -l /tmp/in.sock | cut -c1-10"));
            Path inside = Path.of("/proc", Integer.toString(c.initPid()), "root", "tmp", "in.sock");
            try (java.nio.channels.SocketChannel client = java.nio.channels.SocketChannel.open(
                    java.net.UnixDomainSocketAddress.of(inside))) {
                tcpHost.setSoTimeout(5000);
                try (Socket accepted = tcpHost.accept()) {
                    accepted.getOutputStream().write("hi".getBytes(StandardCharsets.US_ASCII));
                }
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(8);
                client.read(buf);
                assertEquals("hi", new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII));
            }
        }
    }
}
