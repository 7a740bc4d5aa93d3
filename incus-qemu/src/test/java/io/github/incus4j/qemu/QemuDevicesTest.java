package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.ApiInstanceState;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * NICs, directory shares, extra disks and proxies of real VMs (two boots for the whole class): one VM with a bridged
 * NIC on a bridge the test makes ({@code i4jq...}, a private /24 that {@code ip route get} must send to that bridge;
 * only as root with {@code /dev/net/tun}), a user-mode NIC ({@code nictype=p2p}), a proxy to busybox {@code httpd} in
 * the guest, a read-write and a read-only virtio-fs share and an extra raw disk, into which a disk file and a bridged
 * NIC are hot-plugged and unplugged; one VM with no NIC at all.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class QemuDevicesTest {
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String DATA_MARKER = "incus4j-extra-disk-marker";

    @TempDir
    static Path dir;
    private QemuInstances instances;
    private QemuVm vm;
    private String bridge;
    private String subnet; // "10.x.y"
    private String bridgeSkip;
    private int webPort;
    private Path share;
    private Path roShare;

    @BeforeAll
    void boot() throws Exception {
        TestGuest.image();
        instances = new QemuDriver().open(dir.resolve("root"), TestGuest.settings());
        share = Files.createDirectories(dir.resolve("share"));
        roShare = Files.createDirectories(dir.resolve("ro-share"));
        Files.writeString(roShare.resolve("ro.txt"), "read-only\n");
        Path data = dir.resolve("data.img");
        byte[] img = new byte[1 << 20];
        byte[] marker = DATA_MARKER.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(marker, 0, img, 0, marker.length);
        Files.write(data, img);
        webPort = freePort();

        Map<String, Device> devices = new HashMap<>();
        bridgeSkip = makeBridge();
        if (bridgeSkip == null) {
            devices.put("eth0", Device.of("type", "nic", "nictype", "bridged", "parent", bridge));
        }
        devices.put("eth1", Device.of("type", "nic", "nictype", "p2p"));
        devices.put("web", Device.of("type", "proxy", "listen", "tcp:127.0.0.1:" + webPort,
                "connect", "tcp:127.0.0.1:8080", "nat", "true"));
        devices.put("share", Device.of("type", "disk", "source", share.toString(), "path", "/mnt/share"));
        devices.put("ro", Device.of("type", "disk", "source", roShare.toString(), "path", "/mnt/ro",
                "readonly", "true"));
        devices.put("data", Device.of("type", "disk", "source", data.toString()));
        // migration.stateful: a stateful stop after the hot-plug tests is refused for the driver's reason.
        vm = (QemuVm) instances.create(InstanceArgs.builder("dev-1").type(InstanceType.VM)
                .config(Map.of("migration.stateful", "true")).devices(new Devices(devices)).build(),
                InstanceSource.image(TestGuest.image()));
        vm.start(false);
        sh(vm, "true"); // waits for the guest's agent
    }

    @AfterAll
    void close() {
        try {
            if (instances != null) {
                for (var i : instances.list()) {
                    if (i.isRunning()) {
                        i.stop(false);
                    }
                }
                instances.close();
            }
        } finally {
            if (bridge != null) {
                run(List.of("ip", "link", "delete", "dev", bridge));
            }
        }
    }

    /** Makes the test bridge with {@code <subnet>.1/24}; returns why not, or null. */
    private String makeBridge() {
        if (!"root".equals(System.getProperty("user.name")) || !Files.exists(Path.of("/dev/net/tun"))) {
            return "bridged NICs need root and /dev/net/tun";
        }
        ThreadLocalRandom r = ThreadLocalRandom.current();
        String name = String.format("i4jq%06x", r.nextInt(1 << 24));
        String net = "10.254." + r.nextInt(1, 255);
        if (run(List.of("ip", "link", "add", name, "type", "bridge")) != 0) {
            return "cannot create a bridge here";
        }
        bridge = name;
        run(List.of("ip", "addr", "add", net + ".1/24", "dev", name));
        run(List.of("ip", "link", "set", name, "up"));
        String route = output(List.of("ip", "route", "get", net + ".2"));
        if (!route.contains("dev " + name)) {
            return "the test subnet " + net + ".0/24 does not route to " + name + ": " + route;
        }
        subnet = net;
        return null;
    }

    // ---- proxy -------------------------------------------------------------------------------------------------

    @Test
    @Order(1)
    void proxyFetchesAPageFromBusyboxHttpdInTheGuest() throws Exception {
        sh(vm, "mkdir -p /www && echo hello-from-the-vm > /www/index.html"
                + " && httpd -p 8080 -h /www </dev/null >/dev/null 2>&1");
        assertEquals("hello-from-the-vm\n", fetch(webPort));

        // Hot add and remove, as the device hooks do.
        int second = freePort();
        Device extra = Device.of("type", "proxy", "listen", "tcp:127.0.0.1:" + second, "connect", "tcp:0.0.0.0:8080");
        vm.addProxy("web2", extra);
        assertEquals("hello-from-the-vm\n", fetch(second));
        vm.removeProxy("web2", extra);
        assertThrows(ConnectException.class, () -> new java.net.Socket(InetAddress.getLoopbackAddress(), second)
                .close());
    }

    /**
     * The user-mode NIC is {@code restrict=on}: libslirp would map 10.0.2.2 to the host's loopback, where a listener
     * of the test's waits; the guest's connection must never arrive (the proxy test shows forwards still work).
     */
    @Test
    @Order(1)
    void guestCannotReachTheHostLoopbackOverTheUserModeNic() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            listener.setSoTimeout(15_000);
            // In the background: the accept below is the proof (an open connection would keep nc running).
            sh(vm, "(nc 10.0.2.2 " + listener.getLocalPort() + " </dev/null >/dev/null 2>&1 &)");
            assertThrows(java.net.SocketTimeoutException.class, () -> listener.accept().close(),
                    "a connection from the guest arrived on the host's loopback");
        }
    }

    // ---- disks ---------------------------------------------------------------------------------------------------

    @Test
    @Order(2)
    void directorySharesAreMountedInTheGuest() throws IOException {
        Files.writeString(share.resolve("from-host.txt"), "host wrote this\n");
        String seen = waitFor(() -> sh(vm, "cat /mnt/share/from-host.txt 2>/dev/null || true"),
                s -> s.equals("host wrote this\n"));
        assertEquals("host wrote this\n", seen);
        sh(vm, "echo guest wrote this > /mnt/share/from-guest.txt");
        assertEquals("guest wrote this\n", Files.readString(share.resolve("from-guest.txt")));

        assertEquals("read-only\n", waitFor(() -> sh(vm, "cat /mnt/ro/ro.txt 2>/dev/null || true"),
                s -> s.equals("read-only\n")));
        assertEquals("refused\n", sh(vm, "echo x > /mnt/ro/new.txt 2>/dev/null && echo written || echo refused"));
        assertFalse(Files.exists(roShare.resolve("new.txt")));
        assertTrue(sh(vm, "grep ' /mnt/share ' /proc/mounts").startsWith("incus_share /mnt/share virtiofs"),
                "mounted with Incus's mount tag");
    }

    @Test
    @Order(3)
    void fileDiskIsAnExtraVirtioDisk() {
        assertEquals("incus_data\n", sh(vm, "cat /sys/block/vdb/serial; echo"));
        assertEquals(DATA_MARKER, sh(vm, "head -c " + DATA_MARKER.length() + " /dev/vdb"));
    }

    // ---- state -------------------------------------------------------------------------------------------------

    @Test
    @Order(4)
    void stateShowsTheGuestsInterfacesWithoutTheManagementNic() {
        ApiInstanceState st = vm.renderState(null);
        Map<String, ApiInstanceState.Network> net = st.network();
        List<String> expected = bridgeSkip == null ? List.of("eth0", "eth1", "lo") : List.of("eth0", "lo");
        assertEquals(expected, net.keySet().stream().sorted().toList(), "interfaces: " + net);
        String userNic = bridgeSkip == null ? "eth1" : "eth0";
        ApiInstanceState.Network user = net.get(userNic);
        assertEquals(vm.localConfig().get("volatile.eth1.hwaddr"), user.hwaddr());
        assertTrue(user.addresses().stream().anyMatch(a -> a.address().equals("10.0.2.15")), "DHCP address of "
                + user);
        assertTrue(user.counters().bytesReceived() > 0, "guest counters of " + user);
        net.values().forEach(n -> assertNotEquals(VmNics.MGMT_MAC, n.hwaddr()));

        MetricSet m = vm.metrics(null);
        for (String dev : expected) {
            assertNotNull(m.find(MetricType.NETWORK_RECEIVE_BYTES_TOTAL, "device", dev), dev + " in " + m.toText());
        }
        assertNotNull(m.find(MetricType.DISK_READ_BYTES_TOTAL, "device", "data"), m.toText());
    }

    // ---- bridged NIC ---------------------------------------------------------------------------------------------

    @Test
    @Order(5)
    void bridgedNicIsATapOnTheBridge() throws IOException {
        assumeTrue(bridgeSkip == null, () -> bridgeSkip);
        String tap = vm.localConfig().get("volatile.eth0.host_name");
        assertNotNull(tap);
        assertTrue(tap.matches("tap[0-9a-f]{8}"), tap);
        assertTrue(output(List.of("ip", "-o", "link", "show", "dev", tap)).contains("master " + bridge));
        ApiInstanceState.Network eth0 = vm.renderState(null).network().get("eth0");
        assertEquals(tap, eth0.hostName());
        assertEquals(vm.localConfig().get("volatile.eth0.hwaddr"), eth0.hwaddr());

        // A static address in the guest, which connects to a listener of the test on the bridge's own address
        // (nothing leaves the host: the subnet routes to the test's bridge).
        sh(vm, "ip addr add " + subnet + ".2/24 dev eth0 2>/dev/null; ip link set eth0 up");
        assertTrue(output(List.of("ip", "route", "get", subnet + ".2")).contains("dev " + bridge));
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getByName(subnet + ".1"))) {
            listener.setSoTimeout((int) WAIT.toMillis());
            // busybox nc ends when the peer closes: in the background, so that the test can accept and close.
            sh(vm, "(echo over-the-bridge | nc -w 10 " + subnet + ".1 " + listener.getLocalPort()
                    + ") </dev/null >/dev/null 2>&1 &");
            try (java.net.Socket s = listener.accept()) {
                s.setSoTimeout(10_000);
                assertEquals("over-the-bridge", new java.io.BufferedReader(new java.io.InputStreamReader(
                        s.getInputStream(), StandardCharsets.UTF_8)).readLine());
                assertEquals(subnet + ".2", s.getInetAddress().getHostAddress());
            }
        }
    }

    // ---- hot-plug ------------------------------------------------------------------------------------------------

    /** A disk file added to the running VM appears in the guest as a virtio disk with its serial, and goes again. */
    @Test
    @Order(6)
    void aDiskFileIsHotPluggedAndUnplugged() throws IOException {
        Path hot = dir.resolve("hot.img");
        byte[] img = new byte[1 << 20];
        byte[] marker = "incus4j-hot-disk".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(marker, 0, img, 0, marker.length);
        Files.write(hot, img);
        String serials = "for s in /sys/block/vd*/serial; do cat $s; echo; done";
        assertFalse(sh(vm, serials).contains("incus_hot"));
        vm.update(argsOf(vm).devices(vm.localDevices().with("hot", Device.of("type", "disk", "source",
                hot.toString()))).build(), true);
        String seen = waitFor(() -> sh(vm, serials), s -> s.contains("incus_hot"));
        assertTrue(seen.contains("incus_hot"), "serials in the guest: " + seen);
        String disk = sh(vm, "for d in /sys/block/vd*; do [ \"$(cat $d/serial)\" = incus_hot ] && echo ${d##*/};"
                + " done").trim();
        assertEquals("incus4j-hot-disk", waitFor(() -> sh(vm, "head -c 16 /dev/" + disk + " 2>/dev/null || true"),
                s -> s.equals("incus4j-hot-disk")));

        vm.update(argsOf(vm).devices(vm.localDevices().with("hot", null)).build(), true);
        // device_del returned once QEMU reported DEVICE_DELETED: the guest has let the disk go.
        assertFalse(sh(vm, serials).contains("incus_hot"), "the removed disk is gone from the guest");
        assertNull(vm.localDevices().get("hot"));
        // Its port is free again: the disk goes back in.
        vm.update(argsOf(vm).devices(vm.localDevices().with("hot", Device.of("type", "disk", "source",
                hot.toString(), "readonly", "true"))).build(), true);
        assertTrue(waitFor(() -> sh(vm, serials), s -> s.contains("incus_hot")).contains("incus_hot"));
        vm.update(argsOf(vm).devices(vm.localDevices().with("hot", null)).build(), true);

        // The layout of root ports now differs from what a new QEMU would get: its state cannot be saved.
        NotSupportedException e = assertThrows(NotSupportedException.class, () -> vm.stop(true));
        assertTrue(e.getMessage().contains("devices were added or removed while it runs"), e.getMessage());
        assertTrue(vm.isRunning());
    }

    /** A bridged NIC goes in live with its tap on the bridge, and out again with its tap and volatile keys. */
    @Test
    @Order(6)
    void aBridgedNicIsHotPluggedAndUnplugged() {
        assumeTrue(bridgeSkip == null, () -> bridgeSkip);
        vm.update(argsOf(vm).devices(vm.localDevices().with("hotnic", Device.of("type", "nic", "nictype",
                "bridged", "parent", bridge))).build(), true);
        String mac = vm.localConfig().get("volatile.hotnic.hwaddr");
        String tap = vm.localConfig().get("volatile.hotnic.host_name");
        assertNotNull(mac);
        assertNotNull(tap);
        assertTrue(output(List.of("ip", "-o", "link", "show", "dev", tap)).contains("master " + bridge));
        String links = "cat /sys/class/net/*/address";
        assertTrue(waitFor(() -> sh(vm, links), s -> s.contains(mac)).contains(mac), "the guest sees " + mac);
        assertTrue(vm.renderState(null).network().values().stream().anyMatch(n -> mac.equals(n.hwaddr())
                && tap.equals(n.hostName())), () -> "state: " + vm.renderState(null).network());

        vm.update(argsOf(vm).devices(vm.localDevices().with("hotnic", null)).build(), true);
        assertFalse(sh(vm, links).contains(mac), "the removed NIC is gone from the guest");
        assertFalse(Files.exists(Path.of("/sys/class/net", tap)), tap + " removed");
        assertFalse(vm.localConfig().keySet().stream().anyMatch(k -> k.startsWith("volatile.hotnic.")),
                () -> vm.localConfig().toString());
    }

    /** What the driver cannot change live is refused and leaves the VM's devices as they were. */
    @Test
    @Order(6)
    void aDirectoryShareIsRefusedLive() throws IOException {
        Path more = Files.createDirectories(dir.resolve("more"));
        Devices before = vm.localDevices();
        NotSupportedException e = assertThrows(NotSupportedException.class, () -> vm.update(argsOf(vm).devices(
                before.with("more", Device.of("type", "disk", "source", more.toString(), "path", "/mnt/more")))
                .build(), true));
        assertTrue(e.getMessage().contains("shared directory \"more\""), e.getMessage());
        assertEquals(before, vm.localDevices());
    }

    @Test
    @Order(7)
    void stopRemovesTheTapAndClosesTheForwards() {
        String tap = vm.localConfig().get("volatile.eth0.host_name");
        vm.stop(false);
        if (tap != null) {
            assertFalse(Files.exists(Path.of("/sys/class/net", tap)), tap + " removed");
            assertEquals("", vm.localConfig().getOrDefault("volatile.eth0.host_name", ""));
        }
        assertThrows(ConnectException.class, () -> new java.net.Socket(InetAddress.getLoopbackAddress(), webPort)
                .close());
    }

    @Test
    @Order(8)
    void vmWithoutNicShowsOnlyLoopback() {
        QemuVm bare = (QemuVm) instances.create(InstanceArgs.builder("dev-2").type(InstanceType.VM).build(),
                InstanceSource.image(TestGuest.image()));
        bare.start(false);
        try {
            // No exec first: the state reaches the agent by itself once the guest has booted. Before that a VM
            // without NIC devices has nothing to report.
            String keys = waitFor(() -> bare.renderState(null).network().keySet().toString(), k -> !k.equals("[]"));
            assertEquals("[lo]", keys);
            // The driver's own channel still works: interactive exec goes over SSH on the management NIC.
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (Cmd c = bare.exec(ExecRequest.builder("/bin/sh", "-c", "echo over-ssh").interactive(true).build(), null, out,
                    null)) {
                assertEquals(0, c.waitFor(WAIT));
            }
            assertTrue(out.toString(StandardCharsets.UTF_8).contains("over-ssh"), out.toString());
        } finally {
            bare.stop(false);
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------------

    /** A plain HTTP/1.0 GET of {@code /index.html} on the loopback port (retried while the guest comes up). */
    private static String fetch(int port) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try (java.net.Socket s = new java.net.Socket()) {
                s.connect(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
                s.setSoTimeout(10_000);
                s.getOutputStream().write("GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                String r = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (r.startsWith("HTTP/1.") && r.contains(" 200 ") && r.contains("\r\n\r\n")) {
                    return r.substring(r.indexOf("\r\n\r\n") + 4);
                }
                last = new IOException("answer: " + r);
            } catch (IOException e) {
                last = e;
            }
            TimeUnit.MILLISECONDS.sleep(500);
        }
        throw new AssertionError("no page from 127.0.0.1:" + port, last);
    }

    private static String waitFor(Supplier<String> s, java.util.function.Predicate<String> done) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        String v = s.get();
        while (!done.test(v) && System.nanoTime() < deadline) {
            try {
                TimeUnit.MILLISECONDS.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            v = s.get();
        }
        return v;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static InstanceArgs.Builder argsOf(QemuVm i) {
        return InstanceArgs.builder(i.name()).type(i.type()).config(i.localConfig()).devices(i.localDevices())
                .profiles(i.profiles());
    }

    private static String sh(QemuVm i, String script) {
        return QemuStateTest.sh(i, script);
    }

    private static int run(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private static String output(List<String> cmd) {
        try {
            Path out = Files.createTempFile(dir, "cmd", ".out");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail(cmd + " did not finish");
            }
            return Files.readString(out);
        } catch (IOException e) {
            throw new AssertionError(cmd + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
