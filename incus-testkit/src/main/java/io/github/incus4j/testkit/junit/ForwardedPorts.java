package io.github.incus4j.testkit.junit;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import org.apiguardian.api.API;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;

/**
 * Ports of an instance forwarded to the host, the Testcontainers {@code getMappedPort} use case: a
 * {@code proxy} device per port, listening on a free port of the host's loopback and connecting to the port inside
 * the instance. {@link IncusInstance#forwardPorts()} adds them; {@link #mappedPort} tells a test where to connect.
 */
@API(status = EXPERIMENTAL)
public final class ForwardedPorts {
    /** The name of the proxy device forwarding a port: {@code port-<port>}. */
    public static final String DEVICE_PREFIX = "port-";

    private ForwardedPorts() {
    }

    /**
     * The proxy device forwarding {@code port} inside an instance of {@code type} from {@code hostPort} on the
     * host's {@code 127.0.0.1} ({@code nat=true} for a VM: Incus allows nothing else there).
     */
    public static Device proxy(InstanceType type, int port, int hostPort) {
        checkPort(port);
        checkPort(hostPort);
        Device d = Device.of("type", "proxy", "listen", "tcp:127.0.0.1:" + hostPort,
                "connect", "tcp:127.0.0.1:" + port);
        return type == InstanceType.VM ? d.with("nat", "true") : d;
    }

    /**
     * The host port that reaches {@code port} inside {@code instance} (127.0.0.1), read from its
     * {@code port-<port>} proxy device.
     *
     * @throws NotFoundException when the instance has no such device
     */
    public static int mappedPort(Instance instance, int port) {
        Objects.requireNonNull(instance, "instance");
        Device d = instance.expandedDevices().get(DEVICE_PREFIX + port);
        if (d == null || !"proxy".equals(d.type()) || d.get("listen") == null) {
            throw new NotFoundException("Port " + port + " of instance \"" + instance.name() + "\" is not forwarded");
        }
        String listen = d.get("listen");
        return Integer.parseInt(listen.substring(listen.lastIndexOf(':') + 1));
    }

    /** A port of {@code 127.0.0.1} nothing listens on now (the system's choice). */
    public static int freeLoopbackPort() {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("No free port on 127.0.0.1", e);
        }
    }

    static Devices devices(InstanceType type, int[] ports, String where) {
        Map<String, Device> m = new HashMap<>();
        for (int p : ports) {
            if (p < 1 || p > 65535) {
                throw new ExtensionConfigurationException("@IncusInstance forwardPorts of " + where
                        + " has port " + p + ": must be 1-65535");
            }
            m.put(DEVICE_PREFIX + p, proxy(type, p, freeLoopbackPort()));
        }
        return new Devices(m);
    }

    private static void checkPort(int port) {
        if (port < 1 || port > 65535) {
            throw new InvalidArgumentException("Invalid port " + port + ": must be 1-65535");
        }
    }
}
