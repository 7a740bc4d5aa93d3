package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.Supplier;

/**
 * A command run in a VM by the QEMU guest agent ({@code guest-exec} with captured output, then
 * {@code guest-exec-status} polled on a driver thread). The agent takes the whole of stdin up front and hands the
 * output back once the command has ended, so stdin is read to its end before the command starts and stdout/stderr
 * reach the caller's streams when it ends (qemu-ga keeps at most 16 MiB of each).
 *
 * <p>The command runs through the guest's {@code /bin/sh}: {@code cd -- "$1"}, then {@code exec "$@"}, or
 * {@code exec nsenter -S uid -G gid "$@"} for another user (busybox): the argv itself is never parsed by a
 * shell and the command replaces the shell, so its pid is the agent's and signals ({@code kill} run through the
 * agent) reach it (see {@link GuestCmd} for the status). A command whose VM the driver stops ends with 137; one whose
 * agent goes away otherwise (QEMU killed, guest rebooted) fails with the error of {@link GuestCmd#lost}.
 */
final class AgentCmd extends GuestCmd {
    /**
     * {@code $1} cwd, {@code $2} uid, {@code $3} gid, then the argv. Another user is entered with busybox's
     * {@code nsenter -S uid -G gid} (no namespace: it only drops the supplementary groups and switches ids, numeric,
     * needing no passwd entry, then execs in place): busybox has neither {@code chpst} nor a uid-changing
     * {@code setpriv}, and its {@code start-stop-daemon -c} wants the uid in {@code /etc/passwd}.
     */
    private static final String WRAPPER = "cd -- \"$1\" || exit 126; u=$2; g=$3; shift 3; "
            + "if [ \"$u\" = 0 ] && [ \"$g\" = 0 ]; then exec \"$@\"; fi; "
            + "exec nsenter -S \"$u\" -G \"$g\" -- \"$@\"";
    private final Supplier<GuestAgentClient> agent;
    private final int pid;
    private final Supplier<IncusException> lost;

    private AgentCmd(Supplier<GuestAgentClient> agent, int pid, Supplier<IncusException> lost) {
        this.agent = agent;
        this.pid = pid;
        this.lost = lost;
    }

    /**
     * Starts {@code request} with exactly {@code env} in {@code cwd}, in the VM whose agent {@code agent} gives.
     *
     * @param lost why the agent went away under the command ({@code null}: the driver stopped the VM)
     */
    static AgentCmd start(Supplier<GuestAgentClient> agent, ExecRequest request, Map<String, String> env, String cwd,
            InputStream stdin, OutputStream stdout, OutputStream stderr, Executor executor,
            Supplier<IncusException> lost) {
        List<String> envList = new ArrayList<>();
        env.forEach((k, v) -> envList.add(k + "=" + v));
        List<String> args = wrapperArgs(request, cwd);
        byte[] input = null;
        if (stdin != null) {
            try {
                input = stdin.readAllBytes();
            } catch (IOException ex) {
                throw new IncusException("Cannot read the command's input: " + ex.getMessage(), ex);
            }
        }
        GuestAgentClient client = agent.get();
        int pid = client.exec("/bin/sh", args, envList, input, true);
        AgentCmd cmd = new AgentCmd(agent, pid, lost);
        executor.execute(() -> cmd.follow(client, stdout, stderr));
        return cmd;
    }

    /** The arguments of {@code /bin/sh} that run {@code request} in {@code cwd} as its user (see {@link #WRAPPER}). */
    static List<String> wrapperArgs(ExecRequest request, String cwd) {
        List<String> args = new ArrayList<>(List.of("-c", WRAPPER, "sh", cwd, Integer.toString(request.user()),
                Integer.toString(request.group())));
        args.addAll(request.command());
        return args;
    }

    /** Polls the command's status until it ends, then writes its output and completes. */
    private void follow(GuestAgentClient client, OutputStream stdout, OutputStream stderr) {
        long sleep = 2;
        try {
            while (true) {
                GuestAgentClient.ExecStatus s;
                try {
                    s = client.execStatus(pid);
                } catch (OperationTimeoutException slow) {
                    if (client.isConnected()) {
                        continue; // a paused guest's agent answers nothing, and the command still runs
                    }
                    throw slow;
                }
                // The agent hands each byte of output out once: pass on whatever a status brings.
                write(stdout, s.out());
                write(stderr, s.err());
                if (s.exited()) {
                    exit.complete(s.signal() != null ? Cmd.exitStatusForSignal(s.signal())
                            : s.exitCode() == null ? -1 : s.exitCode());
                    return;
                }
                Thread.sleep(sleep);
                sleep = Math.min(50, sleep * 2);
            }
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt(); // the driver closes
            exit.completeExceptionally(new IncusException("The driver closed while the command ran", ex));
        } catch (RuntimeException ex) {
            lost(lost); // the agent went away: with the VM, or without it
        }
    }

    private static void write(OutputStream out, byte[] data) {
        if (out == null || data == null || data.length == 0) {
            return;
        }
        try {
            out.write(data);
            out.flush();
        } catch (IOException e) {
            // The caller's stream failed: its output is dropped, as SshExec does; the status still comes.
        }
    }

    /** Runs {@code kill -<signal> <pid>} in the guest through the agent. */
    @Override
    public void signal(int signal) {
        if (exit.isDone()) {
            return;
        }
        agent.get().exec("/bin/sh", List.of("-c", "kill -" + signal + " " + pid), List.of("PATH=" + AbstractInstance.DEFAULT_EXEC_PATH),
                null, false);
    }

    @Override
    public void windowResize(int width, int height) {
        throw new IncusException("The command has no pty: the QEMU guest agent runs commands without a terminal");
    }

    @Override
    public void close() {
        // Nothing is held: the output was handed over when the command ended.
    }
}
