package io.github.incus4j.api.internal.store;

import io.github.incus4j.api.IncusException;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.InstanceRecord;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Atomic, durable record files: replaced whole or not at all, even when the writer dies mid-way. */
class RecordStoreTest {
    @TempDir
    Path dir;

    /** Two distinguishable records, large enough (~200 KiB) that a write takes more than one system call. */
    static InstanceRecord versionRecord(int v) {
        InstanceArgs a = InstanceArgs.builder("c1")
                .architecture(Architectures.X86_64)
                .description("version " + v)
                .config("user.version", Integer.toString(v))
                .config("user.payload", String.valueOf((char) ('a' + v)).repeat(200_000))
                .device("root", Device.of("type", "disk", "path", "/", "pool", "default"))
                .creationDate(Instant.parse("2024-08-22T04:26:40Z"))
                .build();
        return new InstanceRecord(a, List.of());
    }

    static byte[] version(int v) {
        return BackupYaml.write(versionRecord(v));
    }

    private List<String> temporaryFiles() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".") && n.endsWith(".tmp"))
                    .toList();
        }
    }

    @Test
    void writesAndReplacesContent() throws IOException {
        Path file = dir.resolve("sub/dir/backup.yaml");
        assertEquals(Optional.empty(), RecordStore.read(file));
        RecordStore.writeAtomically(file, "one".getBytes(StandardCharsets.UTF_8));
        assertArrayEquals("one".getBytes(StandardCharsets.UTF_8), RecordStore.read(file).orElseThrow());
        RecordStore.writeAtomically(file, "two, longer".getBytes(StandardCharsets.UTF_8));
        assertEquals("two, longer", Files.readString(file));
        RecordStore.writeAtomically(file, new byte[0]);
        assertEquals(0, Files.size(file));
        try (Stream<Path> s = Files.list(file.getParent())) {
            assertEquals(List.of("backup.yaml"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void unsyncedWritesReplaceTheContentAsAtomically() throws IOException {
        // The fake's variant (no fsync): the same content, the same single file, no temporary file left.
        Path file = dir.resolve("unsynced/backup.yaml");
        RecordStore.writeAtomically(file, "first".getBytes(StandardCharsets.UTF_8), false);
        RecordStore.writeAtomically(file, "second".getBytes(StandardCharsets.UTF_8), false);
        assertEquals("second", Files.readString(file));
        try (Stream<Path> s = Files.list(file.getParent())) {
            assertEquals(List.of("backup.yaml"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void theTemporaryFileIsCompleteBeforeTheRename() throws IOException {
        Path file = dir.resolve("backup.yaml");
        RecordStore.writeAtomically(file, version(0));
        byte[] next = version(1);
        RecordStore.writeAtomically(file, next, () -> {
            try {
                List<String> tmp = temporaryFiles();
                assertEquals(1, tmp.size(), tmp.toString());
                assertTrue(tmp.get(0).startsWith(".backup.yaml."), tmp.get(0));
                assertArrayEquals(next, Files.readAllBytes(dir.resolve(tmp.get(0))));
                assertArrayEquals(version(0), Files.readAllBytes(file), "not replaced yet");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        assertArrayEquals(next, Files.readAllBytes(file));
        assertEquals(List.of(), temporaryFiles());
    }

    @Test
    void aCrashBeforeTheRenameLeavesTheOldFileAndNoTemporaryFile() throws IOException {
        Path file = dir.resolve("backup.yaml");
        RecordStore.writeAtomically(file, version(0));
        IllegalStateException crash = new IllegalStateException("simulated crash");
        IllegalStateException thrown = assertThrows(IllegalStateException.class,
                () -> RecordStore.writeAtomically(file, version(1), () -> {
                    throw crash;
                }));
        assertSame(crash, thrown);
        assertArrayEquals(version(0), Files.readAllBytes(file));
        assertEquals(versionRecord(0), BackupYaml.read(Files.readAllBytes(file)));
        assertEquals(List.of(), temporaryFiles());

        // With no previous file, nothing is created.
        Path fresh = dir.resolve("fresh.yaml");
        assertThrows(IllegalStateException.class, () -> RecordStore.writeAtomically(fresh, version(1), () -> {
            throw crash;
        }));
        assertFalse(Files.exists(fresh));
        assertEquals(List.of(), temporaryFiles());
    }

    @Test
    void failuresNameTheFile() throws IOException {
        Path notADir = dir.resolve("plain");
        Files.writeString(notADir, "x");
        Path file = notADir.resolve("backup.yaml");
        IncusException e = assertThrows(IncusException.class,
                () -> RecordStore.writeAtomically(file, version(0)));
        assertTrue(e.getMessage().contains(file.toAbsolutePath().toString()), e.getMessage());

        Path aDir = Files.createDirectory(dir.resolve("adir"));
        IncusException r = assertThrows(IncusException.class, () -> RecordStore.read(aDir));
        assertTrue(r.getMessage().contains(aDir.toAbsolutePath().toString()), r.getMessage());
    }

    @Test
    void keepsTheModeOfAReplacedFile() throws IOException {
        if (!FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            return;
        }
        Path file = dir.resolve("backup.yaml");
        RecordStore.writeAtomically(file, version(0));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r-----"));
        RecordStore.writeAtomically(file, version(1));
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    }

    @Test
    void cleanTemporaryFilesRemovesOnlyLeftovers() throws IOException {
        Files.writeString(dir.resolve(".backup.yaml.8234712.tmp"), "partial");
        Files.writeString(dir.resolve(".x.tmp"), "partial");
        Files.writeString(dir.resolve("backup.yaml"), "kept");
        Files.writeString(dir.resolve("notes.tmp"), "kept");
        Files.writeString(dir.resolve(".hidden"), "kept");
        Files.writeString(dir.resolve(".tmp"), "kept");
        Files.createDirectory(dir.resolve(".dir.tmp"));
        Path nested = Files.createDirectories(dir.resolve("sub"));
        Files.writeString(nested.resolve(".nested.tmp"), "not this directory");

        RecordStore.cleanTemporaryFiles(dir);

        List<String> left = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.map(p -> p.getFileName().toString()).sorted().forEach(left::add);
        }
        assertEquals(List.of(".dir.tmp", ".hidden", ".tmp", "backup.yaml", "notes.tmp", "sub"), left);
        assertTrue(Files.exists(nested.resolve(".nested.tmp")));
        RecordStore.cleanTemporaryFiles(dir.resolve("missing")); // no directory: nothing to do
    }

    /**
     * A real crash: a child JVM rewrites the file in a loop and is killed with SIGKILL. Whatever instant the kill
     * lands on, the file is one whole version; a temporary file may be left, and cleaning removes it.
     */
    @Test
    @Timeout(value = 20, unit = TimeUnit.SECONDS)
    void aKilledWriterLeavesOneCompleteVersion() throws Exception {
        String java = ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString());
        Path file = dir.resolve("backup.yaml");
        Path versions = Files.createDirectory(dir.resolve("versions"));
        Path v0 = Files.write(versions.resolve("v0"), version(0));
        Path v1 = Files.write(versions.resolve("v1"), version(1));
        for (int round = 0; round < 3; round++) {
            RecordStore.writeAtomically(file, version(round % 2));
            Process child = new ProcessBuilder(java, "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                    "-cp", System.getProperty("java.class.path"), CrashingWriterMain.class.getName(),
                    file.toString(), v0.toString(), v1.toString())
                    .redirectErrorStream(true)
                    .start();
            try {
                BufferedReader out = new BufferedReader(
                        new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
                String first = out.readLine();
                assertEquals("writing", first, "the writer did not start");
                Thread.sleep(150 + 50L * round); // ~300 ms after launch, at a different point each round
            } finally {
                child.destroyForcibly();
                assertTrue(child.waitFor(10, TimeUnit.SECONDS), "the writer did not die");
            }
            byte[] content = Files.readAllBytes(file);
            InstanceRecord r = BackupYaml.read(content);
            assertNotNull(r);
            assertTrue(r.equals(versionRecord(0)) || r.equals(versionRecord(1)),
                    "round " + round + ": not one of the two versions: " + r.instance().description());
            assertTrue(temporaryFiles().size() <= 1, "at most the one interrupted write: " + temporaryFiles());
            RecordStore.cleanTemporaryFiles(dir);
            assertEquals(List.of(), temporaryFiles());
            assertArrayEquals(content, Files.readAllBytes(file), "cleaning does not touch the record");
        }
    }
}
