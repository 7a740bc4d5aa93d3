package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import io.github.incus4j.qemu.qmp.QmpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ThreadFactory;

/**
 * One running QEMU of a VM and the host's connections to it: the QMP client (one per monitor socket: QEMU serves a
 * single client) and, once asked for, the guest agent client (its socket too serves one client). Owned by the
 * {@link VmRunner} of a {@link QemuVm}; closed when the VM stops or the session closes.
 */
final class Machine implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Machine.class.getName());
    private static final Duration AGENT_PROBE = Duration.ofSeconds(2);
    private static final Duration AGENT_RETRY = Duration.ofMillis(250);
    private static final Duration EXIT_WAIT = Duration.ofSeconds(1);
    /** The error of a command whose QEMU died under it (Incus's text for a lost exec session, and why). */
    static final String COMMAND_LOST_VM_DIED = ErrorTexts.COMMAND_LOST_VM_DIED;
    /** The error of a command whose connection to the guest ended while QEMU runs on. */
    static final String COMMAND_LOST_GUEST = "Disconnected: the guest's agent or SSH server went away while the"
            + " command ran (did the guest reboot?)";

    final QemuProcess process;
    final QmpClient qmp;
    final RunDir run;
    final Instant startedAt;
    /** Set while the driver stops or shuts down the VM, so that the exit is not taken for a guest's own. */
    volatile boolean stopping;
    /**
     * The run state as of QEMU's last run-state event (see {@code VmRunner.watch}); null when not known (before the
     * first query, after the monitor went away): then QEMU is asked.
     */
    volatile StatusCode status;
    /** Serializes a status query with its recording, so that an older answer never replaces a newer one. */
    final Object statusLock = new Object();
    /** {@code System.nanoTime()} before which the state does not try to reach an unanswering agent again. */
    volatile long nextAgentProbe = System.nanoTime();
    /**
     * Done when the directory shares are mounted in the guest (or the attempt ended): commands and file access wait
     * for it, as Incus's agent mounts the shares before it serves them.
     */
    final java.util.concurrent.CompletableFuture<Void> sharesMounted = new java.util.concurrent.CompletableFuture<>();
    /**
     * Set once a device was hot-plugged or unplugged: the running layout of root ports no longer is the one a command
     * line of the current devices makes, so that its state cannot be loaded into a new QEMU (stateful stop, stateful
     * snapshot, migration are refused until the next start).
     */
    volatile boolean devicesChanged;
    /** Whether a console session holds the serial port. */
    final java.util.concurrent.atomic.AtomicBoolean consoleAttached = new java.util.concurrent.atomic.AtomicBoolean();
    private final ThreadFactory threads;
    private GuestAgentClient agent;
    private GuestSsh ssh;
    private boolean closed;
    /** When the guest last began to run: the start, or the resume after a stateful start loaded its RAM. */
    private volatile Instant runningSince;

    Machine(QemuProcess process, QmpClient qmp, RunDir run, Instant startedAt, ThreadFactory threads) {
        this.process = process;
        this.qmp = qmp;
        this.run = run;
        this.startedAt = startedAt;
        this.runningSince = startedAt;
        this.threads = threads;
    }

    /**
     * The guest runs from now on: loading a saved state can take long, and the agent's grace period counts from the
     * moment the guest runs again, not from QEMU's launch.
     */
    void resumed() {
        runningSince = Instant.now();
    }

    /**
     * The guest agent, connected on first use. A VM that started less than {@code wait} ago is given until then for
     * its agent to answer (it boots); after that the agent has {@link #AGENT_PROBE} to answer.
     *
     * @throws InstanceStateException {@code VM agent isn't currently running}
     */
    synchronized GuestAgentClient agent(Duration wait) {
        if (closed) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, StatusCode.STOPPED);
        }
        if (agent != null && agent.isConnected()) {
            return agent;
        }
        if (agent != null) {
            agent.close();
            agent = null;
        }
        Instant deadline = runningSince.plus(wait);
        Instant lastTry = Instant.now().plus(AGENT_PROBE);
        if (lastTry.isAfter(deadline)) {
            deadline = lastTry;
        }
        // A guest's agent that is not yet (or, after a restored state, no longer) attached to its port makes QEMU
        // drop the connection at once: try again until the deadline rather than answer "not running" early.
        while (true) {
            if (closed) {
                throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, StatusCode.STOPPED);
            }
            Duration budget = Duration.between(Instant.now(), deadline);
            try {
                agent = GuestAgentClient.connect(run.agent(), budget, threads);
                return agent;
            } catch (IncusException e) {
                if (Duration.between(Instant.now(), deadline).compareTo(AGENT_RETRY) <= 0) {
                    LOG.log(System.Logger.Level.DEBUG, "Agent unreachable: {0}", e.getMessage());
                    throw new InstanceStateException(ErrorTexts.VM_AGENT_OFFLINE, StatusCode.RUNNING);
                }
                LOG.log(System.Logger.Level.DEBUG, "Agent not answering yet ({0}), trying again", e.getMessage());
                try {
                    wait(AGENT_RETRY.toMillis()); // releases the lock, so that close() can end the loop
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new InstanceStateException(ErrorTexts.VM_AGENT_OFFLINE, StatusCode.RUNNING);
                }
            }
        }
    }

    /**
     * Why a command's connection to the guest (agent or SSH) ended before its status came: {@code null} when the
     * driver stops the VM (the stop killed the command), else Incus's {@code Disconnected}, saying whether QEMU is gone
     * ({@link StatusCode#STOPPED}: killed, crashed, powered off) or runs on ({@link StatusCode#RUNNING}: the guest
     * rebooted, or its agent or SSH server died).
     */
    IncusException lostCommand() {
        if (stopping) {
            return null;
        }
        // The socket closes as QEMU exits, a moment before the process is gone.
        boolean dead = process.awaitExit(EXIT_WAIT);
        if (stopping) {
            return null;
        }
        return dead ? new InstanceStateException(COMMAND_LOST_VM_DIED, StatusCode.STOPPED)
                : new InstanceStateException(COMMAND_LOST_GUEST, StatusCode.RUNNING);
    }

    /** The agent if it is connected now (no wait): for optional figures such as the guest's network. */
    synchronized GuestAgentClient connectedAgent() {
        return agent != null && agent.isConnected() ? agent : null;
    }

    /** The guest's SSH endpoint, made by {@code open} on first use. */
    synchronized GuestSsh ssh(java.util.function.Supplier<GuestSsh> open) {
        if (closed) {
            throw new InstanceStateException(ErrorTexts.INSTANCE_NOT_RUNNING, StatusCode.STOPPED);
        }
        if (ssh == null) {
            ssh = open.get();
        }
        return ssh;
    }

    @Override
    public synchronized void close() {
        closed = true;
        notifyAll();
        if (ssh != null) {
            ssh.close();
            ssh = null;
        }
        if (agent != null) {
            agent.close();
            agent = null;
        }
        qmp.close();
    }

    /** The directory of a running VM's sockets and pidfile. */
    record RunDir(Path dir) {
        private static final int SOCKET_PATH_MAX = 100;
        private static final Path SHORT_ROOT = Path.of("/run/incus4j");

        /**
         * {@code runPath}, unless a socket path there would pass the kernel's limit for unix socket paths (108 bytes):
         * then {@code /run/incus4j/<first 16 hex digits of the SHA-256 of runPath>}.
         */
        static RunDir of(Path runPath) {
            if (runPath.resolve("qemu.monitor").toString().getBytes(StandardCharsets.UTF_8).length
                    <= SOCKET_PATH_MAX) {
                return new RunDir(runPath);
            }
            try {
                byte[] h = MessageDigest.getInstance("SHA-256").digest(runPath.toString().getBytes(
                        StandardCharsets.UTF_8));
                return new RunDir(SHORT_ROOT.resolve(HexFormat.of().formatHex(h, 0, 8)));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is required of every Java platform", e);
            }
        }

        Path monitor() {
            return dir.resolve("qemu.monitor");
        }

        Path pidfile() {
            return dir.resolve("qemu.pid");
        }

        Path agent() {
            return dir.resolve("qemu.agent");
        }

        Path console() {
            return dir.resolve("qemu.console");
        }

        /** The host port forwarded to the guest's SSH server (see {@link GuestSsh}). */
        Path sshPort() {
            return dir.resolve(GuestSsh.PORT_FILE);
        }
    }
}
