package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.lxc.binding.Freezer;
import io.github.incus4j.lxc.binding.LxcContainer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One container's status as liblxc and its freezer cgroup say it now (the {@link StatusWatcher} keeps it current
 * between questions and is told by {@link #changed} after an operation of ours). liblxc keeps saying RUNNING for a
 * container frozen through its cgroup, so the freezer is asked too; the freezer is found once per start (finding it
 * parses {@code /proc}). A config that vanished during the read (a rename or delete) is no container, never an
 * error.
 */
final class LxcStatus {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstance.class.getName());

    private final LxcContainerInstance instance;
    private final LxcInstances driver;
    /** The running container's freezer, with the init pid it was found for. */
    private volatile PidFreezer freezer;

    LxcStatus(LxcContainerInstance instance, LxcInstances driver) {
        this.instance = instance;
        this.driver = driver;
    }

    /** After an operation of ours: the kept status is the state it left. */
    void changed() {
        try {
            driver.statusWatcher().refresh(instance);
        } catch (IncusException e) {
            driver.statusWatcher().forget(instance);
            LOG.log(System.Logger.Level.DEBUG, "Status of {0} not refreshed: {1}", instance.name(), e.getMessage());
        }
    }

    /** A status asked of liblxc, with init's pid; {@code defined} is false when liblxc has no such container. */
    record Fresh(StatusCode status, int pid, boolean defined) {
    }

    /** Asks liblxc (and the freezer) for the status now. */
    Fresh query() {
        Path config = instance.lxcDir().resolve("config");
        Fresh undefined = new Fresh(StatusCode.STOPPED, -1, false);
        if (instance.isSnapshot() || !Files.exists(config)) {
            return undefined;
        }
        String state;
        int pid;
        try (LxcContainer c = instance.open()) {
            state = c.state();
            pid = c.initPid();
        } catch (IncusException e) {
            // A rename or delete removed the config between liblxc's check for it and its read: no container here.
            if (!Files.exists(config)) {
                return undefined;
            }
            throw e;
        }
        StatusCode status = switch (state) {
            case "STOPPED" -> StatusCode.STOPPED;
            case "STARTING" -> StatusCode.STARTING;
            case "STOPPING" -> StatusCode.STOPPING;
            case "ABORTING" -> StatusCode.ABORTING;
            case "FREEZING" -> StatusCode.FREEZING;
            case "FROZEN" -> StatusCode.FROZEN;
            case "THAWED" -> StatusCode.THAWED;
            // liblxc keeps saying RUNNING for a container frozen through its cgroup: ask the freezer.
            case "RUNNING" -> frozen(pid) ? StatusCode.FROZEN : StatusCode.RUNNING;
            default -> StatusCode.ERROR;
        };
        return new Fresh(status, pid, true);
    }

    /** The file the kernel marks written when the container's freezer state is set. */
    Path freezerEventsFile(int pid) {
        Freezer f = freezer(pid);
        return f.directory().resolve(f.isV2() ? "cgroup.events" : "freezer.state");
    }

    /** What the freezer of the container whose init is {@code pid} says: Frozen, Freezing or Running. */
    StatusCode freezerStatus(int pid) {
        return switch (freezer(pid).state()) {
            case "FROZEN" -> StatusCode.FROZEN;
            case "FREEZING" -> StatusCode.FREEZING;
            default -> StatusCode.RUNNING;
        };
    }

    /** Whether the container whose init is {@code pid} is frozen (false when it stopped meanwhile). */
    boolean frozen(int pid) {
        if (pid <= 0) {
            return false;
        }
        try {
            return freezer(pid).state().equals("FROZEN");
        } catch (IncusException e) {
            return false; // it stopped meanwhile
        }
    }

    /** The freezer of the container whose init is {@code pid}, found once per start (finding it parses /proc). */
    Freezer freezer(int pid) {
        PidFreezer known = freezer;
        if (known == null || known.pid() != pid) {
            known = new PidFreezer(pid, Freezer.of(pid, instance.lxcName()));
            freezer = known;
        }
        return known.freezer();
    }

    private record PidFreezer(int pid, Freezer freezer) {
    }
}
