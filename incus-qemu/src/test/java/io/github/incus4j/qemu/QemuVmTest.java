package io.github.incus4j.qemu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * What only real VMs show: ACPI shutdown, screenshots, memory dumps, QEMU killed under a running command, a guest
 * that powers itself off, a session reopened on running VMs, long run paths, and direct kernel boot through
 * {@code raw.qemu}. One booted VM is shared by the read-only tests.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QemuVmTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final AtomicInteger NAMES = new AtomicInteger();

    @TempDir
    static Path dir;
    private QemuInstances instances;
    private QemuVm shared;
    private final List<String> uuids = new ArrayList<>();

    @BeforeAll
    void open() {
        TestGuest.image();
        instances = new QemuDriver().open(dir.resolve("root"), TestGuest.settings());
    }

    @AfterEach
    void stopOthers() {
        for (Instance i : instances.list()) {
            if (i != shared && i.isRunning()) {
                i.stop(false);
            }
        }
    }

    @AfterAll
    void close() throws IOException {
        if (instances == null) {
            return;
        }
        for (Instance i : instances.list()) {
            if (i.isRunning()) {
                i.stop(false);
            }
        }
        instances.close();
        // Every QEMU this class started is gone.
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) procs::iterator) {
                if (!p.getFileName().toString().matches("\\d+")) {
                    continue;
                }
                try {
                    String cmdline = Files.readString(p.resolve("cmdline"));
                    for (String u : uuids) {
                        assertFalse(cmdline.contains(u), "QEMU left running: " + p);
                    }
                } catch (IOException gone) {
                    // exited meanwhile
                }
            }
        }
    }

    private QemuVm create(InstanceArgs.Builder args) {
        QemuVm vm = (QemuVm) instances.create(args.build(), InstanceSource.image(TestGuest.image()));
        uuids.add(vm.localConfig().get("volatile.uuid"));
        return vm;
    }

    private static InstanceArgs.Builder args() {
        return InstanceArgs.builder("vmt-" + NAMES.incrementAndGet()).type(InstanceType.VM);
    }

    private QemuVm running() {
        QemuVm vm = create(args());
        vm.start(false);
        return vm;
    }

    /** The shared VM, started (and its agent awaited) on first use. */
    private synchronized QemuVm shared() {
        if (shared == null) {
            shared = running();
            assertEquals("ready\n", exec(shared, "echo", "ready"));
        }
        return shared;
    }

    private static String exec(Instance i, String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(ExecRequest.of(argv), null, out, null)) {
            assertEquals(0, c.waitFor(WAIT), "exit status of " + Arrays.toString(argv));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static void await(BooleanSupplier condition, Duration bound, String what) {
        long deadline = System.nanoTime() + bound.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail(what + " did not happen within " + bound);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted");
            }
        }
    }

    /** Whether {@code pid} has ended (a zombie not yet reaped by init counts as ended). */
    private static boolean gone(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) == 'Z';
        } catch (IOException e) {
            return true;
        }
    }

    @Test
    void infoHasQemusVersionAndProbedFeatures() {
        var info = new QemuDriver().info();
        assertEquals("qemu", info.name());
        assertTrue(info.isOperational(), "info " + info);
        assertTrue(info.version().matches("\\d+\\.\\d+(\\.\\d+)?"), "version " + info.version());
        assertTrue(Set.of("kvm", "tcg").contains(info.features().get("accelerator")), "features " + info.features());
        assertEquals(true, info.features().get("cpu_hotplug"), "features " + info.features());
    }

    @Test
    void screenshotIsAPng() {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        shared().consoleScreenshot(png);
        byte[] b = png.toByteArray();
        assertTrue(b.length > 33, "png of " + b.length + " bytes");
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, Arrays.copyOf(b, 8));
        assertEquals("IHDR", new String(b, 12, 4, StandardCharsets.US_ASCII));
        int width = ((b[16] & 0xff) << 24) | ((b[17] & 0xff) << 16) | ((b[18] & 0xff) << 8) | (b[19] & 0xff);
        assertTrue(width >= 320, "width " + width);
    }

    /** Keeps the first bytes and counts the rest: a dump is as large as the guest's memory. */
    private static final class Head extends OutputStream {
        final byte[] head = new byte[64];
        long count;

        @Override
        public void write(int b) {
            if (count < head.length) {
                head[(int) count] = (byte) b;
            }
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            for (int i = 0; i < len && count + i < head.length; i++) {
                head[(int) count + i] = b[off + i];
            }
            count += len;
        }
    }

    @Test
    void memoryDumpIsAnElfCore() {
        Head out = new Head();
        shared().dumpGuestMemory(out, "elf");
        assertArrayEquals(new byte[] {0x7f, 'E', 'L', 'F', 2}, Arrays.copyOf(out.head, 5), "ELF64 magic");
        assertEquals(4, out.head[16], "e_type ET_CORE");
        assertEquals(62, out.head[18], "e_machine x86-64");
        assertTrue(out.count > 200L << 20, "a 256 MiB guest dumps at least 200 MiB, got " + out.count);
    }

    @Test
    void kdumpFormatIsAccepted() {
        Head out = new Head();
        shared().dumpGuestMemory(out, "kdump-zlib");
        // QEMU writes the flattened form ("makedumpfile" header) of kdump-compressed dumps.
        String magic = new String(out.head, 0, 12, StandardCharsets.US_ASCII);
        assertTrue(magic.startsWith("KDUMP") || magic.equals("makedumpfile"), "kdump header " + magic);
    }

    @Test
    void consoleLogHasTheBoot() {
        String log = shared().consoleLog();
        assertTrue(log.contains("INCUS4J-GUEST-READY"), "console log: " + log);
        assertTrue(Files.exists(shared().consoleBufferLogPath()));
    }

    @Test
    void guestStateComesFromTheAgent() {
        var state = shared().renderState(List.of());
        assertNotNull(state.osInfo(), "os_info from guest-get-osinfo");
        assertFalse(state.osInfo().kernelVersion().isEmpty(), "kernel " + state.osInfo());
        // The shared VM has no NIC device: the guest's loopback, and not the driver's management NIC.
        assertEquals(Set.of("lo"), state.network().keySet(), "network " + state.network());
    }

    @Test
    void shutdownGoesThroughAcpi() {
        QemuVm vm = running();
        exec(vm, "true"); // booted: acpid listens
        int pid = vm.initPid();
        long t = System.nanoTime();
        vm.shutdown(WAIT);
        assertEquals(StatusCode.STOPPED, vm.statusCode());
        assertTrue(gone(pid), "QEMU still runs");
        assertTrue(System.nanoTime() - t < WAIT.toNanos());
        assertEquals("STOPPED", vm.localConfig().get("volatile.last_state.power"));
    }

    /**
     * QEMU killed under a command run by the agent and one on a terminal (SSH): neither gets a made-up exit status
     * (it was 137, as if the command had been killed); both fail with Incus's {@code Disconnected}, saying the VM died.
     */
    @Test
    void qemuKilledUnderACommandFailsItAndStops() {
        QemuVm vm = running();
        exec(vm, "true");
        assertEquals(0, vm.exec(ExecRequest.builder("true").interactive(true).build(), null,
                OutputStream.nullOutputStream(), null).waitFor(WAIT)); // SSH up, key installed
        try (Cmd agent = vm.exec(ExecRequest.of("sleep", "60"), null, null, null);
                Cmd ssh = vm.exec(ExecRequest.builder("sleep", "60").interactive(true).build(), null,
                        OutputStream.nullOutputStream(), null)) {
            ProcessHandle.of(vm.initPid()).orElseThrow().destroyForcibly();
            long t = System.nanoTime();
            for (Cmd c : List.of(agent, ssh)) {
                InstanceStateException e = assertThrows(InstanceStateException.class,
                        () -> c.waitFor(Duration.ofSeconds(5)));
                assertEquals(Machine.COMMAND_LOST_VM_DIED, e.getMessage());
                assertEquals(StatusCode.STOPPED, e.statusCode());
                assertTrue(c.exitCode().isEmpty(), "no exit status was made up");
            }
            await(() -> vm.statusCode() == StatusCode.STOPPED, Duration.ofSeconds(1), "Stopped");
            assertTrue(System.nanoTime() - t < Duration.ofSeconds(5).toNanos());
        }
        await(() -> "STOPPED".equals(vm.localConfig().get("volatile.last_state.power")), Duration.ofSeconds(10),
                "power state recorded");
        assertEquals(-1, vm.initPid());
    }

    /**
     * Nobody but the owner reads what a VM leaves on the host: its directories (instance, snapshots, logs, run) are
     * 0700 and every file in them 0600 (sockets without group or other bits), whoever made them (the driver, QEMU,
     * qemu-img), while it runs and after a stateful stop.
     */
    @Test
    void filesOfAVmAreItsOwnersOnly() throws IOException {
        QemuVm vm = create(args().config("migration.stateful", "true"));
        vm.start(false);
        exec(vm, "true");
        assertFalse(vm.consoleLog().isEmpty()); // console.log written
        vm.snapshot("s1", null, false);
        Path snapshots = vm.snapshots().get(0).path().getParent();
        List<Path> trees = List.of(vm.path(), snapshots, vm.logPath(), vm.runPath());
        Set<String> seen = new TreeSet<>();
        for (Path tree : trees) {
            assertPrivate(tree, seen);
        }
        for (String f : List.of("root.img", "metadata.yaml", "backup.yaml", "qemu.log", "console.log", "qemu.monitor",
                "qemu.agent", "qemu.pid", "ssh.port", "qcow2-snapshot")) {
            assertTrue(seen.contains(f), f + " checked, among " + seen);
        }
        vm.stop(true);
        assertTrue(Files.isRegularFile(vm.statePath()));
        for (Path tree : trees) {
            if (Files.exists(tree)) {
                assertPrivate(tree, seen);
            }
        }
    }

    private static void assertPrivate(Path tree, Set<String> seen) throws IOException {
        List<String> open = new ArrayList<>();
        try (var walk = Files.walk(tree)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                var attrs = Files.readAttributes(p, java.nio.file.attribute.PosixFileAttributes.class,
                        java.nio.file.LinkOption.NOFOLLOW_LINKS);
                String mode = java.nio.file.attribute.PosixFilePermissions.toString(attrs.permissions());
                boolean ok = attrs.isDirectory() ? mode.equals("rwx------")
                        : attrs.isRegularFile() ? mode.equals("rw-------")
                        // A socket is connected to through its write bit; QEMU makes its sockets 0750 (its umask
                        // after -daemonize is 027), which nobody else can use, in a 0700 directory anyway.
                        : attrs.isSymbolicLink() || (mode.charAt(4) == '-' && mode.charAt(7) == '-');
                if (!ok) {
                    open.add(mode + " " + p);
                }
                seen.add(p.getFileName().toString());
            }
        }
        assertTrue(open.isEmpty(), "readable by others: " + open);
    }

    /**
     * A run directory the driver cannot write to is a {@link PermissionDeniedException} (it was an
     * UncheckedIOException). Root writes anywhere, so the directory is made immutable ({@code chattr +i}) as well as
     * read-only; the test is skipped where neither holds.
     */
    @Test
    void anUnwritableRunDirectoryIsPermissionDenied() throws Exception {
        Path root = dir.resolve("locked-root");
        try (QemuInstances other = new QemuDriver().open(root, TestGuest.settings())) {
            QemuVm vm = (QemuVm) other.create(args().build(), InstanceSource.none());
            Path runRoot = vm.runPath().getParent();
            Files.createDirectories(runRoot);
            Files.setPosixFilePermissions(runRoot, java.nio.file.attribute.PosixFilePermissions.fromString("r-xr-xr-x"));
            boolean immutable = new ProcessBuilder("chattr", "+i", runRoot.toString()).redirectErrorStream(true)
                    .start().waitFor() == 0;
            try {
                assumeTrue(!Files.isWritable(runRoot) || immutable,
                        "cannot make " + runRoot + " unwritable for this user (root without chattr)");
                PermissionDeniedException e = assertThrows(PermissionDeniedException.class, () -> vm.start(false));
                assertTrue(e.getMessage().startsWith("Cannot prepare the run directory of " + vm.name()
                        + ": permission denied (" + vm.runPath()), e.getMessage());
                assertEquals(StatusCode.STOPPED, vm.statusCode());
            } finally {
                if (immutable) {
                    new ProcessBuilder("chattr", "-i", runRoot.toString()).start().waitFor();
                }
                Files.setPosixFilePermissions(runRoot, java.nio.file.attribute.PosixFilePermissions.fromString(
                        "rwx------"));
            }
            vm.delete(false);
        }
    }

    /**
     * A monitor another client holds (QEMU serves one at a time, the others wait in a backlog of 1): each state query
     * of a session fails to connect within the 5 s connect timeout and reports Error, and so does the next one, which
     * used to block in the connect for over 8 minutes (the backlog full with the first one's connection). Once the
     * monitor is free, the next query connects.
     */
    @Test
    void aHeldMonitorMakesEachStateQueryAnErrorWithinTheConnectTimeout() throws IOException {
        QemuVm vm = running();
        Path monitor = vm.runDir().monitor();
        instances.close(); // the VM runs on without a client
        instances = new QemuDriver().open(dir.resolve("root"), TestGuest.settings());
        shared = null;
        Instance again = instances.load(vm.name());
        try (SocketChannel holder = SocketChannel.open(UnixDomainSocketAddress.of(monitor))) {
            holder.configureBlocking(false);
            try (Selector greeted = Selector.open()) {
                holder.register(greeted, SelectionKey.OP_READ);
                assertEquals(1, greeted.select(5000), "QEMU greets the holder");
            }
            for (int k = 0; k < 3; k++) {
                long t = System.nanoTime();
                int code = k == 1 ? again.renderState(List.of()).statusCode() : again.statusCode().code();
                long ms = (System.nanoTime() - t) / 1_000_000;
                System.out.printf("held monitor: query %d took %d ms%n", k + 1, ms);
                assertEquals(StatusCode.ERROR.code(), code);
                assertTrue(ms < 8000, "query " + (k + 1) + " took " + ms + " ms");
            }
        }
        await(() -> again.statusCode() == StatusCode.RUNNING, Duration.ofSeconds(20), "a connection once released");
        again.stop(false);
    }

    @Test
    void readerDuringAStartDoesNotTakeTheNewMonitor() throws InterruptedException {
        // A reader that polls while QEMU launches (here the init PID; in the contract's soak a render during a
        // restore's start) used to attach to its monitor first; the start then waited behind it for a greeting and
        // failed with "QMP connection timed out".
        QemuVm vm = create(args());
        AtomicBoolean starting = new AtomicBoolean(true);
        AtomicInteger reads = new AtomicInteger();
        Thread reader = new Thread(() -> {
            while (starting.get()) {
                vm.initPid();
                reads.incrementAndGet();
            }
        }, "status-reader");
        reader.start();
        try {
            vm.start(false);
        } finally {
            starting.set(false);
            reader.join(WAIT.toMillis());
        }
        assertTrue(reads.get() > 0, "the reader ran during the start");
        assertEquals(StatusCode.RUNNING, vm.statusCode());
        vm.stop(false);
    }

    @Test
    void guestPoweroffIsNoticed() {
        QemuVm vm = running();
        exec(vm, "true");
        try (Cmd c = vm.exec(ExecRequest.of("poweroff"), null, null, null)) {
            await(() -> vm.statusCode() == StatusCode.STOPPED, WAIT, "the guest's poweroff");
        }
        await(() -> "STOPPED".equals(vm.localConfig().get("volatile.last_state.power")), Duration.ofSeconds(10),
                "power state recorded");
    }

    @Test
    void ephemeralVmPoweredOffByItsGuestIsDeleted() {
        QemuVm vm = create(args().ephemeral(true));
        vm.start(false);
        exec(vm, "true");
        try (Cmd c = vm.exec(ExecRequest.of("poweroff"), null, null, null)) {
            await(() -> instances.find("default", vm.name()).isEmpty() && !Files.exists(vm.path()), WAIT,
                    "deletion of the ephemeral VM");
        }
    }

    @Test
    void statefulStopAndStartResumeTheGuest() {
        QemuVm vm = create(args().config("migration.stateful", "true"));
        vm.start(false);
        double before = Double.parseDouble(exec(vm, "cat", "/proc/uptime").split(" ")[0]);
        vm.stop(true);
        assertTrue(vm.isStateful());
        assertTrue(Files.isRegularFile(vm.statePath()), "state file " + vm.statePath());
        vm.start(true);
        double after = Double.parseDouble(exec(vm, "cat", "/proc/uptime").split(" ")[0]);
        assertTrue(after >= before, "the guest resumed (uptime " + before + " then " + after + "), not rebooted");
        assertFalse(Files.exists(vm.statePath()), "the state is consumed");
    }

    @Test
    void reopenedSessionFindsTheRunningVm() {
        QemuVm vm = running();
        int pid = vm.initPid();
        instances.close();
        instances = new QemuDriver().open(dir.resolve("root"), TestGuest.settings());
        shared = null; // its handle belonged to the closed session
        Instance again = instances.load(vm.name());
        assertEquals(StatusCode.RUNNING, again.statusCode());
        assertEquals(pid, again.initPid());
        again.stop(false);
        assertEquals(StatusCode.STOPPED, again.statusCode());
    }

    @Test
    void longRunPathsUseAShortDirectory() throws IOException {
        Path deep = dir.resolve("a-rather-long-directory-name-to-push-socket-paths".repeat(2));
        try (QemuInstances other = new QemuDriver().open(deep, TestGuest.settings())) {
            QemuVm vm = (QemuVm) other.create(args().build(), InstanceSource.image(TestGuest.image()));
            uuids.add(vm.localConfig().get("volatile.uuid"));
            assertTrue(vm.runPath().resolve("qemu.monitor").toString().length() > 108);
            vm.start(false);
            try {
                assertEquals(StatusCode.RUNNING, vm.statusCode());
                assertTrue(Files.isSymbolicLink(vm.runPath().resolve("short")));
            } finally {
                vm.stop(false);
            }
            Path shortDir = Path.of(Files.readSymbolicLink(vm.runPath().resolve("short")).toString());
            assertFalse(Files.exists(shortDir), "short run directory left: " + shortDir);
            vm.delete(false);
        }
    }

    @Test
    void rawQemuBootsAKernelDirectly() {
        Path guest = TestGuest.image().getParent();
        QemuVm vm = (QemuVm) instances.create(args().config("raw.qemu", "-kernel " + guest.resolve("vmlinuz")
                + " -initrd " + guest.resolve("initrd.img") + " -append 'console=ttyS0 quiet'").build(),
                InstanceSource.none());
        uuids.add(vm.localConfig().get("volatile.uuid"));
        vm.start(false);
        assertEquals("direct\n", exec(vm, "echo", "direct"));
    }
}
