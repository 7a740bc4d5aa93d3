package io.github.incus4j.testkit.contract;

import static io.github.incus4j.testkit.contract.ContractGroup.argsOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.config.DeviceChanges;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.metrics.Sample;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.rest.ApiInstanceState;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;

/**
 * The DEVICES group of {@link InstanceDriverContract} (its nested {@code DeviceGroup} runs these): validation with
 * Incus's texts, expansion from profiles with {@code none} masking, the volatile keys of NICs, devices added and
 * removed on a running instance, the state and metrics following the NICs, proxies reaching a server in the
 * instance, and shared folders. Validation and expansion bind every driver; the effects are gated by the
 * {@code *_DEVICES} capabilities, so a driver runs what it implements.
 */
abstract class DevicesGroup {
    private static final Pattern MAC = Pattern.compile("10:66:6a(:[0-9a-f]{2}){3}");
    private static final String INVALID = "Invalid devices: Device validation failed for ";

    private final ContractSupport c;

    DevicesGroup(ContractSupport contract) {
        this.c = contract;
    }

    private Device nic(InstanceType type) {
        return c.dut().nicDevice(type);
    }

    /** The interfaces of the running instance's state other than {@code lo}. */
    private static Map<String, ApiInstanceState.Network> nonLoopback(Instance i) {
        Map<String, ApiInstanceState.Network> out = new HashMap<>(i.renderState(List.of()).network());
        out.remove("lo");
        return out;
    }

    // ---- validation: every driver -------------------------------------------------------------------------------

    @ForEachInstanceType
    void unknownDeviceTypeIsRefused(InstanceType type) {
        c.instances(); // opened first: what a driver lays out when it opens is not the refused create's doing
        Set<String> before = c.tree();
        ContractSupport.assertRefused(InvalidArgumentException.class, INVALID
                + "\"g\": Failed loading device \"g\": Unsupported device type",
                () -> c.create(c.args(type).device("g", Device.of("type", "garbage")).build()));
        assertEquals(before, c.tree());
    }

    @ForEachInstanceType
    void unknownDeviceOptionIsRefused(InstanceType type) {
        ContractSupport.assertRefused(InvalidArgumentException.class, INVALID + "\"p\": Invalid device option \"bogus\"",
                () -> c.create(c.args(type).device("p", Device.of("type", "proxy", "listen", "tcp:127.0.0.1:1",
                        "connect", "tcp:127.0.0.1:2", "nat", "true", "bogus", "1")).build()));
    }

    @ForEachInstanceType
    void requiredOptionsAreRefusedWithIncusTexts(InstanceType type) {
        ContractSupport.assertRefused(InvalidArgumentException.class,
                INVALID + "\"n\": Invalid value for device option \"parent\": Required value",
                () -> c.create(c.args(type).device("n", Device.of("type", "nic", "nictype", "bridged")).build()));
        ContractSupport.assertRefused(InvalidArgumentException.class,
                INVALID + "\"p\": Invalid value for device option \"connect\": Required value",
                () -> c.create(c.args(type).device("p", Device.of("type", "proxy", "listen", "tcp:127.0.0.1:1"))
                        .build()));
        ContractSupport.assertRefused(InvalidArgumentException.class,
                INVALID + "\"d\": Disk entry is missing the required \"source\" or \"path\" property",
                () -> c.create(c.args(type).device("d", Device.of("type", "disk", "readonly", "true")).build()));
    }

    @ForInstanceType(InstanceType.VM)
    void vmsRefuseContainerOnlyDevicesAndHostProxies(InstanceType type) {
        ContractSupport.assertRefused(InvalidArgumentException.class, INVALID + "\"u\": Unsupported device type",
                () -> c.create(c.args(type).device("u", Device.of("type", "unix-char", "path", "/dev/zero")).build()));
        ContractSupport.assertRefused(InvalidArgumentException.class,
                INVALID + "\"p\": Only NAT mode is supported for proxies on VM instances",
                () -> c.create(c.args(type).device("p", Device.of("type", "proxy", "listen", "tcp:127.0.0.1:1",
                        "connect", "tcp:127.0.0.1:2")).build()));
    }

    @ForEachInstanceType
    void invalidDeviceOnUpdateLeavesTheDefinition(InstanceType type) {
        Instance i = c.create(type);
        Devices before = i.localDevices();
        ContractSupport.assertRefused(InvalidArgumentException.class,
                INVALID + "\"g\": Failed loading device \"g\": Unsupported device type",
                () -> i.update(argsOf(i).devices(before.with("g", Device.of("type", "garbage"))).build(), true));
        assertEquals(before, i.localDevices());
    }

    /** What Incus accepts but the driver does not apply is refused naming driver and device, never kept unapplied. */
    @ForEachInstanceType
    void aDeviceTheDriverDoesNotApplyIsRefusedNotDropped(InstanceType type) {
        Device usb = Device.of("type", "usb", "vendorid", "1d6b", "required", "false");
        Instance i;
        try {
            i = c.create(c.args(type).device("u", usb).build());
        } catch (NotSupportedException e) {
            assertTrue(e.getMessage().contains("driver does not support") && e.getMessage().contains("\"usb\"")
                    && e.getMessage().endsWith("(device \"u\")"), e.getMessage());
            return;
        }
        // A driver that takes it (a real Incus behind it) keeps it in the definition.
        assertEquals(usb, i.localDevices().get("u"));
    }

    // ---- expansion: every driver ---------------------------------------------------------------------------------

    @ForEachInstanceType
    void noneMasksAProfileDevice(InstanceType type) {
        Profile p = Profile.of("nets", Map.of(), Devices.EMPTY.with("eth0", Device.of("type", "nic", "nictype",
                "p2p")).with("extra", Device.of("type", "disk", "source", "/nonexistent-incus4j", "path", "/x")));
        Instance i = c.create(c.args(type).profiles(List.of(p)).device("eth0", Device.of("type", "none"))
                .device("extra", Device.of("type", "none")).build());
        assertEquals("none", i.expandedDevices().get("eth0").type(), "the local none wins");
        assertEquals("none", i.expandedDevices().get("extra").type());
        assertEquals("p2p", i.profiles().get(0).devices().get("eth0").get("nictype"));
        assertFalse(i.localConfig().keySet().stream().anyMatch(k -> k.startsWith("volatile.eth0.")),
                () -> "a masked NIC gets no volatile keys: " + i.localConfig());
        // Masked devices are not applied: the profile's disk has no source on this host.
        i.start(false);
        assertTrue(i.isRunning());
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.NIC_DEVICES)
    void withoutANicTheStateShowsOnlyLoopback(InstanceType type) {
        Instance i = c.createRunning(type);
        assertEquals(Set.of(), nonLoopback(i).keySet(), "no interface but lo without a NIC");
    }

    @ForEachInstanceType
    void profilesExpandInOrderUnderLocalDevices(InstanceType type) {
        Profile a = Profile.of("a", Map.of(), Devices.EMPTY.with("m", Device.of("type", "none", "user.from", "a"))
                .with("n", Device.of("type", "none", "user.from", "a")));
        Profile b = Profile.of("b", Map.of(), Devices.EMPTY.with("m", Device.of("type", "none", "user.from", "b")));
        Instance i = c.create(c.args(type).profiles(List.of(a, b))
                .device("o", Device.of("type", "none", "user.from", "local")).build());
        assertEquals("b", i.expandedDevices().get("m").get("user.from"), "a later profile wins");
        assertEquals("a", i.expandedDevices().get("n").get("user.from"));
        assertEquals("local", i.expandedDevices().get("o").get("user.from"));
        assertNull(i.localDevices().get("m"));
    }

    // ---- NICs ----------------------------------------------------------------------------------------------------

    @ForEachInstanceType
    @RequiresCapability(Capability.NIC_DEVICES)
    void nicsGetVolatileKeysAtCreate(InstanceType type) {
        Instance i = c.create(c.args(type).device("net0", nic(type)).build());
        String mac = i.localConfig().get("volatile.net0.hwaddr");
        assertTrue(mac != null && MAC.matcher(mac).matches(), () -> "volatile.net0.hwaddr " + mac);
        if (type == InstanceType.CONTAINER && nic(type).get("name") == null) {
            assertEquals("eth0", i.localConfig().get("volatile.net0.name"));
        }
        Instance fixed = c.create(c.args(type).device("net0", nic(type).with("hwaddr", "10:66:6a:00:00:01")).build());
        assertNull(fixed.localConfig().get("volatile.net0.hwaddr"), "a set hwaddr needs no volatile one");
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.NIC_DEVICES)
    void stateShowsExactlyTheNicsGiven(InstanceType type) {
        Instance i = c.create(c.args(type).device("net0", nic(type)).build());
        i.start(false);
        String mac = i.localConfig().get("volatile.net0.hwaddr");
        Map<String, ApiInstanceState.Network> nics = nonLoopback(i);
        assertEquals(1, nics.size(), () -> "one NIC given, state shows " + nics.keySet());
        ApiInstanceState.Network n = nics.values().iterator().next();
        assertEquals(mac, n.hwaddr());
        if (type == InstanceType.CONTAINER) {
            assertEquals(Set.of(i.localConfig().get("volatile.net0.name")), nics.keySet());
        }
        String host = i.localConfig().get("volatile.net0.host_name");
        if (!c.dut().nicHasHostInterface(type)) {
            assertTrue(host == null || host.isEmpty(), () -> "no host interface, yet volatile.net0.host_name " + host);
            assertTrue(n.hostName() == null || n.hostName().isEmpty(), () -> "no host interface: " + n.hostName());
            return;
        }
        assertTrue(host != null && !host.isEmpty(), "volatile.net0.host_name is set while running");
        assertEquals(host, n.hostName());
    }

    @ForEachInstanceType
    @RequiresCapability({Capability.NIC_DEVICES, Capability.METRICS})
    void networkMetricsFollowTheNics(InstanceType type) {
        Instance i = c.create(c.args(type).device("net0", nic(type)).build());
        i.start(false);
        Set<String> stateNames = new TreeSet<>(i.renderState(List.of()).network().keySet());
        Set<String> metricNames = i.metrics(List.of()).samples(MetricType.NETWORK_RECEIVE_BYTES_TOTAL).stream()
                .map(Sample::labels).map(l -> l.get("device")).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(stateNames, metricNames);
    }

    @ForEachInstanceType
    @RequiresCapability({Capability.NIC_DEVICES, Capability.DEVICE_HOTPLUG})
    void nicsAreAddedAndRemovedLive(InstanceType type) {
        Assumptions.assumeTrue(DeviceChanges.canHotPlug(type, nic(type)), () -> "Incus cannot hot-plug "
                + DeviceChanges.kind(nic(type)) + " into a running " + type.apiName() + " (nicDevice of "
                + c.driverName() + ")");
        Instance i = c.createRunning(type);
        assertEquals(Set.of(), nonLoopback(i).keySet());
        i.update(argsOf(i).devices(i.localDevices().with("net1", nic(type))).build(), true);
        String mac = i.localConfig().get("volatile.net1.hwaddr");
        assertTrue(mac != null && MAC.matcher(mac).matches(), () -> "volatile.net1.hwaddr " + mac);
        Map<String, ApiInstanceState.Network> nics = nonLoopback(i);
        assertEquals(1, nics.size(), () -> "state after the hot add: " + nics.keySet());
        assertEquals(mac, nics.values().iterator().next().hwaddr());
        i.update(argsOf(i).devices(i.localDevices().with("net1", null)).build(), true);
        assertEquals(Set.of(), nonLoopback(i).keySet(), "the removed NIC is gone");
        assertFalse(i.localConfig().keySet().stream().anyMatch(k -> k.startsWith("volatile.net1.")),
                () -> "a removed device's volatile keys go with it: " + i.localConfig());
    }

    /** Incus refuses live what its device cannot hot-plug ({@code CanHotPlug}): ipvlan NICs, p2p NICs of VMs. */
    @ForEachInstanceType
    void whatCannotBeHotPluggedIsRefusedLive(InstanceType type) {
        Instance i = c.createRunning(type);
        Device cold = type == InstanceType.VM ? Device.of("type", "nic", "nictype", "p2p")
                : Device.of("type", "nic", "nictype", "ipvlan", "parent", "lo");
        Devices before = i.localDevices();
        IncusException e = assertThrows(IncusException.class,
                () -> i.update(argsOf(i).devices(before.with("cold", cold)).build(), true));
        if (e instanceof NotSupportedException) {
            assertTrue(e.getMessage().endsWith("(device \"cold\")"), e.getMessage());
        } else {
            assertEquals(InvalidArgumentException.class, e.getClass(), e.toString());
            assertEquals("Failed to add device \"cold\": Device cannot be added when instance is running",
                    e.getMessage());
        }
        assertEquals(before, i.localDevices());
        assertFalse(i.localConfig().containsKey("volatile.cold.hwaddr"));
    }

    // ---- proxy ---------------------------------------------------------------------------------------------------

    /** A free port of the host's loopback. */
    static int freePort() {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** {@code GET /} over {@code 127.0.0.1:port}: the body, or the exception's text prefixed with {@code !}. */
    private String httpGet(int port) {
        try (Socket s = new Socket()) {
            int t = (int) c.timeout().toMillis();
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), t);
            s.setSoTimeout(t);
            OutputStream out = s.getOutputStream();
            out.write("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = s.getInputStream();
            String all = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            int body = all.indexOf("\r\n\r\n");
            return body < 0 ? "!no HTTP answer: " + all : all.substring(body + 4);
        } catch (IOException e) {
            return "!" + e;
        }
    }

    private static Device proxy(InstanceType type, int hostPort, int port) {
        Device d = Device.of("type", "proxy", "listen", "tcp:127.0.0.1:" + hostPort, "connect",
                "tcp:127.0.0.1:" + port);
        return type == InstanceType.VM ? d.with("nat", "true") : d;
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.PROXY_DEVICES)
    void aProxyReachesAServerInTheInstance(InstanceType type) throws InterruptedException {
        int hostPort = freePort();
        String body = "hello from " + type.apiName() + " " + ContractSupport.uniqueName("page");
        Instance i = c.create(c.args(type).device("web", proxy(type, hostPort, 8080)).build());
        i.start(false);
        c.dut().startHttpServer(i, 8080, body);
        String got = "";
        long deadline = System.nanoTime() + c.timeout().toNanos();
        // The server may take a moment to listen inside the instance.
        while (!(got = httpGet(hostPort)).equals(body) && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        assertEquals(body, got);
        i.stop(false);
        // Another process of the host may take the freed port: what matters is that the page is gone.
        assertNotEquals(body, httpGet(hostPort), "the proxy is gone once the instance stopped");
    }

    @ForEachInstanceType
    @RequiresCapability({Capability.PROXY_DEVICES, Capability.DEVICE_HOTPLUG})
    void aProxyIsAddedAndRemovedLive(InstanceType type) throws InterruptedException {
        Instance i = c.createRunning(type);
        String body = "live " + ContractSupport.uniqueName("page");
        c.dut().startHttpServer(i, 8081, body);
        int hostPort = freePort();
        Devices with = i.localDevices().with("web", proxy(type, hostPort, 8081));
        if (type == InstanceType.VM) {
            // Incus's proxy device cannot be hot-plugged into a VM (deviceCommon.CanHotPlug).
            ContractSupport.assertRefused(InvalidArgumentException.class,
                    "Failed to add device \"web\": Device cannot be added when instance is running",
                    () -> i.update(argsOf(i).devices(with).build(), true));
            assertNull(i.localDevices().get("web"));
            return;
        }
        i.update(argsOf(i).devices(with).build(), true);
        String got = "";
        long deadline = System.nanoTime() + c.timeout().toNanos();
        while (!(got = httpGet(hostPort)).equals(body) && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        assertEquals(body, got);
        i.update(argsOf(i).devices(i.localDevices().with("web", null)).build(), true);
        assertNotEquals(body, httpGet(hostPort), "the removed proxy no longer forwards");
    }

    // ---- shared folders ------------------------------------------------------------------------------------------

    @ForEachInstanceType
    @RequiresCapability({Capability.DISK_DEVICES, Capability.FILES})
    void aSharedFolderIsTheHostDirectory(InstanceType type) throws IOException {
        Path host = Files.createDirectories(c.scratch().resolve(ContractSupport.uniqueName("share")));
        Files.writeString(host.resolve("from-host.txt"), "host says hi");
        Device share = Device.of("type", "disk", "source", host.toString(), "path", "/mnt/share");
        // As in Incus, an unprivileged container's root writes host-owned files only through the id shift
        // (an idmapped mount); without it the host's root owns nothing inside and the write is refused.
        Instance i = c.create(c.args(type).device("share", type == InstanceType.CONTAINER ? share.with("shift",
                "true") : share).build());
        i.start(false);
        assertEquals("host says hi", ContractSupport.readFile(i, "/mnt/share/from-host.txt"));
        ContractSupport.writeFile(i, "/mnt/share/from-instance.txt", "instance says hi");
        assertEquals("instance says hi", Files.readString(host.resolve("from-instance.txt")));
    }

    @ForEachInstanceType
    @RequiresCapability({Capability.DISK_DEVICES, Capability.FILES})
    void aReadOnlySharedFolderRefusesWritesAndNothingEscapesIt(InstanceType type) throws IOException {
        Path host = Files.createDirectories(c.scratch().resolve(ContractSupport.uniqueName("ro")));
        Files.writeString(host.resolve("a.txt"), "a");
        Path outside = Files.createDirectories(c.scratch().resolve(ContractSupport.uniqueName("secret")));
        String secret = "host secret " + ContractSupport.uniqueName("s");
        Files.writeString(outside.resolve("secret.txt"), secret);
        Files.createSymbolicLink(host.resolve("link"), outside);
        Instance i = c.create(c.args(type).device("ro", Device.of("type", "disk", "source", host.toString(),
                "path", "/mnt/ro", "readonly", "true")).build());
        i.start(false);
        assertEquals("a", ContractSupport.readFile(i, "/mnt/ro/a.txt"));
        assertThrows(IncusException.class, () -> ContractSupport.writeFile(i, "/mnt/ro/b.txt", "b"));
        assertFalse(Files.exists(host.resolve("b.txt")));
        String viaLink;
        try {
            viaLink = ContractSupport.readFile(i, "/mnt/ro/link/secret.txt");
        } catch (IncusException refused) {
            viaLink = null;
        }
        assertNotEquals(secret, viaLink, "a symlink in the shared folder must not lead to the host");
        String viaDots;
        try {
            viaDots = ContractSupport.readFile(i, "/mnt/ro/../../" + outside + "/secret.txt");
        } catch (IncusException refused) {
            viaDots = null;
        }
        assertNotEquals(secret, viaDots, "\"..\" climbs in the instance, never into the host");
    }

    /** Incus loads devices at create and start: a required host source that is not there fails both. */
    @ForEachInstanceType
    @RequiresCapability({Capability.DISK_DEVICES})
    void aMissingSourceIsRefusedWithIncusTexts(InstanceType type) throws IOException {
        String missing = "/nonexistent-incus4j-" + ContractSupport.uniqueName("src");
        ContractSupport.assertRefused(InvalidArgumentException.class, "Failed add validation for device \"data\": "
                + "Missing source path \"" + missing + "\" for disk \"data\"",
                () -> c.create(c.args(type).device("data", Device.of("type", "disk", "source", missing,
                        "path", "/data")).build()));
        Instance optional = c.create(c.args(type).device("data", Device.of("type", "disk", "source", missing,
                "path", "/data", "required", "false")).build());
        optional.start(false);
        assertTrue(optional.isRunning(), "an optional disk without its source is skipped");
        Path gone = Files.createDirectories(c.scratch().resolve(ContractSupport.uniqueName("gone")));
        Instance i = c.create(c.args(type).device("data", Device.of("type", "disk", "source", gone.toString(),
                "path", "/data")).build());
        Files.delete(gone);
        IncusException e = assertThrows(IncusException.class, () -> i.start(false));
        assertEquals("Failed start validation for device \"data\": Missing source path \"" + gone
                + "\" for disk \"data\"", e.getMessage());
        assertFalse(i.isRunning());
    }
}
