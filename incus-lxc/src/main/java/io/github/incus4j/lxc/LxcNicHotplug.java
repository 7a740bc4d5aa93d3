package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.lxc.binding.LxcTool;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * NICs added to and removed from a running container, as Incus's hot plug of {@code nic_p2p}, {@code nic_bridged}
 * and {@code nic_macvlan}: the interface is made on the host with {@code ip} under a temporary name, moved into the
 * container's network namespace ({@code ip link set ... netns <pid>}), renamed and brought up there through
 * {@code nsenter --net} (a helper process; the JVM itself never changes namespace for this). Removing a veth NIC
 * deletes its host side (the kernel deletes the pair); a macvlan is deleted inside the namespace.
 */
final class LxcNicHotplug {
    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(10);
    private static final SecureRandom RANDOM = new SecureRandom();

    private LxcNicHotplug() {
    }

    /** Adds {@code nic} to the namespace of {@code pid}; on failure nothing is left on the host. */
    static void add(LxcNics.Nic nic, int pid) {
        String tmp = (nic.type().equals("macvlan") ? "mac" : "veth") + HexFormat.of().formatHex(random4());
        String ns = Integer.toString(pid);
        try {
            if (nic.type().equals("macvlan")) {
                List<String> cmd = new ArrayList<>(List.of("ip", "link", "add", tmp, "link", nic.link(), "address",
                        nic.hwaddr()));
                mtu(cmd, nic);
                cmd.addAll(List.of("type", "macvlan", "mode", "bridge"));
                run(cmd, nic);
            } else {
                List<String> cmd = new ArrayList<>(List.of("ip", "link", "add", nic.hostName()));
                mtu(cmd, nic);
                cmd.addAll(List.of("type", "veth", "peer", "name", tmp, "address", nic.hwaddr()));
                mtu(cmd, nic);
                run(cmd, nic);
                if (nic.link() != null) {
                    run(List.of("ip", "link", "set", nic.hostName(), "master", nic.link()), nic);
                }
                run(List.of("ip", "link", "set", nic.hostName(), "up"), nic);
            }
            run(List.of("ip", "link", "set", tmp, "netns", ns), nic);
            run(List.of("nsenter", "--target", ns, "--net", "ip", "link", "set", tmp, "name", nic.name()), nic);
            run(List.of("nsenter", "--target", ns, "--net", "ip", "link", "set", nic.name(), "up"), nic);
        } catch (RuntimeException e) {
            quiet(List.of("ip", "link", "del", nic.hostName() != null ? nic.hostName() : tmp));
            quiet(List.of("nsenter", "--target", ns, "--net", "ip", "link", "del", tmp));
            throw e;
        }
    }

    /** Removes a NIC from the namespace of {@code pid}: {@code hostName} for a veth pair, else {@code name} inside. */
    static void remove(String device, String type, String name, String hostName, int pid) {
        if (!type.equals("macvlan") && hostName != null && LxcNics.hostInterfaceExists(hostName)) {
            run(List.of("ip", "link", "del", hostName), device);
        } else if (type.equals("macvlan") && name != null && pid > 0) {
            run(List.of("nsenter", "--target", Integer.toString(pid), "--net", "ip", "link", "del", name), device);
        }
    }

    private static void mtu(List<String> cmd, LxcNics.Nic nic) {
        if (nic.mtu() != null) {
            cmd.addAll(List.of("mtu", nic.mtu()));
        }
    }

    private static void run(List<String> cmd, LxcNics.Nic nic) {
        run(cmd, nic.device());
    }

    private static void run(List<String> cmd, String device) {
        LxcTool.Output out = LxcTool.exec(cmd, TOOL_TIMEOUT, "run " + cmd.get(0));
        if (out.exitCode() != 0) {
            throw new IncusException("Failed to hot-plug or unplug device " + ErrorTexts.quote(device) + ": "
                    + String.join(" ", cmd) + ": " + out.text());
        }
    }

    private static void quiet(List<String> cmd) {
        try {
            LxcTool.exec(cmd, TOOL_TIMEOUT, "run " + cmd.get(0));
        } catch (IncusException e) {
            System.getLogger(LxcNicHotplug.class.getName()).log(System.Logger.Level.DEBUG,
                    "Cleanup " + String.join(" ", cmd) + " failed", e);
        }
    }

    private static byte[] random4() {
        byte[] b = new byte[4];
        RANDOM.nextBytes(b);
        return b;
    }
}
