package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.io.Cmd;
import io.github.incus4j.api.model.ExecRequest;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the contract does not check: id shifting, liblxc's view, the rootfs source, lxc-specific paths. */
class LxcContainerInstanceTest {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstanceTest.class.getName());
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;
    private LxcInstances lxc;

    @BeforeEach
    void open() {
        LxcHost.require();
        lxc = new LxcDriver().open(LxcHost.searchable(dir.resolve("root")), Duration.ofSeconds(30));
    }

    @AfterEach
    void close() {
        if (lxc == null) {
            return;
        }
        for (Instance i : lxc.list()) {
            if (i.isRunning()) {
                i.stop(false);
            }
            i.delete(true);
        }
        lxc.close();
    }

    private static String name() {
        return "lxct-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static int uid(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    private static String run(Instance i, ExecRequest r) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(r, null, out, new ByteArrayOutputStream())) {
            assertEquals(0, c.waitFor(WAIT), r.command().toString());
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void unprivilegedContainerIsShiftedAndRecordsItsIdmap() throws IOException {
        Container c = (Container) lxc.create(InstanceArgs.builder(name()).build(),
                InstanceSource.template("busybox", Map.of()));
        IdmapSet map = LxcDriver.allocation().orElseThrow();
        long base = map.entries().get(0).hostId();
        assertEquals(base, uid(c.rootfsPath().resolve("bin")), "rootfs owned by the mapped root");
        assertEquals(Long.toString(base), c.localConfig().get("volatile.idmap.base"));
        assertEquals(map, c.diskIdmap().orElseThrow());
        assertEquals(map, c.nextIdmap().orElseThrow());
        assertFalse(c.localConfig().containsKey("volatile.idmap.current"), "no current map before the first start");
        c.start(false);
        assertEquals(map, c.currentIdmap().orElseThrow());
        // Root inside is the mapped host id: the container's view of its own uid is 0, the host's is base.
        assertEquals("0\n", run(c, ExecRequest.of("id", "-u")));
        long hostUid = Long.parseLong(Files.readAllLines(Path.of("/proc", Integer.toString(c.initPid()), "status"))
                .stream().filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow().split("\\s+")[1]);
        assertEquals(base, hostUid);
    }

    @Test
    void privilegedContainerHasNoIdmap() throws IOException {
        Container c = (Container) lxc.create(InstanceArgs.builder(name()).config("security.privileged", "true")
                .build(), InstanceSource.template("busybox", Map.of()));
        assertEquals(0, uid(c.rootfsPath().resolve("bin")));
        assertEquals("0", c.localConfig().get("volatile.idmap.base"));
        assertEquals("[]", c.localConfig().get("volatile.last_state.idmap"));
        assertTrue(c.diskIdmap().isEmpty());
        c.start(false);
        assertEquals(StatusCode.RUNNING, c.statusCode());
    }

    @Test
    void createsFromARootfsDirectory() throws IOException {
        Path src = dir.resolve("src");
        Files.createDirectories(src.resolve("bin"));
        Files.copy(Path.of(Files.isExecutable(Path.of("/bin/busybox")) ? "/bin/busybox" : "/usr/bin/busybox"),
                src.resolve("bin/busybox"));
        for (String applet : new String[] {"sh", "init", "true", "cat", "id"}) {
            Files.createSymbolicLink(src.resolve("bin").resolve(applet), Path.of("busybox"));
        }
        for (String d : new String[] {"proc", "sys", "dev", "tmp", "root", "etc", "sbin"}) {
            Files.createDirectories(src.resolve(d));
        }
        Files.createSymbolicLink(src.resolve("sbin/init"), Path.of("/bin/busybox"));
        Files.writeString(src.resolve("etc/marker"), "from a directory\n");
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.rootfs(src));
        long base = LxcDriver.allocation().orElseThrow().entries().get(0).hostId();
        assertEquals(base, uid(i.rootfsPath().resolve("etc/marker")));
        assertEquals(0, uid(src.resolve("etc/marker")), "the source is left alone");
        i.start(false);
        assertEquals("from a directory\n", run(i, ExecRequest.of("cat", "/etc/marker")));
    }

    @Test
    void imageTarballsAreNotSupportedYetAndLeaveNothing() {
        NotSupportedException e = assertThrows(NotSupportedException.class, () -> lxc.create(
                InstanceArgs.builder(name()).build(), InstanceSource.image(dir.resolve("image.tar"))));
        assertTrue(e.getMessage().contains("image tarball"), e.getMessage());
        assertEquals(0, lxc.list().size());
        assertThrows(NotSupportedException.class, () -> lxc.create(InstanceArgs.builder(name()).build(),
                InstanceSource.template("debian", Map.of())));
    }

    @Test
    void theLxcToolsSeeTheSameStateAndPid() throws Exception {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        long t0 = System.nanoTime();
        i.start(false);
        long started = System.nanoTime();
        String info = lxcInfo(i);
        assertTrue(info.contains("RUNNING"), info);
        assertTrue(info.contains(Integer.toString(i.initPid())), info);
        long e0 = System.nanoTime();
        for (int k = 0; k < 5; k++) {
            run(i, ExecRequest.of("true"));
        }
        long execs = System.nanoTime();
        i.stop(false);
        long stopped = System.nanoTime();
        assertTrue(lxcInfo(i).contains("STOPPED"));
        LOG.log(System.Logger.Level.INFO, "start {0} ms, stop {1} ms, exec true {2} ms",
                (started - t0) / 1_000_000, (stopped - execs) / 1_000_000, (execs - e0) / 5 / 1_000_000);
    }

    private String lxcInfo(Instance i) throws Exception {
        Process p = new ProcessBuilder("lxc-info", "-P", lxc.lxcpath().toString(), "-n", i.name(), "-s", "-p")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        return out;
    }

    @Test
    void renameMovesTheLxcContainer() {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        String renamed = name();
        i.rename(renamed, false);
        assertTrue(Files.isDirectory(lxc.lxcpath().resolve(renamed)));
        assertFalse(Files.exists(lxc.lxcpath().resolve(i.name() + "x")));
        i.start(false);
        assertEquals(renamed + "\n", run(i, ExecRequest.of("hostname")));
    }

    @Test
    void deleteRemovesTheLxcDirectory() {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        Path lxcDir = lxc.lxcpath().resolve(i.name());
        assertTrue(Files.isDirectory(lxcDir));
        i.delete(false);
        assertFalse(Files.exists(lxcDir));
        assertFalse(Files.exists(i.path()));
    }

    @Test
    void unknownUserCommandFailureIsNotFound() {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        i.start(false);
        assertThrows(InvalidArgumentException.class, () -> {
            try (Cmd c = i.exec(ExecRequest.of("no-such-command"), null, null, null)) {
                c.waitFor(WAIT);
            }
        });
    }
}
