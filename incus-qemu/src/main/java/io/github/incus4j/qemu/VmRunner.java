package io.github.incus4j.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import io.github.incus4j.qemu.qmp.MonitorDisconnectedException;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The running QEMU of one VM: it launches QEMU from a command line and attaches to its monitor (or to the monitor of
 * a QEMU an earlier session started), keeps the {@link Machine} and its run state from QMP's run-state events,
 * notices QEMU's end, and stops it ({@code quit}, ACPI power button, kill). {@code machineLock} guards the machine;
 * {@code launching} keeps readers from attaching to the monitor of a QEMU whose start is under way (its starting
 * thread's own connection would wait behind theirs for a greeting). What happens on the instance when QEMU ended
 * on its own, and the release of a run's host devices, belong to the VM and are given as its two consumers.
 */
final class VmRunner {
    // The messages keep the logger of QemuVm, whose code this was.
    private static final System.Logger LOG = System.getLogger(QemuVm.class.getName());
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration QUIT_WAIT = Duration.ofSeconds(30);
    private static final Duration POWERDOWN_REPEAT = Duration.ofSeconds(1);
    private static final Duration SYNC_WAIT = Duration.ofSeconds(5);
    /** How long after a start the driver keeps trying to mount the shares in the guest. */
    private static final Duration SHARE_MOUNT_WAIT = Duration.ofMinutes(3);
    /** The QMP events after which the run state may differ. */
    private static final Set<String> RUN_STATE_EVENTS = Set.of("STOP", "RESUME", "SUSPEND",
            "SUSPEND_DISK", "WAKEUP", "RESET", "SHUTDOWN", "POWERDOWN", "GUEST_PANICKED", "GUEST_CRASHLOADED",
            "MIGRATION");

    private final QemuInstances driver;
    private final QemuVm vm;
    private final Supplier<String> uuid;
    private final Consumer<Machine.RunDir> releaseHost;
    private final Consumer<Machine> stoppedByItself;
    private final Object machineLock = new Object();
    private volatile Machine machine;
    // True from QEMU's launch until its machine is set (machineLock held): find() must not attach to that QEMU's
    // monitor meanwhile, or the starting thread's own connection would wait behind it for a greeting.
    private boolean launching;

    /**
     * @param uuid the VM's {@code volatile.uuid} (QEMU's {@code -uuid}, how a running QEMU is recognised)
     * @param releaseHost removes what a start made on the host for the devices of a run (taps, shares)
     * @param stoppedByItself records on the instance that QEMU ended without the driver stopping it
     */
    VmRunner(QemuInstances driver, QemuVm vm, Supplier<String> uuid, Consumer<Machine.RunDir> releaseHost,
            Consumer<Machine> stoppedByItself) {
        this.driver = driver;
        this.vm = vm;
        this.uuid = uuid;
        this.releaseHost = releaseHost;
        this.stoppedByItself = stoppedByItself;
    }

    /** The current machine, null when stopped (or not attached yet). */
    Machine current() {
        return machine;
    }

    /**
     * The machine of the running VM: the current one, or one attached to a QEMU this session did not start (the
     * session was reopened). Empty when no QEMU of this VM runs.
     *
     * @throws IncusException when QEMU runs but its monitor cannot be reached (status {@code Error})
     */
    Optional<Machine> find() {
        if (vm.isSnapshot()) {
            return Optional.empty();
        }
        Machine m = machine;
        if (m != null && m.qmp.isConnected()) {
            return Optional.of(m);
        }
        synchronized (machineLock) {
            m = machine;
            if (m != null && m.qmp.isConnected()) {
                return Optional.of(m);
            }
            if (m != null) {
                if (m.process.isAlive()) {
                    // Our client lost the monitor but QEMU runs on: connect again below.
                    machine = null;
                    m.close();
                } else {
                    exited(m);
                    return Optional.empty();
                }
            }
            if (launching) {
                return Optional.empty();
            }
            Machine.RunDir run = vm.runDir();
            Optional<QemuProcess> p = QemuProcess.find(run.pidfile(), uuid.get());
            if (p.isEmpty()) {
                return Optional.empty();
            }
            QmpClient qmp = QmpClient.connect(run.monitor(), new QmpClient.Options(CONNECT_TIMEOUT,
                    driver.threadFactory("qmp"), null));
            Machine attached = new Machine(p.get(), qmp, run, startTime(p.get()), driver.threadFactory("agent"));
            watch(attached);
            machine = attached;
            driver.attached(vm);
            return Optional.of(attached);
        }
    }

    Machine require() {
        return find().orElseThrow(() -> new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING,
                StatusCode.STOPPED));
    }

    /** The run state: kept from QMP's events when known, else asked for. */
    StatusCode status() {
        Machine current = machine;
        if (current != null) {
            StatusCode known = current.status;
            if (known != null) {
                return known; // kept by QMP's run-state events: no round trip
            }
        }
        Optional<Machine> m;
        try {
            m = find();
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.DEBUG, "Monitor of {0} unreachable: {1}", vm.name(), e.getMessage());
            return StatusCode.ERROR;
        }
        if (m.isEmpty()) {
            return StatusCode.STOPPED;
        }
        try {
            JsonNode s = m.get().qmp.execute("query-status");
            return statusOf(s.path("status").asText());
        } catch (MonitorDisconnectedException e) {
            return m.get().process.isAlive() ? StatusCode.ERROR : StatusCode.STOPPED;
        } catch (IncusException e) {
            return StatusCode.ERROR;
        }
    }

    /** Incus's mapping of QMP's run states. */
    static StatusCode statusOf(String qmpStatus) {
        switch (qmpStatus) {
            case "prelaunch":
            case "running":
                return StatusCode.RUNNING;
            case "inmigrate":
            case "postmigrate":
            case "finish-migrate":
            case "save-vm":
            case "suspended":
            case "paused":
                return StatusCode.FROZEN;
            default:
                return StatusCode.ERROR;
        }
    }

    // ---- start -------------------------------------------------------------------------------------------------

    /**
     * Readies the run directory: made (with {@code runPath/short} linking to a short one), the last logs kept as
     * {@code .old}, sockets of an earlier run removed.
     */
    static void prepare(Machine.RunDir run, Path runPath, Path logPath, String name) {
        try {
            PrivateFiles.createDirectories(run.dir());
            PrivateFiles.createDirectories(logPath);
            if (!run.dir().equals(runPath)) {
                PrivateFiles.createDirectories(runPath);
                Path link = runPath.resolve("short");
                Files.deleteIfExists(link);
                Files.createSymbolicLink(link, run.dir());
            }
            for (String log : List.of("qemu.log", "console.log")) {
                Path p = logPath.resolve(log);
                if (Files.exists(p)) {
                    Files.move(p, logPath.resolve(log + ".old"), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            for (Path socket : List.of(run.monitor(), run.agent(), run.console())) {
                Files.deleteIfExists(socket);
            }
        } catch (IOException e) {
            throw HostIo.failure("Cannot prepare the run directory of " + name, e);
        }
    }

    /**
     * Launches QEMU ({@code cmd}, paused), attaches to its monitor, runs {@code load} on it when not null (a saved
     * state or an incoming migration), lets the guest run and mounts {@code disks}' shares in it. On a failure QEMU
     * is killed and the machine forgotten; the host devices are the caller's to release.
     */
    void launch(List<String> cmd, Machine.RunDir run, Path logPath, Consumer<QmpClient> load, VmDisks disks) {
        QemuProcess process;
        synchronized (machineLock) {
            launching = true;
        }
        try {
            process = QemuProcess.launch(cmd, run.pidfile(), logPath.resolve("qemu.early.log"));
        } catch (RuntimeException e) {
            synchronized (machineLock) {
                launching = false;
            }
            throw e;
        }
        QmpClient qmp = null;
        try {
            qmp = QmpClient.connect(run.monitor(), new QmpClient.Options(CONNECT_TIMEOUT,
                    driver.threadFactory("qmp"), null));
            Machine m = new Machine(process, qmp, run, Instant.now(), driver.threadFactory("agent"));
            qmp.execute("set-action", Map.of("shutdown", "poweroff", "reboot", "reset", "panic", "exit-failure"));
            synchronized (machineLock) {
                machine = m;
                launching = false;
                driver.attached(vm);
            }
            watch(m);
            if (load != null) {
                load.accept(qmp);
            }
            qmp.execute("cont");
            m.resumed();
            refreshStatus(m);
            if (!disks.shares.isEmpty()) {
                mountShares(m, disks);
            } else {
                m.sharesMounted.complete(null);
            }
        } catch (RuntimeException e) {
            synchronized (machineLock) {
                machine = null;
                launching = false;
                driver.detached(vm);
            }
            if (qmp != null) {
                qmp.close();
            }
            process.kill();
            throw e;
        }
    }

    /**
     * Mounts the directory shares in the guest once its agent answers (Incus's agent mounts them at its start), on
     * a named daemon thread: the start does not wait for the guest to boot. Gives up when the machine ends or after
     * {@link #SHARE_MOUNT_WAIT}; a failure is logged (the guest sees no mount).
     */
    private void mountShares(Machine m, VmDisks disks) {
        Thread t = driver.threadFactory("shares").newThread(() -> {
            try {
                mountSharesNow(m, disks);
            } finally {
                m.sharesMounted.complete(null);
            }
        });
        t.start();
    }

    private void mountSharesNow(Machine m, VmDisks disks) {
        long deadline = System.nanoTime() + SHARE_MOUNT_WAIT.toNanos();
        while (machine == m && m.process.isAlive() && System.nanoTime() < deadline) {
            try {
                disks.mountInGuest(m.agent(SHARE_MOUNT_WAIT));
                LOG.log(System.Logger.Level.DEBUG, "Shares of {0} mounted", vm.name());
                return;
            } catch (InstanceStateException e) {
                try {
                    TimeUnit.SECONDS.sleep(1); // the guest still boots
                } catch (InterruptedException ie) {
                    return;
                }
            } catch (IncusException e) {
                LOG.log(System.Logger.Level.WARNING, "Shares of {0} not mounted: {1}", vm.name(), e.getMessage());
                return;
            }
        }
    }

    /**
     * The guest's agent for commands and file access: once it answers, after the shares are mounted (bounded by the
     * agent's wait; a mount still under way then is the guest's view, as without this wait).
     */
    GuestAgentClient userAgent(Machine m) {
        GuestAgentClient a = m.agent(driver.settings().agentWait());
        try {
            m.sharesMounted.get(driver.settings().agentWait().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.log(System.Logger.Level.DEBUG, "Shares of {0} not mounted yet: {1}", vm.name(), e.toString());
        }
        return a;
    }

    // ---- run state ---------------------------------------------------------------------------------------------

    /**
     * Notices QEMU's end (a disconnected monitor means QEMU quit or died) and keeps the VM's status from QMP's
     * run-state events, so that {@code statusCode()} needs no round trip and sees a {@code stop} or {@code cont} from
     * anyone within an event's delivery.
     */
    private void watch(Machine m) {
        m.qmp.onEvent(e -> {
            if (RUN_STATE_EVENTS.contains(e.name())) {
                refreshStatus(m);
            }
        });
        m.qmp.disconnected().whenComplete((v, t) -> {
            m.status = null; // gone, or going: ask (the process) again
            driver.execute(() -> onDisconnect(m));
        });
        refreshStatus(m);
    }

    /**
     * Reads the run state again after the driver paused and resumed QEMU itself (a migration's send): the events'
     * listener may not have caught up when the call returns.
     */
    void refreshStatus() {
        Machine m = machine;
        if (m != null) {
            refreshStatus(m);
        }
    }

    /** Asks QEMU for the run state and keeps it (unknown when the monitor is gone). */
    void refreshStatus(Machine m) {
        synchronized (m.statusLock) {
            if (!m.qmp.isConnected()) {
                m.status = null;
                return;
            }
            try {
                m.status = statusOf(m.qmp.execute("query-status").path("status").asText());
            } catch (IncusException e) {
                m.status = null;
                LOG.log(System.Logger.Level.DEBUG, "query-status of {0}: {1}", vm.name(), e.getMessage());
            }
            if (!m.qmp.isConnected()) {
                m.status = null; // the disconnect may have completed between the check and the answer
            }
        }
    }

    /**
     * The monitor went away. Unless the driver is stopping the VM itself, QEMU ended on its own (the guest powered
     * off, QEMU crashed or was killed): the machine is forgotten and the VM told.
     */
    private void onDisconnect(Machine m) {
        if (m.stopping || !m.process.awaitExit(Duration.ofSeconds(10))) {
            return; // ours, or the monitor closed while QEMU runs on (status Error)
        }
        synchronized (machineLock) {
            if (machine == m) {
                exited(m);
            }
        }
        stoppedByItself.accept(m);
    }

    /** Forgets a machine whose QEMU is gone (machineLock held). */
    private void exited(Machine m) {
        if (machine == m) {
            machine = null;
        }
        driver.detached(vm);
        m.close();
        cleanRunDir(m.run);
    }

    private void cleanRunDir(Machine.RunDir run) {
        releaseHost.accept(run);
        try {
            for (Path p : List.of(run.monitor(), run.agent(), run.console(), run.pidfile(), run.sshPort())) {
                Files.deleteIfExists(p);
            }
            if (!run.dir().equals(vm.runPath())) {
                Files.deleteIfExists(run.dir()); // the short directory, empty now
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "Cannot clean {0}: {1}", run.dir(), e.getMessage());
        }
    }

    /** Releases the monitor and agent without touching QEMU (the session closes). */
    void detach() {
        synchronized (machineLock) {
            Machine m = machine;
            if (m != null) {
                m.stopping = true; // the disconnect that follows is ours
                machine = null;
                m.close();
            }
            driver.detached(vm);
        }
    }

    // ---- stop --------------------------------------------------------------------------------------------------

    /** A VM without a reachable monitor: kills what the pidfile names, if it is still this VM's QEMU. */
    void killUnreachable() {
        Machine.RunDir run = vm.runDir();
        QemuProcess.find(run.pidfile(), uuid.get()).ifPresent(QemuProcess::kill);
        cleanRunDir(vm.runDir());
    }

    /** Incus's stop of {@code m} (already marked stopping): {@code quit}, a wait for the monitor to go (30 s), kill. */
    void quit(Machine m) {
        try {
            m.qmp.execute("quit");
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.DEBUG, "quit of {0}: {1}", vm.name(), e.getMessage());
        }
        finish(m, QUIT_WAIT);
    }

    /**
     * Flushes the guest's page cache ({@code sync} through the agent, at most {@link #SYNC_WAIT}), so that a hard
     * stop or a disk snapshot keeps what exec and file access wrote. Best effort, and only when the agent is
     * already connected and the VM runs: nothing was written through the agent otherwise, and a paused guest's
     * agent does not answer.
     */
    void syncGuest(Machine m) {
        GuestAgentClient a = m.connectedAgent();
        if (a == null) {
            return;
        }
        try {
            if (!"running".equals(m.qmp.execute("query-status").path("status").asText())) {
                return;
            }
            int pid = a.exec("/bin/sh", List.of("-c", "sync"), List.of("PATH=/usr/bin:/bin"), null, false);
            long deadline = System.nanoTime() + SYNC_WAIT.toNanos();
            while (!a.execStatus(pid).exited() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "sync in {0}: {1}", vm.name(), e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits for QEMU to end (killing it after {@code wait}) and forgets the machine. */
    private void finish(Machine m, Duration wait) {
        try {
            m.qmp.disconnected().toCompletableFuture().get(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.log(System.Logger.Level.DEBUG, "Monitor of {0} still open after {1}", vm.name(), wait);
        }
        if (!m.process.awaitExit(Duration.ofSeconds(5))) {
            m.process.kill();
        }
        synchronized (machineLock) {
            exited(m);
        }
    }

    /**
     * Incus's shutdown of {@code m} (already marked stopping): ACPI power button ({@code system_powerdown}), repeated
     * every second (a guest still booting has no handler yet and loses the press), until QEMU ends or {@code timeout}
     * passes. False (and no longer stopping) when the guest did not power off in time.
     */
    boolean powerdown(Machine m, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                m.qmp.execute("system_powerdown");
            } catch (MonitorDisconnectedException e) {
                break;
            } catch (IncusException e) {
                LOG.log(System.Logger.Level.DEBUG, "system_powerdown of {0}: {1}", vm.name(), e.getMessage());
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                m.stopping = false;
                return false;
            }
            try {
                m.qmp.disconnected().toCompletableFuture().get(Math.min(left, POWERDOWN_REPEAT.toNanos()),
                        TimeUnit.NANOSECONDS);
                break;
            } catch (java.util.concurrent.TimeoutException e) {
                // press again
            } catch (java.util.concurrent.ExecutionException e) {
                break;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                m.stopping = false;
                return false;
            }
        }
        finish(m, Duration.ofSeconds(5));
        return true;
    }

    /** When QEMU started: boot time plus its start tick. */
    private static Instant startTime(QemuProcess p) {
        long ticks = p.startTicks();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/stat"))) {
                if (line.startsWith("btime ") && ticks >= 0) {
                    return Instant.ofEpochMilli(Long.parseLong(line.substring(6).trim()) * 1000 + ticks * 10);
                }
            }
        } catch (IOException | RuntimeException e) {
            return Instant.now();
        }
        return Instant.now();
    }
}
