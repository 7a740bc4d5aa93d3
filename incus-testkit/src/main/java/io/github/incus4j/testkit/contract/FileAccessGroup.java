package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.sftp.WireSftpClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The FileAccess group of {@link InstanceDriverContract} (its nested {@code FileAccess} runs these): file access over
 * SFTP, confined to the instance.
 */
abstract class FileAccessGroup extends ContractGroup {
    FileAccessGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void writeThenRead(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv/app", 0755);
            sftp.write("/srv/app/hello.txt", utf8("hello files"));
            assertEquals("hello files", new String(sftp.readAllBytes("/srv/app/hello.txt"),
                    StandardCharsets.UTF_8));
        }
    }

    @ForEachInstanceType
    void statOfFile(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            Instant before = Instant.now();
            sftp.write("/srv/five", utf8("12345"));
            Instant after = Instant.now();
            FileAttributes a = sftp.stat("/srv/five");
            assertEquals(5, a.size());
            assertTrue(a.isRegularFile());
            assertFalse(a.isDirectory());
            // The write just made it: its mtime is now (second precision; a VM's clock may stray a little).
            assertNotNull(a.modified());
            assertFalse(a.modified().isBefore(before.minusSeconds(60))
                    || a.modified().isAfter(after.plusSeconds(60)),
                    "mtime " + a.modified() + " not near the write at " + before);
        }
    }

    @ForEachInstanceType
    void listIsSortedWithoutDots(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv/list", 0755);
            for (String n : List.of("b", "c", "a")) {
                sftp.write("/srv/list/" + n, utf8(n));
            }
            sftp.mkdir("/srv/list/dir", 0755);
            List<String> names = sftp.list("/srv/list").stream().map(SftpClient.Entry::name)
                    .collect(Collectors.toList());
            assertEquals(List.of("a", "b", "c", "dir"), names);
            assertTrue(sftp.list("/srv/list").get(3).attributes().isDirectory());
        }
    }

    @ForEachInstanceType
    void mkdirsCreatesParents(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv/x/y/z", 0755);
            assertTrue(sftp.stat("/srv/x").isDirectory());
            assertTrue(sftp.stat("/srv/x/y/z").isDirectory());
            sftp.mkdirs("/srv/x/y/z", 0755);
        }
    }

    @ForEachInstanceType
    void createUsesTheGivenMode(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            try (var out = sftp.create("/srv/secret", 0600)) {
                out.write(utf8("s"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            assertEquals(0600, sftp.stat("/srv/secret").permissions());
        }
    }

    @ForEachInstanceType
    void renameMoves(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            sftp.write("/srv/from", utf8("moving"));
            sftp.rename("/srv/from", "/srv/to");
            assertFalse(sftp.exists("/srv/from"));
            assertEquals("moving", new String(sftp.readAllBytes("/srv/to"), StandardCharsets.UTF_8));
        }
    }

    @ForEachInstanceType
    void removeAndRmdir(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv/gone", 0755);
            sftp.write("/srv/gone/f", utf8("x"));
            sftp.remove("/srv/gone/f");
            assertFalse(sftp.exists("/srv/gone/f"));
            sftp.rmdir("/srv/gone");
            assertFalse(sftp.exists("/srv/gone"));
        }
    }

    @ForEachInstanceType
    void symlinkAndReadlink(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            sftp.write("/srv/target", utf8("pointed at"));
            sftp.symlink("/srv/target", "/srv/link");
            assertEquals("/srv/target", sftp.readlink("/srv/link"));
            assertTrue(sftp.lstat("/srv/link").isSymlink());
            assertTrue(sftp.stat("/srv/link").isRegularFile(), "stat follows the link");
            assertEquals("pointed at", new String(sftp.readAllBytes("/srv/link"), StandardCharsets.UTF_8));
        }
    }

    @ForEachInstanceType
    void chmodChangesPermissions(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            sftp.write("/srv/f", utf8("x"));
            sftp.chmod("/srv/f", 0640);
            assertEquals(0640, sftp.stat("/srv/f").permissions());
        }
    }

    @ForEachInstanceType
    void chownUsesInstanceIds(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            sftp.write("/srv/owned", utf8("x"));
            assertEquals(0, sftp.stat("/srv/owned").uid(), "written as root");
            sftp.chown("/srv/owned", 1000, 1001);
            FileAttributes a = sftp.stat("/srv/owned");
            assertEquals(1000, a.uid());
            assertEquals(1001, a.gid());
        }
    }

    @ForEachInstanceType
    void missingFilesAreNotFound(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            assertFalse(sftp.exists("/no/such/file"));
            // Incus's Go SFTP client (pkg/sftp) turns SSH_FX_NO_SUCH_FILE into os.ErrNotExist, "file does not
            // exist"; incus4j's SFTP client gives the errno text and names the path.
            String missing = "No such file or directory: \"/no/such/file\"";
            assertRefused(NotFoundException.class, missing, () -> sftp.stat("/no/such/file"));
            assertRefused(NotFoundException.class, missing, () -> sftp.readAllBytes("/no/such/file"));
            assertRefused(NotFoundException.class, missing, () -> sftp.remove("/no/such/file"));
            assertRefused(NotFoundException.class, "No such file or directory: \"/no/such/dir\"",
                    () -> sftp.list("/no/such/dir"));
            assertRefused(NotFoundException.class, "No such file or directory: \"/no/such/link\"",
                    () -> sftp.readlink("/no/such/link"));
        }
    }

    @ForEachInstanceType
    void dotDotStaysInside(InstanceType type) {
        Instance i = filesInstance(type);
        Set<String> before = tree();
        try (SftpClient sftp = i.fileSftp()) {
            sftp.write("/../../../../../../../contract-escape-marker", utf8("inside"));
            assertEquals("inside", new String(sftp.readAllBytes("/contract-escape-marker"),
                    StandardCharsets.UTF_8), "the write landed at the instance's /");
        }
        assertFalse(Files.exists(root().getParent().resolve("contract-escape-marker")));
        assertFalse(Files.exists(Path.of("/contract-escape-marker")), "written on the host's /");
        for (String p : tree()) {
            if (!before.contains(p) && p.endsWith("contract-escape-marker")) {
                assertTrue(p.contains(i.name()), "marker outside the instance: " + p);
            }
        }
    }

    @ForEachInstanceType
    void absoluteSymlinksResolveInsideTheInstance(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/etc", 0755);
            sftp.mkdirs("/tmp", 01777);
            sftp.write("/etc/shadow", utf8("the instance's shadow"));
            sftp.symlink("/etc/shadow", "/tmp/shadow-link");
            assertEquals("the instance's shadow", new String(sftp.readAllBytes("/tmp/shadow-link"),
                    StandardCharsets.UTF_8));
        }
    }

    @ForEachInstanceType
    void relativeSymlinksCannotClimbOut(InstanceType type) {
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/etc", 0755);
            sftp.mkdirs("/srv/deep", 0755);
            sftp.write("/etc/inside-marker", utf8("inside"));
            sftp.symlink("../../../../../../../../etc/inside-marker", "/srv/deep/climb");
            assertEquals("inside", new String(sftp.readAllBytes("/srv/deep/climb"), StandardCharsets.UTF_8));
        }
    }

    @ForEachInstanceType
    void symlinksToHostPathsFindNothing(InstanceType type) throws IOException {
        Path hostFile = scratch().resolve("host-secret");
        Files.writeString(hostFile, "host only");
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            sftp.symlink(hostFile.toAbsolutePath().toString(), "/srv/to-host");
            assertRefused(NotFoundException.class, "No such file or directory: \"/srv/to-host\"",
                    () -> sftp.readAllBytes("/srv/to-host"));
            assertRefused(NotFoundException.class, "No such file or directory: \"/srv/to-host\"",
                    () -> sftp.stat("/srv/to-host"));
        }
    }

    @ForEachInstanceType
    void largeFileRoundTrip(InstanceType type) {
        byte[] data = new byte[3 << 20];
        new Random(7).nextBytes(data);
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            sftp.write("/srv/big", data);
            assertEquals(data.length, sftp.stat("/srv/big").size());
            assertArrayEquals(data, sftp.readAllBytes("/srv/big"));
        }
    }

    @ForEachInstanceType
    void sftpConnectionReadsWhatFileSftpWrote(InstanceType type) {
        byte[] data = new byte[300_000];
        new Random(9).nextBytes(data);
        Instance i = filesInstance(type);
        try (SftpClient sftp = i.fileSftp()) {
            sftp.mkdirs("/srv/wire/sub", 0755);
            sftp.write("/srv/wire/hello.txt", utf8("over the wire"));
            sftp.write("/srv/wire/big", data);
        }
        // Incus's FileSFTP is an SFTP client on FileSFTPConn: the raw connection must speak SFTP v3.
        try (WireSftpClient wire = WireSftpClient.open(i.fileSftpConn())) {
            assertEquals("over the wire", new String(wire.readAllBytes("/srv/wire/hello.txt"),
                    StandardCharsets.UTF_8));
            assertArrayEquals(data, wire.readAllBytes("/srv/wire/big"));
            List<SftpClient.Entry> entries = wire.list("/srv/wire");
            assertEquals(List.of("big", "hello.txt", "sub"), entries.stream().map(SftpClient.Entry::name)
                    .toList());
            assertTrue(entries.get(2).attributes().isDirectory());
            assertEquals(data.length, entries.get(0).attributes().size());
            wire.write("/srv/wire/back", utf8("written over the wire"));
            assertRefused(NotFoundException.class, "No such file or directory: \"/srv/wire/none\"",
                    () -> wire.stat("/srv/wire/none"));
        }
        try (SftpClient sftp = i.fileSftp()) {
            assertEquals("written over the wire", new String(sftp.readAllBytes("/srv/wire/back"),
                    StandardCharsets.UTF_8));
        }
    }

    @ForEachInstanceType
    void sftpConnectionIsConfined(InstanceType type) throws IOException {
        Path hostFile = scratch().resolve("host-secret-wire");
        Files.writeString(hostFile, "host only");
        Instance i = filesInstance(type);
        try (WireSftpClient wire = WireSftpClient.open(i.fileSftpConn())) {
            wire.mkdirs("/etc", 0755);
            wire.mkdirs("/srv/deep/er", 0755);
            wire.write("/etc/wire-marker", utf8("inside"));
            wire.symlink("/etc/wire-marker", "/srv/abs");
            wire.symlink("../../../../../../etc/wire-marker", "/srv/deep/er/climb");
            wire.symlink(hostFile.toAbsolutePath().toString(), "/srv/to-host");
            assertEquals("inside", new String(wire.readAllBytes("/srv/abs"), StandardCharsets.UTF_8));
            assertEquals("inside", new String(wire.readAllBytes("/srv/deep/er/climb"), StandardCharsets.UTF_8));
            assertEquals("inside", new String(wire.readAllBytes("/../../../../etc/wire-marker"),
                    StandardCharsets.UTF_8));
            assertEquals("/etc/wire-marker", wire.realpath("/srv/deep/er/climb"));
            assertRefused(NotFoundException.class, "No such file or directory: \"/srv/to-host\"",
                    () -> wire.readAllBytes("/srv/to-host"));
            // The link names the host path inside the instance, whose directories do not exist there.
            assertRefused(NotFoundException.class, "No such file or directory: \"/srv/to-host\"",
                    () -> wire.write("/srv/to-host", utf8("through the link")));
        }
        assertEquals("host only", Files.readString(hostFile), "a write through a link reached the host");
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void containerFilesWorkStoppedAndRunning(InstanceType type) {
        Instance i = create(type);
        writeFile(i, "/srv/state", "written stopped");
        i.start(false);
        assertEquals("written stopped", readFile(i, "/srv/state"));
        writeFile(i, "/srv/state", "written running");
        i.stop(false);
        assertEquals("written running", readFile(i, "/srv/state"));
    }

    @ForInstanceType(InstanceType.VM)
    void vmFilesNeedARunningVm(InstanceType type) {
        Instance i = create(type);
        assertRefused(InstanceStateException.class, "Instance is not running", i::fileSftp);
    }

    @ForEachInstanceType
    void filesSurviveRestartAndReopen(InstanceType type) {
        Instance i = filesInstance(type);
        writeFile(i, "/srv/keep", "kept");
        if (i.isRunning()) {
            i.restart(Duration.ZERO);
        }
        assertEquals("kept", readFile(i, "/srv/keep"));
        if (type == InstanceType.CONTAINER) {
            assertEquals("kept", readFile(reopen().load(i.name()), "/srv/keep"));
        }
    }

    @ForEachInstanceType
    @RequiresCapability(Capability.EXEC)
    void execSeesFilesWrittenOverSftp(InstanceType type) {
        Instance i = filesInstance(type);
        writeFile(i, "/srv/shared.txt", "seen by exec\n");
        if (!i.isRunning()) {
            i.start(false);
        }
        assertEquals("seen by exec\n", run(i, "cat", "/srv/shared.txt").stdout());
    }
}
