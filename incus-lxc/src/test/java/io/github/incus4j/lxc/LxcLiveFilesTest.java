package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.FileBackend;
import io.github.incus4j.api.spi.FileBackend.OpenFlag;
import io.github.incus4j.lxc.binding.RootDirectory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The file API of a running container works through the container's mounts (a disk added live is seen, owners are
 * the container root's), and refuses the kernel filesystems host root could change the host through (root and
 * liblxc needed, else skipped).
 */
class LxcLiveFilesTest extends LxcFixture {
    private LxcContainerInstance running(boolean privileged) {
        InstanceArgs.Builder b = InstanceArgs.builder("lxd-" + UUID.randomUUID().toString().substring(0, 8));
        if (privileged) {
            b.config("security.privileged", "true");
        }
        LxcContainerInstance c = (LxcContainerInstance) lxc.create(b.build(),
                InstanceSource.template("busybox", Map.of()));
        c.start(false);
        return c;
    }

    private Path share() throws IOException {
        Path share = LxcHost.searchable(dir.resolve("share-" + UUID.randomUUID().toString().substring(0, 6)));
        Files.writeString(share.resolve("hello"), "from the host");
        return share;
    }

    private static int sh(Instance i, String script) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of("sh", "-c", script), null, out, out)) {
            return c.waitFor(WAIT);
        }
    }

    private static String output(Instance i, String script) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of("sh", "-c", script), null, out, out)) {
            assertEquals(0, c.waitFor(WAIT), script);
        }
        return out.toString(StandardCharsets.UTF_8).strip();
    }

    private static int uid(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    private static void write(SftpClient sftp, String path, String text) {
        sftp.write(path, text.getBytes(StandardCharsets.UTF_8));
    }

    @ParameterizedTest(name = "privileged={0}")
    @ValueSource(booleans = {false, true})
    void theFileApiSeesADiskAddedToARunningContainer(boolean privileged) throws IOException {
        LxcContainerInstance c = running(privileged);
        Path plain = share();
        Path shifted = share();
        Path ro = share();
        c.deviceAdded("plain", Device.of("type", "disk", "source", plain.toString(), "path", "/mnt/plain"));
        c.deviceAdded("shifted", Device.of("type", "disk", "source", shifted.toString(), "path", "/mnt/shifted",
                "shift", "true"));
        c.deviceAdded("ro", Device.of("type", "disk", "source", ro.toString(), "path", "/mnt/ro", "readonly",
                "true"));
        long rootUid = privileged ? 0 : LxcDriver.allocation().orElseThrow().entries().get(0).hostId();
        try (SftpClient sftp = c.fileSftp()) {
            assertEquals("from the host", new String(sftp.readAllBytes("/mnt/plain/hello"), StandardCharsets.UTF_8));
            assertEquals("/mnt/plain/hello", c.fileBackend().realpath("/mnt/../mnt/plain/./hello"));

            // A plain bind mount: what the API creates is the container root's, as the container's root would make it.
            write(sftp, "/mnt/plain/api.txt", "via the API");
            assertEquals("via the API", Files.readString(plain.resolve("api.txt")));
            assertEquals(rootUid, uid(plain.resolve("api.txt")));
            sftp.mkdir("/mnt/plain/sub", 0755);
            assertEquals(rootUid, uid(plain.resolve("sub")));
            assertEquals(0, sftp.stat("/mnt/plain/sub").uid(), "root's, as the container sees it");

            // shift=true (an idmapped mount in an unprivileged container): the container's root is host root there.
            write(sftp, "/mnt/shifted/api.txt", "shifted");
            assertEquals("shifted", Files.readString(shifted.resolve("api.txt")));
            assertEquals(0, uid(shifted.resolve("api.txt")));
            sftp.mkdir("/mnt/shifted/sub", 0755);
            assertEquals(0, uid(shifted.resolve("sub")));
            assertEquals(0, sftp.stat("/mnt/shifted/api.txt").uid());
            assertEquals(0, sh(c, "test \"$(cat /mnt/shifted/api.txt)\" = shifted && touch /mnt/shifted/sub/x"),
                    "the container's root owns what the API made");

            assertEquals("from the host", new String(sftp.readAllBytes("/mnt/ro/hello"), StandardCharsets.UTF_8));
            assertThrows(PermissionDeniedException.class, () -> write(sftp, "/mnt/ro/new.txt", "no"));
            assertThrows(PermissionDeniedException.class, () -> write(sftp, "/mnt/ro/hello", "no"));
            assertFalse(Files.exists(ro.resolve("new.txt")));
            assertEquals("from the host", Files.readString(ro.resolve("hello")));
        }
        // The read-only refusal names the path (the SFTP wire keeps only its kind).
        PermissionDeniedException e = assertThrows(PermissionDeniedException.class, () -> c.fileBackend()
                .open("/mnt/ro/new.txt", EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE), 0644).close());
        assertEquals("Read-only file system: \"/mnt/ro/new.txt\"", e.getMessage());

        c.stop(false);
        // Stopped: the root filesystem only, as Incus serves a stopped container's files.
        try (SftpClient sftp = c.fileSftp()) {
            assertThrows(NotFoundException.class, () -> sftp.readAllBytes("/mnt/plain/hello"));
            assertTrue(sftp.stat("/mnt/plain").isDirectory(), "the mount point made in the rootfs");
        }
    }

    @Test
    void kernelFilesystemsAreRefusedThroughTheFileApi() {
        LxcContainerInstance c = running(false);
        RootDirectory fs = c.fileBackend();
        assertKernelRefusal("proc", () -> write(fs, "/proc/sys/kernel/hostname"));
        assertKernelRefusal("proc", () -> write(fs, "/proc/1/comm"));
        assertKernelRefusal("proc", () -> fs.open("/proc/1/status", EnumSet.of(OpenFlag.READ), 0).close());
        assertKernelRefusal("sysfs", () -> write(fs, "/sys/kernel/uevent_helper"));
        assertKernelRefusal("sysfs", () -> write(fs, "/sys/devices/virtual/net/lo/mtu"));
        // Where liblxc mounted the container's cgroup filesystem (if it did: else /sys/fs/cgroup is sysfs's).
        String cgroup = output(c, "awk '$3 ~ /^cgroup/ {print $2; exit}' /proc/mounts");
        String cgroupDir = cgroup.isEmpty() ? "/sys/fs/cgroup" : cgroup;
        String cgroupFs = cgroup.isEmpty() ? "sysfs" : "cgroup";
        assertKernelRefusal(cgroupFs, () -> fs.mkdir(cgroupDir + "/lxd-new", 0755));
        assertKernelRefusal("proc", () -> fs.setattrs("/proc/1/comm",
                new FileBackend.AttrChanges(0600, null, null, null, null)));
        // A link the container made leads there too: refused all the same.
        assertEquals(0, sh(c, "ln -s /proc/sys/kernel/hostname /tmp/name && ln -s " + cgroupDir + " /tmp/cg"));
        assertKernelRefusal("proc", () -> write(fs, "/tmp/name"));
        assertKernelRefusal(cgroupFs, () -> fs.mkdir("/tmp/cg/lxd-new", 0755));
        assertKernelRefusal(cgroupFs, () -> write(fs, "/tmp/cg/lxd-new-file"));
        assertKernelRefusal("proc", () -> fs.rename("/tmp/ok-missing", "/proc/1/x"));
        // Looking stays allowed, as in Incus.
        assertTrue(fs.stat("/proc/1").isDirectory());
        assertFalse(fs.list("/proc/1").isEmpty());
        // The container's /tmp (its root filesystem) is served as before.
        write(fs, "/tmp/ok.txt");
        assertEquals(0, sh(c, "test \"$(cat /tmp/ok.txt)\" = x"));
    }

    private static void write(FileBackend fs, String path) {
        try (FileBackend.Handle h = fs.open(path, EnumSet.of(OpenFlag.WRITE, OpenFlag.CREATE, OpenFlag.TRUNCATE),
                0644)) {
            h.write(0, new byte[] {'x'}, 0, 1);
        }
    }

    private static void assertKernelRefusal(String fsName, Executable call) {
        PermissionDeniedException e = assertThrows(PermissionDeniedException.class, call);
        assertTrue(e.getMessage().contains("is on a kernel filesystem (" + fsName), e.getMessage());
    }

    @Test
    void aRestartedContainerIsServedFromItsNewInit() {
        LxcContainerInstance c = running(false);
        RootDirectory fs = c.fileBackend();
        assertTrue(fs.stat("/proc/1").isDirectory(), "running: the init's root, with its /proc");
        c.stop(false);
        assertThrows(IncusException.class, () -> fs.stat("/proc/1"), "stopped: the root filesystem's empty /proc");
        c.start(false);
        assertTrue(fs.stat("/proc/1").isDirectory(), "the same backend follows the new init");
    }
}
