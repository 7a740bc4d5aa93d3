package io.github.incus4j.testkit.fake;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.sftp.WireSftpClient;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class FakeFilesTest extends FakeFixture {

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void sftpWorksStoppedWithContainerIds() throws Exception {
        FakeInstance c = container("c1");
        try (SftpClient f = c.fileSftp()) {
            assertEquals("c1\n", new String(f.readAllBytes("/etc/hostname"), StandardCharsets.UTF_8));
            f.mkdirs("/srv/app/data", 0750);
            try (OutputStream out = f.create("/srv/app/data/x", 0600)) {
                out.write(utf8("first"));
            }
            f.write("/srv/app/data/x", utf8("second"));
            FileAttributes a = f.stat("/srv/app/data/x");
            assertTrue(a.isRegularFile());
            assertEquals(0600, a.permissions());
            assertEquals(6, a.size());
            assertEquals(0, a.uid());
            f.chown("/srv/app/data/x", 1000, 1001);
            f.chmod("/srv/app/data/x", 0640);
            assertEquals(1001, f.stat("/srv/app/data/x").gid());
            assertEquals(0640, f.lstat("/srv/app/data/x").permissions());
            assertEquals(0750, f.stat("/srv/app").permissions());
            f.symlink("data/x", "/srv/app/link");
            assertTrue(f.lstat("/srv/app/link").isSymlink());
            assertEquals("data/x", f.readlink("/srv/app/link"));
            assertEquals("second", new String(f.readAllBytes("/srv/app/link"), StandardCharsets.UTF_8));
            f.rename("/srv/app/data/x", "/srv/app/y");
            assertEquals(List.of("data", "link", "y"), f.list("/srv/app").stream().map(SftpClient.Entry::name)
                    .toList());
            assertThrows(NotFoundException.class, () -> f.stat("/srv/app/link"));
            assertTrue(f.exists("/srv/app/link"));
            assertThrows(BusyException.class, () -> f.mkdir("/srv/app", 0755));
            assertThrows(InvalidArgumentException.class, () -> f.rmdir("/srv"));
            assertThrows(NotFoundException.class, () -> f.mkdir("/no/such", 0755));
            assertThrows(NotFoundException.class, () -> f.open("/missing"));
            assertThrows(InvalidArgumentException.class, () -> f.open("/srv"));
            f.remove("/srv/app/y");
            f.remove("/srv/app/link");
            f.rmdir("/srv/app/data");
            assertFalse(f.exists("/srv/app/data"));
        }
        assertThrows(IllegalStateException.class, () -> {
            SftpClient f = c.fileSftp();
            f.close();
            f.stat("/");
        });
        try (WireSftpClient wire = WireSftpClient.open(c.fileSftpConn())) {
            assertEquals("c1\n", new String(wire.readAllBytes("/etc/hostname"), StandardCharsets.UTF_8), "over the wire");
        }
    }

    @Test
    void accessIsConfinedToTheInstance() {
        FakeInstance c = container("c1");
        try (SftpClient f = c.fileSftp()) {
            assertEquals(f.stat("/etc/passwd"), f.stat("/../../../etc/passwd"));
            f.symlink("/etc", "/tmp/abs");
            f.symlink("../../../../etc", "/tmp/rel");
            assertEquals("c1\n", new String(f.readAllBytes("/tmp/abs/hostname"), StandardCharsets.UTF_8));
            assertEquals("c1\n", new String(f.readAllBytes("/tmp/rel/hostname"), StandardCharsets.UTF_8));
            f.symlink("/tmp/loop", "/tmp/loop");
            assertThrows(InvalidArgumentException.class, () -> f.stat("/tmp/loop"));
            assertThrows(InvalidArgumentException.class, () -> f.stat("/etc/passwd/x"));
        }
        FakeInstance other = container("c2");
        try (SftpClient f = other.fileSftp()) {
            assertFalse(f.exists("/tmp/abs"));
        }
    }

    @Test
    void vmFilesNeedTheAgent() {
        FakeInstance vm = vm("v1");
        assertThrows(InstanceStateException.class, vm::fileSftp);
        vm.start(false);
        try (SftpClient f = vm.fileSftp()) {
            assertTrue(f.exists("/etc/hostname"));
        }
    }

    @Test
    void idleInstancesShareTheBaseTree() {
        FakeInstance a = busybox("a");
        FakeInstance b = busybox("b");
        assertSame(MemFs.at(a.root(), List.of("bin")), MemFs.at(b.root(), List.of("bin")));
        assertSame(MemFs.at(a.root(), List.of("etc", "passwd")), MemFs.at(b.root(), List.of("etc", "passwd")));
        assertNotSame(MemFs.at(a.root(), List.of("etc", "hostname")), MemFs.at(b.root(), List.of("etc", "hostname")));
        FakeInstance none = container("n");
        assertSame(MemFs.at(MemFs.MINIMAL, List.of("usr")), MemFs.at(none.root(), List.of("usr")));
    }

    @Test
    void snapshotsKeepARootAndRestoreSwapsIt() {
        FakeInstance c = busybox("c1");
        try (SftpClient f = c.fileSftp()) {
            f.write("/root/v", utf8("1"));
        }
        MemFs.Dir before = c.root();
        c.snapshot("s1", null, false);
        assertSame(before, c.disk().snapState("s1").root());
        try (SftpClient f = c.fileSftp()) {
            f.write("/root/v", utf8("2"));
            f.write("/root/w", utf8("new"));
        }
        // Path copying: what did not change is shared with the snapshot.
        assertSame(MemFs.at(before, List.of("bin")), MemFs.at(c.root(), List.of("bin")));
        Instance snap = c.snapshots().get(0);
        try (SftpClient f = snap.fileSftp()) {
            assertArrayEquals(utf8("1"), f.readAllBytes("/root/v"));
            assertThrows(InvalidArgumentException.class, () -> f.write("/root/v", utf8("x")));
        }
        assertTrue(snap.renderWithUsage().value() instanceof io.github.incus4j.api.rest.ApiInstanceSnapshot s
                && s.size() > 0);
        c.restore(snap, false);
        assertSame(before, c.root());
        try (SftpClient f = c.fileSftp()) {
            assertFalse(f.exists("/root/w"));
        }
        snap.rename("renamed", false);
        Instance renamed = c.snapshots().get(0);
        assertEquals("c1/renamed", renamed.name());
        try (SftpClient f = renamed.fileSftp()) {
            assertArrayEquals(utf8("1"), f.readAllBytes("/root/v"));
        }
        renamed.delete(false);
        assertTrue(c.snapshots().isEmpty());
    }

    @Test
    void concurrentWritersNeverLoseAnUpdate() throws Exception {
        FakeInstance c = container("c1");
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> all = new java.util.ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int id = t;
                all.add(pool.submit(() -> {
                    try (SftpClient f = c.fileSftp()) {
                        for (int i = 0; i < 50; i++) {
                            f.write("/tmp/f" + id + "-" + i, utf8("x"));
                        }
                    }
                }));
            }
            for (Future<?> f : all) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        try (SftpClient f = c.fileSftp()) {
            assertEquals(400, f.list("/tmp").size());
        }
        assertEquals(c.root().bytes(), c.renderState(null).disk().get("root").usage());
    }
}
