package io.github.incus4j.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.Applicability;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The driver's own machinery against a real incusd: the event subscription, the status cache, exec draining. */
class IncusDriverTest {
    private IncusInstances incus;
    private Instance instance;

    @BeforeEach
    void open(@TempDir Path root) {
        Applicability a = new IncusDriver().applicability();
        assumeTrue(a.applicable(), () -> "no trusted incusd here (.ci/incusd start runs one): " + a.reason());
        incus = (IncusInstances) new IncusDriver().open(root, IncusDriver.findSocket(), Duration.ofSeconds(30));
    }

    @AfterEach
    void close() {
        if (instance != null) {
            try {
                instance.stop(false);
            } catch (InstanceStateException e) {
                // already stopped
            }
            instance.delete(true);
        }
        if (incus != null) {
            incus.close();
        }
    }

    private Instance create() {
        instance = incus.create(InstanceArgs.builder("drv-" + ProcessHandle.current().pid() + "-"
                + System.nanoTime() % 100000).build(), InstanceSource.template("busybox", Map.of()));
        return instance;
    }

    @Test
    void eventsAreSubscribedBeforeTheFirstChange() {
        // The subscription connects in the background; a request that starts an operation waits for it.
        incus.events().awaitSubscribed();
        assertTrue(incus.events().connected(), "the /1.0/events subscription is up");
    }

    @Test
    void anOperationStartedRightAfterOpeningIsWaitedFromEvents(@TempDir Path root) {
        // A fresh session's first change: its operation's end event must not pass before the subscription.
        try (IncusInstances fresh = (IncusInstances) new IncusDriver().open(root, IncusDriver.findSocket(),
                Duration.ofSeconds(30))) {
            instance = fresh.create(InstanceArgs.builder("drv-" + ProcessHandle.current().pid() + "-"
                    + System.nanoTime() % 100000).build(), InstanceSource.template("busybox", Map.of()));
            assertTrue(fresh.events().connected(), "subscribed before the create was sent");
            instance = incus.load(instance.name());
        }
    }

    @Test
    void deletingASnapshotByNameNeedsNoLookup() {
        Instance i = create();
        i.snapshot("s0", null, false);
        incus.delete("default", i.name() + "/s0", false);
        assertTrue(i.snapshots().isEmpty(), "deleted");
        assertThrows(NotFoundException.class,
                () -> incus.delete("default", i.name() + "/s0", false));
        assertThrows(NotFoundException.class,
                () -> incus.delete("default", i.name() + "-missing", false));
    }

    @Test
    void statusComesFromEventsWithoutARoundTrip() throws Exception {
        Instance i = create();
        i.start(false);
        assertEquals(StatusCode.RUNNING, i.statusCode());
        // An action by another client (the CLI) reaches the cache through the event stream.
        Process p = new ProcessBuilder("incus", "stop", "--force", i.name()).inheritIO().start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, "incus stop");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (incus.events().status("default", i.name()) != StatusCode.STOPPED && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(StatusCode.STOPPED, incus.events().status("default", i.name()), "cached from the event");
        assertEquals(StatusCode.STOPPED, i.statusCode());
    }

    @Test
    void execDrainsAllOutputBeforeReturning() {
        Instance i = create();
        i.start(false);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        // 1 MiB on stdout, then a line on stderr and exit 3: all of it must be there when waitFor returns.
        try (Cmd cmd = i.exec(ExecRequest.of("sh", "-c", "head -c 1048576 /dev/zero; echo bye >&2; exit 3"),
                null, out, err)) {
            assertEquals(3, cmd.waitFor(Duration.ofSeconds(30)));
        }
        assertEquals(1048576, out.size());
        assertEquals("bye\n", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void stdinReachesTheCommandAndEndsIt() {
        Instance i = create();
        i.start(false);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd cmd = i.exec(ExecRequest.of("cat"), new ByteArrayInputStream("hello\n".getBytes(
                StandardCharsets.UTF_8)), out, null)) {
            assertEquals(0, cmd.waitFor(Duration.ofSeconds(30)));
        }
        assertEquals("hello\n", out.toString(StandardCharsets.UTF_8));
    }

    /**
     * Incus 6.0.4 itself drops the whole output of a few parallel execs: the command runs (its side effects are
     * there) and exits 0, and no data frame comes before the barrier. Its own client loses them as often: 4 loops of
     * 25 {@code incus exec ct -- sh -c 'echo $n >> /runs; echo x'} beside 4 loops of {@code incus query}, three rounds,
     * printed nothing for 3, 3 and 3 of 100 commands, while {@code /runs} had all 100 lines; sequential execs lost
     * none of 100. So these tests allow an empty output, a few times (5 %, at least one), and never a wrong or
     * partial one.
     */
    private static void assertFewServerDrops(int dropped, int execs) {
        assertTrue(dropped <= Math.max(1, execs / 20), dropped + " of " + execs + " outputs empty");
    }

    @Test
    void parallelExecsEachGetTheirOwnOutput() throws Exception {
        Instance i = create();
        i.start(false);
        int n = 8;
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(n);
        try {
            List<java.util.concurrent.Future<String>> outs = new java.util.ArrayList<>();
            for (int k = 0; k < n; k++) {
                int index = k;
                outs.add(pool.submit(() -> {
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    try (Cmd cmd = i.exec(ExecRequest.of("echo", "out-" + index), null, out, null)) {
                        assertEquals(0, cmd.waitFor(Duration.ofSeconds(30)));
                    }
                    return out.toString(StandardCharsets.UTF_8);
                }));
            }
            int dropped = 0;
            for (int k = 0; k < n; k++) {
                String out = outs.get(k).get(60, TimeUnit.SECONDS);
                if (out.isEmpty()) {
                    dropped++; // incusd's own loss, see assertFewServerDrops
                } else {
                    assertEquals("out-" + k + "\n", out);
                }
            }
            assertFewServerDrops(dropped, n);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void parallelRequestsDoNotStallTheDaemon() throws Exception {
        // A silent connection of ours used to stall incusd's accept loop for 30 s under parallel requests
        // (see AcceptLoopTest); execs (five connections each) and plain GETs side by side reproduced it in seconds.
        Instance i = create();
        i.start(false);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        java.util.concurrent.atomic.AtomicLong slowest = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicInteger dropped = new java.util.concurrent.atomic.AtomicInteger();
        try {
            List<java.util.concurrent.Future<?>> runs = new java.util.ArrayList<>();
            for (int t = 0; t < 8; t++) {
                boolean exec = t % 2 == 0;
                runs.add(pool.submit(() -> {
                    for (int k = 0; k < 25; k++) {
                        long start = System.nanoTime();
                        if (exec) {
                            ByteArrayOutputStream out = new ByteArrayOutputStream();
                            try (Cmd cmd = i.exec(ExecRequest.of("echo", "x"), null, out, null)) {
                                assertEquals(0, cmd.waitFor(Duration.ofSeconds(30)));
                            }
                            String got = out.toString(StandardCharsets.UTF_8);
                            if (got.isEmpty()) {
                                dropped.incrementAndGet(); // incusd's own loss, see assertFewServerDrops
                            } else {
                                assertEquals("x\n", got);
                            }
                        } else {
                            i.render();
                        }
                        slowest.accumulateAndGet(System.nanoTime() - start, Math::max);
                    }
                    return null;
                }));
            }
            for (java.util.concurrent.Future<?> r : runs) {
                r.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(slowest.get() < TimeUnit.SECONDS.toNanos(10), "slowest call "
                + TimeUnit.NANOSECONDS.toMillis(slowest.get()) + " ms");
        assertFewServerDrops(dropped.get(), 100);
    }

    @Test
    void closingACommandDoesNotKillIt() {
        Instance i = create();
        i.start(false);
        Cmd cmd = i.exec(ExecRequest.of("sh", "-c", "sleep 1; echo done > /tmp/closed-but-ran"), null, null, null);
        cmd.close();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String seen = "";
        while (!seen.equals("done\n") && System.nanoTime() < deadline) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (Cmd cat = i.exec(ExecRequest.of("cat", "/tmp/closed-but-ran"), null, out, null)) {
                cat.waitFor(Duration.ofSeconds(10));
            }
            seen = out.toString(StandardCharsets.UTF_8);
        }
        assertEquals("done\n", seen, "the closed command ran to its end");
    }

    @Test
    void exportDownloadsAUnifiedImageAndLeavesNoImageBehind() throws Exception {
        Instance i = create();
        int imagesBefore = imageCount();
        ByteArrayOutputStream image = new ByteArrayOutputStream();
        java.util.concurrent.atomic.AtomicLong reported = new java.util.concurrent.atomic.AtomicLong();
        io.github.incus4j.api.model.ImageMetadata md = i.export(image, null, Map.of("description", "exported"), null,
                new io.github.incus4j.api.operation.ProgressTracker(0, (percent, speed, bytes) -> reported.set(bytes)));
        assertEquals("exported", md.properties().get("description"));
        assertFalse(md.architecture().isEmpty(), "architecture from the server's image");
        byte[] tar = image.toByteArray();
        // Uncompressed, as Instance.export(out, rootfs, ...) promises (published with compression_algorithm none).
        assertTrue(tar.length > 1000 && new String(tar, 257, 5, StandardCharsets.US_ASCII).equals("ustar"),
                "an uncompressed tarball");
        List<String> names = new java.util.ArrayList<>();
        Process p = new ProcessBuilder("tar", "-tf", "-").start();
        p.getOutputStream().write(tar);
        p.getOutputStream().close();
        new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().forEach(names::add);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, "tar reads it");
        assertTrue(names.contains("metadata.yaml") && names.stream().anyMatch(n -> n.startsWith("rootfs/")), "unified: "
                + names.subList(0, Math.min(5, names.size())));
        assertTrue(reported.get() > 0, "progress was reported");
        assertEquals(imagesBefore, imageCount(), "the published image is deleted again");
        // A split export is cut from the published unified tarball; the server keeps no image of it either.
        ByteArrayOutputStream rootfs = new ByteArrayOutputStream();
        i.export(new ByteArrayOutputStream(), rootfs, Map.of(), null, null);
        assertTrue(rootfs.size() > 1000, "a rootfs tarball");
        assertEquals(imagesBefore, imageCount(), "the image of the split export is deleted again");
    }

    @Test
    void anImageUploadedForACreateThatFailsIsDeletedAgain(@TempDir Path scratch) throws Exception {
        Instance i = create();
        Path tarball = scratch.resolve("image.tar");
        try (java.io.OutputStream out = java.nio.file.Files.newOutputStream(tarball)) {
            i.export(out, null, Map.of("description", "uploaded then refused"), null, null);
        }
        int imagesBefore = imageCount();
        // The server refuses the create (the name is taken) after the upload: the upload must not stay behind.
        IncusException e = assertThrows(IncusException.class, () -> incus.create(
                InstanceArgs.builder(i.name()).build(), InstanceSource.image(tarball)));
        assertTrue(e.getMessage().contains("already exists") || e.getMessage().contains("UNIQUE"), e.getMessage());
        assertEquals(imagesBefore, imageCount(), "the uploaded image is deleted again");
        // The server's own image of that fingerprint (here: one uploaded by the CLI) is used and left alone.
        assertEquals(0, new ProcessBuilder("incus", "image", "import", tarball.toString(), "--alias", "drv-kept-"
                + ProcessHandle.current().pid()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File(
                "/dev/null"))).start().waitFor(), "incus image import");
        try {
            Instance copy = incus.create(InstanceArgs.builder(i.name() + "c").build(), InstanceSource.image(tarball));
            try {
                assertEquals("uploaded then refused", copy.localConfig().get("image.description"));
                assertEquals(imagesBefore + 1, imageCount(), "the server's image is kept");
            } finally {
                copy.delete(true);
            }
        } finally {
            new ProcessBuilder("incus", "image", "delete", "drv-kept-" + ProcessHandle.current().pid()).start()
                    .waitFor(30, TimeUnit.SECONDS);
        }
    }

    private static int imageCount() throws Exception {
        Process p = new ProcessBuilder("incus", "image", "list", "--format", "csv", "--columns", "f")
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, "incus image list");
        return (int) out.lines().filter(l -> !l.isBlank()).count();
    }

    @Test
    void serverTextsArePassedThrough() {
        Instance i = create();
        InstanceStateException e = assertThrows(InstanceStateException.class, () -> i.stop(false));
        assertEquals("The instance is already stopped", e.getMessage());
        assertThrows(NotFoundException.class, () -> incus.load("no-such-instance-here"));
        assertFalse(incus.find("default", "no-such-instance-here").isPresent());
    }
}
