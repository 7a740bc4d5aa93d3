package io.github.incus4j.remote;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.incus4j.api.NotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The bridge network the contract's NICs attach to: created on the server by the first test that needs it, without
 * NAT, IPv6 or any route but its own subnet (checked with {@code ip route get} before it is used, so that nothing a
 * test sends can leave through the default route), and deleted when the test class ends, or by a shutdown hook when
 * the JVM ends first. Only this network is touched: a stale one of the same name (a killed run) is replaced.
 */
final class TestBridge {
    static final String NAME = "rdv-br0";
    /** An address inside the subnet, for the routing check; the subnet is 10.214.77.0/24, the bridge .1. */
    private static final String PROBE = "10.214.77.2";
    private static final String CIDR = "10.214.77.1/24";
    private static boolean created;
    private static Thread hook;

    private TestBridge() {
    }

    /** Creates the network unless this JVM already did; returns its name. */
    static synchronized String ensure(Path socket, Duration timeout) {
        if (created) {
            return NAME;
        }
        try (Transport t = new Transport(socket, timeout)) {
            deleteIfThere(t);
            ObjectNode body = Transport.JSON.createObjectNode();
            body.put("name", NAME);
            body.put("type", "bridge");
            body.put("description", "incus4j contract tests (IncusContractTest), deleted after them");
            ObjectNode config = body.putObject("config");
            config.put("ipv4.address", CIDR);
            config.put("ipv4.nat", "false");
            config.put("ipv6.address", "none");
            t.call("POST", "/1.0/networks", body);
            created = true;
            hook = new Thread(TestBridge::delete, "incus4j-test-bridge-cleanup");
            Runtime.getRuntime().addShutdownHook(hook);
        }
        String route = routeOf(PROBE, timeout);
        if (!route.contains(" dev " + NAME + " ")) {
            delete();
            throw new IllegalStateException("The test subnet does not route to " + NAME + " (ip route get " + PROBE
                    + ": " + route.strip() + "): no test traffic may leave the machine");
        }
        return NAME;
    }

    /** Deletes the network if this JVM created it; instances on it must be gone (the contract deletes them). */
    static synchronized void delete() {
        if (!created) {
            return;
        }
        try (Transport t = new Transport(IncusDriver.findSocket(), Duration.ofSeconds(30))) {
            deleteIfThere(t);
            created = false;
        }
        if (hook != null && Thread.currentThread() != hook) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // already running: nothing to remove
            }
            hook = null;
        }
    }

    private static void deleteIfThere(Transport t) {
        try {
            t.call("GET", "/1.0/networks/" + NAME, null);
        } catch (NotFoundException absent) {
            return;
        }
        t.call("DELETE", "/1.0/networks/" + NAME, null);
    }

    private static String routeOf(String address, Duration timeout) {
        try {
            Process p = new ProcessBuilder("ip", "-o", "route", "get", address).redirectErrorStream(true).start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("ip route get " + address + " did not end within " + timeout);
            }
            return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("Cannot run ip route get " + address + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted during ip route get " + address, e);
        }
    }
}
