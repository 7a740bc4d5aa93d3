package io.github.incus4j.testkit.contract;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apiguardian.api.API;

/**
 * Seeded, deterministic generation of hostile inputs for the places where input enters a driver: instance, snapshot
 * and project names, device maps, config keys and values (with {@code limits.*}) and {@code raw.lxc}. Each category
 * starts with hand-picked edge cases (the reviewer's findings among them) followed by mutations of valid inputs, so
 * that most inputs are refused (cheap on real drivers) while the accepted ones stay realistic.
 *
 * <p>{@link Input#mustRefuse()} marks inputs every driver has to refuse (NUL, path characters, {@code .}/{@code ..},
 * unknown device types, unpaired surrogates...); the others may be accepted or refused, but never with a raw JDK
 * exception.
 */
@API(status = EXPERIMENTAL)
public final class InputFuzz {
    /** One generated input: the value, and whether it has to be refused. */
    public record Input<T>(T value, boolean mustRefuse) {
    }

    /** The seed the contract uses; change it only with a reason, failures must reproduce. */
    public static final long SEED = 0x1C0541L;

    private static final String NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-";
    /** Characters that break names: NUL, path separators, dots, white space, URL-reserved, non-ASCII, surrogates. */
    private static final String[] HOSTILE = {"\0", "/", "\\", ".", "..", " ", "\n", "\t", "\u0085", "\u00a0",
        "_", ":", "$", "*", "'", "\"", "?", "é", "\ud800", "\udfff", "\u2028", "%2f", "~", "="};
    /** Characters no name may contain, whatever its kind. */
    private static final String[] FORBIDDEN = {"\0", "/", "\ud800", "\udfff"};

    private final Random random;

    /** A generator seeded with {@code seed}. */
    public InputFuzz(long seed) {
        this.random = new Random(seed);
    }

    // ---- names --------------------------------------------------------------------------------------------------

    /** Instance names: at least {@code n}. */
    public List<Input<String>> instanceNames(int n) {
        List<Input<String>> out = new ArrayList<>();
        for (String s : List.of("", ".", "..", "a\0b", "a/b", "../x", "-a", "a-", "123", "a".repeat(64),
                "a".repeat(63), "a b", "a\nb", "a\u0085b", "a\ud800b", "ok-name")) {
            out.add(new Input<>(s, !s.equals("ok-name") && !s.equals("a".repeat(63))));
        }
        fillNames(out, n);
        return out;
    }

    /** Snapshot names: at least {@code n}. */
    public List<Input<String>> snapshotNames(int n) {
        List<Input<String>> out = new ArrayList<>();
        for (String s : List.of("", ".", "..", "a\0b", "a/b", "a b", "a\u0085b", "a\ud800b", "a".repeat(65),
                "$x", "x*y")) {
            out.add(new Input<>(s, true));
        }
        fillNames(out, n);
        return out;
    }

    /** Project names: at least {@code n}. */
    public List<Input<String>> projectNames(int n) {
        List<Input<String>> out = new ArrayList<>();
        for (String s : List.of(".", "..", "a\0b", "a/b", "a_b", "a'b", "a\"b", "*", "a b", "a".repeat(65),
                "a\ud800b")) {
            out.add(new Input<>(s, true));
        }
        fillNames(out, n);
        return out;
    }

    private void fillNames(List<Input<String>> out, int n) {
        while (out.size() < n) {
            StringBuilder sb = new StringBuilder(word(1 + random.nextInt(12)));
            boolean forbidden = false;
            // Nine in ten get a hostile piece, so that few inputs are accepted (each accepted one costs storage).
            if (random.nextInt(10) != 0) {
                String bad = HOSTILE[random.nextInt(HOSTILE.length)];
                sb.insert(random.nextInt(sb.length() + 1), bad);
                forbidden = List.of(FORBIDDEN).contains(bad);
            }
            if (random.nextInt(20) == 0) {
                sb.append(word(60));
            }
            out.add(new Input<>(sb.toString(), forbidden || sb.toString().equals(".") || sb.toString().equals("..")));
        }
    }

    // ---- devices ------------------------------------------------------------------------------------------------

    /** Device maps (one device each, named and typed): at least {@code n}. */
    public List<Input<Map<String, Device>>> devices(int n) {
        List<Input<Map<String, Device>>> out = new ArrayList<>();
        out.add(one("d", true, "type", "garbage"));
        out.add(one("d", true, "type", "disk\n"));
        out.add(one("d", true, "type", "disk"));
        out.add(one("d", true, "type", "disk", "readonly", "true"));
        out.add(one("..", true, "type", "none"));
        out.add(one(".", true, "type", "none"));
        out.add(one("a\0b", true, "type", "none"));
        out.add(one("a/b", true, "type", "none"));
        out.add(one("a".repeat(64), true, "type", "none"));
        out.add(one("d", true, "type", ""));
        out.add(one("d", true, "type", "none", "path", "/x"));
        out.add(one("d", true, "type", "disk", "path", "/", "source", "/srv"));
        out.add(one("d", true, "type", "disk", "path", "/mnt", "source", "relative"));
        out.add(one("d", true, "type", "proxy"));
        out.add(one("d", true, "type", "nic", "nictype", "macvlan"));
        out.add(one("d", true, "type", "disk", "path", "/mnt", "source", "/srv", "bogus.key", "1"));
        out.add(one("d", false, "type", "none"));
        out.add(one("d", false, "type", "disk", "path", "/mnt", "source", "/srv"));
        String[] types = {"none", "nic", "disk", "unix-char", "unix-block", "unix-hotplug", "usb", "gpu",
            "infiniband", "proxy", "pci", "tpm", "garbage", "", "DISK", "disk ", "nic\0"};
        String[] keys = {"path", "source", "pool", "readonly", "nictype", "parent", "network", "name", "listen",
            "connect", "required", "size", "bogus", "user.x", "mode", "uid", "major", "minor", "productid"};
        String[] values = {"/", "/mnt", "/srv", "relative", "true", "maybe", "bridged", "macvlan", "eth0", "",
            "tcp:127.0.0.1:80", "10GiB", "-1", "0660", "a\0b", "x\ud800", "99999999999999999999"};
        while (out.size() < n) {
            String type = types[random.nextInt(types.length)];
            String name = random.nextInt(4) == 0 ? fromHostile() : "dev" + random.nextInt(100);
            List<String> kv = new ArrayList<>(List.of("type", type));
            int count = random.nextInt(4);
            for (int i = 0; i < count; i++) {
                kv.add(keys[random.nextInt(keys.length)]);
                kv.add(values[random.nextInt(values.length)]);
            }
            boolean known = List.of(types).subList(0, 12).contains(type);
            boolean badName = name.contains("\0") || name.contains("/") || name.equals(".") || name.equals("..")
                    || name.startsWith(".") || ErrorTexts.hasUnpairedSurrogate(name);
            out.add(one(name, !known || badName, kv.toArray(new String[0])));
        }
        return out;
    }

    private String fromHostile() {
        String w = word(1 + random.nextInt(6));
        return random.nextBoolean() ? HOSTILE[random.nextInt(HOSTILE.length)] + w
                : w + HOSTILE[random.nextInt(HOSTILE.length)];
    }

    private static Input<Map<String, Device>> one(String name, boolean mustRefuse, String... kv) {
        Map<String, String> conf = new LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            conf.put(kv[i], kv[i + 1]);
        }
        Map<String, Device> m = new LinkedHashMap<>();
        m.put(name, new Device(conf));
        return new Input<>(m, mustRefuse);
    }

    // ---- config -------------------------------------------------------------------------------------------------

    /** Config entries (one key and value each), {@code limits.*} among them: at least {@code n}. */
    public List<Input<Map.Entry<String, String>>> config(int n) {
        List<Input<Map.Entry<String, String>>> out = new ArrayList<>();
        String[][] refused = {
            {"limits.cpu", "99999999999"}, {"limits.cpu", "0-999999"}, {"limits.cpu", "1-0"},
            {"limits.memory", "-50%"}, {"limits.memory", "1"}, {"limits.memory", "0"},
            {"limits.memory", "99999999999999999999"}, {"limits.processes", "-2"},
            {"limits.processes", "99999999999999999999"},
            {"limits.cpu.allowance", "9223372036854775807ms/1ms"}, {"limits.cpu.allowance", "1ms/0ms"},
            {"limits.cpu.allowance", "-5%"},
            {"user.x", "a\ud800b"}, {"user.\ud800", "x"}, {"foo.bar", "1"}, {"security.privileged", "maybe"},
        };
        for (String[] kv : refused) {
            out.add(new Input<>(Map.entry(kv[0], kv[1]), true));
        }
        String[] keys = {"limits.cpu", "limits.memory", "limits.processes", "limits.cpu.allowance",
            "limits.cpu.priority", "limits.memory.swap", "limits.kernel.nofile", "boot.autostart.priority",
            "security.nesting", "user.note", "environment.FOO", "snapshots.expiry", "migration.stateful",
            "limits.disk.priority", "limits.memory.enforce", "unknown.key", "user.", "image.os"};
        String[] numbers = {"0", "1", "-1", "2", "50%", "-50%", "100%", "101%", "1-0", "0-1", "0-999999", "1,1",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "99999999999", "1GiB", "1KB",
            "64MiB", "1ms/1ms", "10ms/100ms", "9223372036854775807ms/1ms", "0ms/0ms", "true", "maybe", "",
            "abc", "1.5", "+3", " 1", "1d", "soft", "\u0085", "a\0b"};
        while (out.size() < n) {
            String key = keys[random.nextInt(keys.length)];
            String value = random.nextInt(5) == 0 ? word(random.nextInt(8)) + numbers[random.nextInt(numbers.length)]
                    : numbers[random.nextInt(numbers.length)];
            out.add(new Input<>(Map.entry(key, value), key.equals("unknown.key")));
        }
        return out;
    }

    /** {@code raw.lxc} values: at least {@code n}. */
    public List<Input<String>> rawLxc(int n) {
        List<Input<String>> out = new ArrayList<>();
        String[] refused = {"lxc.net.0.type = veth", "lxc.net.0.link=br0", "lxc.logfile = /tmp/x",
            "lxc.log.syslog = daemon", "lxc.ephemeral = 1", "lxc.prlimit.nofile = 10", "no equals sign",
            "lxc.net.0.ipv4.address.extra = 1", "lxc.network.0.type = veth", "lxc.mount.entry = a\0b"};
        for (String s : refused) {
            out.add(new Input<>(s, true));
        }
        String[] lines = {"lxc.net.0.ipv4.address = 10.0.0.2/24", "lxc.net.0.ipv6.gateway = auto",
            "lxc.net.1.ipv4.gateway = 10.0.0.1", "lxc.net.0.hwaddr = 00:16:3e:00:00:01",
            "lxc.mount.entry = /tmp tmp none bind,optional,create=dir 0 0", "lxc.hook.pre-start = /bin/true",
            "# comment", "", "   ", "lxc.cgroup2.memory.high = 100M", "lxc.apparmor.profile = unconfined",
            "lxc.logfile=/x", "lxc.prlimit.core=1", "garbage", "=value", "lxc.environment = A=B",
            "lxc.net.x.ipv4.address = 1", "\tlxc.log.level = 1", "LXC.LOG.FILE = /x", "lxc.net.0.ipv4.address"};
        while (out.size() < n) {
            int count = 1 + random.nextInt(3);
            StringBuilder sb = new StringBuilder();
            boolean bad = false;
            for (int i = 0; i < count; i++) {
                String line = lines[random.nextInt(lines.length)];
                bad |= line.equals("lxc.net.0.hwaddr = 00:16:3e:00:00:01") || line.startsWith("lxc.logfile")
                        || line.startsWith("lxc.prlimit") || line.equals("garbage")
                        || line.equals("LXC.LOG.FILE = /x") || line.equals("lxc.net.0.ipv4.address");
                sb.append(line).append(random.nextInt(4) == 0 ? "\r\n" : "\n");
            }
            out.add(new Input<>(sb.toString(), bad));
        }
        return out;
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private String word(int length) {
        StringBuilder sb = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            // Letters first and last, so that the plain words are valid names.
            String chars = i == 0 || i == length - 1 ? NAME_CHARS.substring(0, 26) : NAME_CHARS;
            sb.append(chars.charAt(random.nextInt(chars.length())));
        }
        return sb.toString();
    }
}
