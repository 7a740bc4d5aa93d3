package io.github.incus4j.lxc;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.model.IdmapEntry;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.lxc.binding.Liblxc;
import io.github.incus4j.testkit.net.TcpMigration;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The target "host" of {@link LxcTwoJvmMigrationTest}, run by it as a second JVM inside the second network namespace:
 * opens a driver session on its own root (its own id map), creates the empty receiver, listens, receives, and reports
 * on stdout, one line each: {@code LISTENING <rootfs>}, then {@code RECEIVED <status> <pid> <count>} or
 * {@code FAILED <status> <rootfs entries> <staging left> <migration.stateful> <error>}. It then answers
 * {@code COUNTER} lines on stdin ({@code COUNTER <pid> <count>}) until {@code END} or the end of stdin, deletes what
 * its root holds and says {@code ENDED}.
 *
 * <p>Arguments: root, listen address, port, instance name, live.
 */
final class TwoJvmTarget {
    static final long TARGET_BASE = 2_000_000;
    private static final Duration WAIT = Duration.ofSeconds(30);

    private TwoJvmTarget() {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]);
        InetAddress address = InetAddress.getByName(args[1]);
        int port = Integer.parseInt(args[2]);
        String name = args[3];
        boolean live = Boolean.parseBoolean(args[4]);
        PrintStream out = System.out;
        IdmapSet map = new IdmapSet(List.of(new IdmapEntry(true, false, TARGET_BASE, 0, 65536),
                new IdmapEntry(false, true, TARGET_BASE, 0, 65536)));
        LxcInstances lxc = new LxcInstances(new LxcDriver().info(), Liblxc.load(), LxcHost.searchable(root), WAIT,
                Optional.of(map));
        try {
            Instance dst = lxc.create(InstanceArgs.builder(name).build(), InstanceSource.none());
            try (ServerSocket listener = new ServerSocket()) {
                listener.bind(new InetSocketAddress(address, port));
                out.println("LISTENING " + dst.rootfsPath());
                out.flush();
                try (TcpMigration.End end = TcpMigration.accept(listener, live)) {
                    dst.migrateReceive(new MigrateReceiveArgs(end.args(), null, false, false));
                    Instance moved = lxc.load(name);
                    out.println("RECEIVED " + moved.statusCode().name() + " " + counter(moved));
                } catch (Exception e) {
                    Instance left = lxc.load(name);
                    long entries;
                    try (var list = Files.list(left.rootfsPath())) {
                        entries = list.count();
                    }
                    out.println("FAILED " + left.statusCode().name() + " " + entries + " "
                            + Files.exists(left.path().resolve(".migrating")) + " "
                            + left.localConfig().get("migration.stateful") + " "
                            + String.valueOf(e).replace('\n', ' '));
                }
                out.flush();
            }
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line = in.readLine(); line != null && !line.equals("END"); line = in.readLine()) {
                if (line.equals("COUNTER")) {
                    out.println("COUNTER " + counter(lxc.load(name)));
                    out.flush();
                }
            }
        } finally {
            LxcHost.deleteAll(lxc);
            out.println("ENDED");
            out.flush();
        }
    }

    /** {@code <pid> <count>} of the container's counter. */
    private static String counter(Instance i) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of("cat", "/counter"), null, o, new ByteArrayOutputStream())) {
            c.waitFor(WAIT);
        }
        return o.toString(StandardCharsets.UTF_8).strip();
    }
}
