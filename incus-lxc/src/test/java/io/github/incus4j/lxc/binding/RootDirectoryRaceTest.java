package io.github.incus4j.lxc.binding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.spi.FileBackend;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.EnumSet;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A guest racing renames and symlinks against file access, as a reviewer did from inside an unprivileged container:
 * {@code race/d} flips between a real directory and a symlink to {@code /} while we read and create files through
 * {@code /race/d/<a host path>}. Inside the root that path names a decoy; if resolution ever leaves the root it names
 * the host's file. Counts: {@code -Drace.reads=N -Drace.writes=N} (defaults 2,000 and 500), bounded by
 * {@code -Drace.seconds} (default 60) in all.
 */
class RootDirectoryRaceTest {
    private static final int READS = Integer.getInteger("race.reads", 2000);
    private static final int WRITES = Integer.getInteger("race.writes", 500);
    private static final long SECONDS = Long.getLong("race.seconds", 60);

    @TempDir
    Path tmp;

    @Test
    @Timeout(180)
    void racingRenamesNeverLeadOutOfTheRoot() throws Exception {
        assumeTrue(TestLxc.isRoot(), "owner changes to the container's ids need root");
        RootDirectoryTest.requireOpenat2();
        Path root = Files.createDirectories(tmp.resolve("c/rootfs"));
        Path host = Files.createDirectories(tmp.resolve("host"));
        Path secret = Files.writeString(host.resolve("secret"), "HOST SECRET");
        Files.setPosixFilePermissions(secret, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Path hostOut = Files.createDirectories(host.resolve("out"));
        // The decoys: what the same paths name inside the root, so that the race is seen to happen.
        Path inside = Files.createDirectories(root.resolve(host.toString().substring(1)));
        Files.writeString(inside.resolve("secret"), "INSIDE");
        Path insideOut = Files.createDirectories(inside.resolve("out"));
        Path race = Files.createDirectories(root.resolve("race"));
        Files.createDirectory(race.resolve("dreal"));
        Files.createSymbolicLink(race.resolve("dlink"), Path.of("/"));
        Map<String, Object> before = Files.readAttributes(secret, "unix:uid,gid,mode");

        FileBackend b = new RootDirectory(root, IdmapSet.ofRange(1000000, 65536));
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong flips = new AtomicLong();
        Thread racer = new Thread(() -> {
            Path dreal = race.resolve("dreal");
            Path dlink = race.resolve("dlink");
            Path d = race.resolve("d");
            while (!stop.get()) {
                move(dreal, d);
                move(d, dreal);
                move(dlink, d);
                move(d, dlink);
                flips.incrementAndGet();
            }
        }, "race-renamer");
        racer.setDaemon(true);
        racer.start();
        long deadline = System.nanoTime() + SECONDS * 1_000_000_000L;
        int hostReads = 0;
        int insideReads = 0;
        int reads = 0;
        int writes = 0;
        try {
            String readPath = "/race/d" + secret;
            for (; reads < READS && System.nanoTime() < deadline; reads++) {
                String got = read(b, readPath);
                if ("HOST SECRET".equals(got)) {
                    hostReads++;
                } else if ("INSIDE".equals(got)) {
                    insideReads++;
                }
            }
            for (; writes < WRITES && System.nanoTime() < deadline; writes++) {
                try (FileBackend.Handle h = b.open("/race/d" + hostOut + "/new-" + writes,
                        EnumSet.of(FileBackend.OpenFlag.WRITE, FileBackend.OpenFlag.CREATE,
                                FileBackend.OpenFlag.TRUNCATE), 0644)) {
                    h.write(0, new byte[] {'x'}, 0, 1);
                } catch (IncusException expected) {
                    // d was missing or the real directory: nothing there.
                }
            }
        } finally {
            stop.set(true);
            racer.join(10_000);
        }
        long hostCreated = count(hostOut);
        long insideCreated = count(insideOut);
        Map<String, Object> after = Files.readAttributes(secret, "unix:uid,gid,mode");
        System.out.printf("race: %d reads (%d reached the host file, %d the decoy), %d writes (%d host files created,"
                + " %d inside), %d flips, host file %s -> %s, backend %s%n", reads, hostReads, insideReads, writes,
                hostCreated, insideCreated, flips.get(), before, after, b.getClass().getSimpleName());
        // Creating takes two lookups through d (a probe, then O_CREAT|O_EXCL), so writes see the link less often
        // than reads; the reads show that the dance ran through it.
        assertTrue(insideReads > 0, "the race must have been run through the symlink");
        assertEquals(0, hostReads, "reads that reached the host file");
        assertEquals(0, hostCreated, "files created on the host");
        assertEquals(before, after, "host file's owner and mode");
        assertEquals("HOST SECRET", Files.readString(secret));
    }

    private static String read(FileBackend b, String path) {
        byte[] buf = new byte[64];
        try (FileBackend.Handle h = b.open(path, EnumSet.of(FileBackend.OpenFlag.READ), 0666)) {
            int n = h.read(0, buf, 0, buf.length);
            return n < 0 ? "" : new String(buf, 0, n, StandardCharsets.UTF_8);
        } catch (IncusException expected) {
            return null;
        }
    }

    private static void move(Path from, Path to) {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException ignored) {
            // The reader holds nothing that can stop a rename; a failure only skips a step of the dance.
        }
    }

    private static long count(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.count();
        }
    }
}
