package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.lxc.binding.LxcContainer;
import io.github.incus4j.lxc.binding.LxcTool;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Set;

/**
 * Drives one container's processes through liblxc and CRIU: starts it (or restores it from a CRIU dump), stops it
 * (after a dump when stateful), shuts it down with the halt signal, freezes and thaws it through its freezer cgroup,
 * and checkpoints it. It stops the container's proxies when it ends and tells the driver's stop watcher when to look
 * away; recording the outcome (status, volatile keys) is the caller's.
 */
final class LxcPower {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstance.class.getName());
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    static final int STOP_WAIT_SECONDS = 10;
    private static final Duration FREEZE_TIMEOUT = Duration.ofSeconds(10);
    static final Duration CRIU_TIMEOUT = Duration.ofSeconds(60);

    private final LxcContainerInstance instance;
    private final LxcInstances driver;
    private final LxcStatus status;
    private final LxcProxies proxies;

    LxcPower(LxcContainerInstance instance, LxcInstances driver, LxcStatus status, LxcProxies proxies) {
        this.instance = instance;
        this.driver = driver;
        this.status = status;
        this.proxies = proxies;
    }

    /** Starts the container, or restores it from its saved state ({@code statePath}) when {@code stateful}. */
    void launch(boolean stateful) {
        if (stateful) {
            restore(instance.statePath());
        } else {
            LxcTool.start(driver.lxcpath(), instance.lxcName(), START_TIMEOUT);
        }
    }

    /** Restores the container from the CRIU dump in {@code dir}; a failure names what CRIU logged. */
    void restore(Path dir) {
        try {
            LxcTool.restore(driver.lxcpath(), instance.lxcName(), dir, CRIU_TIMEOUT, driver.criu().options(dir));
        } catch (IncusException e) {
            throw Criu.failure(e, dir, "restore.log");
        }
    }

    /**
     * An unprivileged container's root (a mapped id, "other" to the host) must traverse every directory above its
     * root filesystem; liblxc only says the start aborted, so name the directory that stops it. A private
     * {@code mkdtemp} directory (mode 700) above the driver root is the usual culprit.
     */
    void requireSearchableParents(Path rootfs) {
        for (Path dir = rootfs.toAbsolutePath().getParent(); dir != null; dir = dir.getParent()) {
            try {
                Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir);
                if (!perms.contains(PosixFilePermission.OTHERS_EXECUTE)) {
                    throw new InstanceStateException("Unprivileged container " + ErrorTexts.quote(instance.name())
                            + " cannot reach its root filesystem: " + dir + " is not searchable by others (mode "
                            + PosixFilePermissions.toString(perms) + "); make every directory above the driver root"
                            + " searchable (chmod o+x) or set security.privileged=true", instance.statusCode());
                }
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read the permissions of " + dir, e);
            }
        }
    }

    /** Stops the container, after dumping it into {@code statePath} when {@code stateful}. */
    void stop(boolean stateful) {
        if (stateful) {
            driver.criu().require("Unable to perform container live migration");
            dump(instance.statePath(), true);
        }
        driver.unwatchForStop(instance);
        try (LxcContainer c = instance.open()) {
            if (stateful && c.wait("STOPPED", STOP_WAIT_SECONDS)) {
                proxies.closeAll();
                return;
            }
            int pid = c.initPid();
            if (status.frozen(pid)) {
                // Killed processes of a frozen cgroup only die once thawed.
                status.freezer(pid).unfreeze(FREEZE_TIMEOUT);
            }
            if (!c.stop() && c.isRunning()) {
                throw new IncusException("Failed to stop container " + ErrorTexts.quote(instance.name()) + ": "
                        + c.lastError().message());
            }
            if (!c.wait("STOPPED", STOP_WAIT_SECONDS)) {
                throw new OperationTimeoutException("Container " + ErrorTexts.quote(instance.name())
                        + " did not stop within " + STOP_WAIT_SECONDS + " s");
            }
        }
        proxies.closeAll();
    }

    /** Checkpoints the running container into {@code dir} (replaced) with CRIU; {@code stop} stops it after. */
    void dump(Path dir, boolean stop) {
        AbstractInstances.deleteTree(dir);
        try {
            Files.createDirectories(dir);
            LxcTool.checkpoint(driver.lxcpath(), instance.lxcName(), dir, stop, CRIU_TIMEOUT,
                    driver.criu().options(dir));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + dir, e);
        } catch (IncusException e) {
            IncusException failure = Criu.failure(e, dir, "dump.log");
            AbstractInstances.deleteTree(dir);
            throw failure;
        }
    }

    /**
     * Sends the halt signal and waits, sending it again every second: an init that has not yet installed its handler
     * (busybox just after start) ignores it, as pid 1 ignores every signal it does not handle.
     */
    boolean shutdown(Duration timeout) {
        driver.unwatchForStop(instance);
        long deadline = System.nanoTime() + timeout.toNanos();
        try (LxcContainer c = instance.open()) {
            while (true) {
                c.shutdown(0); // 0: send the signal without waiting
                // liblxc waits in whole seconds (so a timeout is overshot by up to one) and returns on the state.
                if (c.wait("STOPPED", 1) || !c.isRunning()) {
                    proxies.closeAll();
                    return true;
                }
                if (System.nanoTime() >= deadline) {
                    driver.watchForStop(instance); // still running: the caller decides, the watcher keeps looking
                    return false;
                }
            }
        }
    }

    void freeze() {
        try (LxcContainer c = instance.open()) {
            status.freezer(c.initPid()).freeze(FREEZE_TIMEOUT);
            // Frozen already, so liblxc's freeze returns at once; it makes the monitor (lxc-info, lxc-ls) say FROZEN.
            if (!c.freeze()) {
                LOG.log(System.Logger.Level.WARNING, "liblxc did not record {0} as frozen: {1}", instance.name(),
                        c.lastError().message());
            }
        }
    }

    void unfreeze() {
        try (LxcContainer c = instance.open()) {
            status.freezer(c.initPid()).unfreeze(FREEZE_TIMEOUT);
            if (!c.unfreeze()) {
                LOG.log(System.Logger.Level.WARNING, "liblxc did not record {0} as running: {1}", instance.name(),
                        c.lastError().message());
            }
        }
    }
}
