package io.github.incus4j.qemu;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import net.schmizz.sshj.SSHClient;
import net.schmizz.sshj.connection.channel.direct.Session;
import net.schmizz.sshj.connection.channel.direct.SessionChannel;
import net.schmizz.sshj.connection.channel.direct.Signal;

/**
 * An interactive command run in a VM over SSH (see {@link GuestSsh}) on a pty of the request's size: the terminal's
 * output (errors included) goes to {@code stdout}, {@code stdin} is typed on it and its end is typed as Ctrl+D (a
 * program reading lines takes that as the end of its input; the channel's own EOF does not reach a pty's reader).
 * Resizes are SSH {@code window-change} requests, signals SSH {@code signal} requests (which name only the common
 * signals), the status the server's {@code exit-status}, or {@code 128 + n} for its {@code exit-signal}.
 *
 * <p>SSH passes a command line, not an argv: the command is {@code exec env -i <env> /bin/sh <AgentCmd's wrapper>
 * <cwd> <uid> <gid> <argv>}, each word single-quoted, so that the environment, directory and user are applied exactly
 * as for the agent's commands and the argv reaches the command unparsed. Every {@code exec} keeps the process, so
 * the server's child (which signals reach) is the command itself.
 */
final class SshExec extends GuestCmd {
    private static final byte EOT = 4;
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(5);
    /** Signal numbers of the names the SSH protocol defines (RFC 4254 6.10), as on Linux x86. */
    private static final Map<Integer, Signal> SIGNALS = Map.ofEntries(Map.entry(1, Signal.HUP),
            Map.entry(2, Signal.INT), Map.entry(3, Signal.QUIT), Map.entry(4, Signal.ILL), Map.entry(6, Signal.ABRT),
            Map.entry(8, Signal.FPE), Map.entry(9, Signal.KILL), Map.entry(10, Signal.USR1),
            Map.entry(11, Signal.SEGV), Map.entry(12, Signal.USR2), Map.entry(13, Signal.PIPE),
            Map.entry(14, Signal.ALRM), Map.entry(15, Signal.TERM));

    /** sshj's session, which is also the command and takes window changes (its {@code Command} type does not). */
    private final SessionChannel session;
    private final Session.Command command;
    /** Set by close: output is no longer handed to the caller (it is still read, so that the command never blocks). */
    private volatile boolean released;

    private final Supplier<IncusException> lost;

    private SshExec(SessionChannel session, Session.Command command, Supplier<IncusException> lost) {
        this.session = session;
        this.command = command;
        this.lost = lost;
    }

    /**
     * Starts {@code request} with exactly {@code env} in {@code cwd} over {@code ssh}; pumps run on {@code pumps}.
     *
     * @param lost why the connection went away under the command ({@code null}: the driver stopped the VM)
     */
    static SshExec start(SSHClient ssh, ExecRequest request, Map<String, String> env, String cwd, InputStream stdin,
            OutputStream stdout, Executor pumps, Supplier<IncusException> lost) {
        SessionChannel session = null;
        try {
            session = (SessionChannel) ssh.startSession();
            session.allocatePTY(env.getOrDefault("TERM", "xterm"), request.width(), request.height(), 0, 0,
                    Map.of());
            Session.Command command = session.exec(commandLine(request, env, cwd));
            SshExec cmd = new SshExec(session, command, lost);
            pumps.execute(() -> cmd.drain(stdout));
            if (stdin != null) {
                pumps.execute(() -> cmd.type(stdin));
            }
            return cmd;
        } catch (IOException e) {
            if (session != null) {
                try {
                    session.close();
                } catch (IOException closing) {
                    e.addSuppressed(closing);
                }
            }
            throw new IncusException("Cannot start the command over SSH: " + e.getMessage(), e);
        }
    }

    /** The remote shell's command line: each word single-quoted. */
    static String commandLine(ExecRequest request, Map<String, String> env, String cwd) {
        StringBuilder sb = new StringBuilder("exec env -i");
        env.forEach((k, v) -> sb.append(' ').append(quote(k + "=" + v)));
        sb.append(" /bin/sh");
        for (String a : AgentCmd.wrapperArgs(request, cwd)) {
            sb.append(' ').append(quote(a));
        }
        return sb.toString();
    }

    /** {@code 'word'}, each {@code '} inside written {@code '\''}: a POSIX shell takes it literally. */
    static String quote(String word) {
        return "'" + word.replace("'", "'\\''") + "'";
    }

    /** Copies the terminal to {@code out} until the command ends, then records its status and closes the channel. */
    private void drain(OutputStream out) {
        OutputStream sink = out;
        try (InputStream in = command.getInputStream()) {
            byte[] buf = new byte[32768];
            int n;
            while ((n = in.read(buf)) >= 0) {
                if (sink != null && !released) {
                    try {
                        sink.write(buf, 0, n);
                        sink.flush();
                    } catch (IOException e) {
                        sink = null; // the caller's stream failed: keep reading so that the command can go on
                    }
                }
            }
        } catch (IOException e) {
            // The connection went away (the VM stopped): the status below tells.
        }
        try {
            command.join(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (IOException e) {
            // No close from the server in time: the status is whatever arrived.
        }
        Integer status = status();
        if (status != null) {
            exit.complete(status);
        } else {
            lost(lost); // no status at all: the connection went away under the command
        }
        closeSession();
    }

    /** The status the server sent, or {@code null} when none came. */
    private Integer status() {
        Integer code = command.getExitStatus();
        if (code != null) {
            return code;
        }
        Signal s = command.getExitSignal();
        if (s != null) {
            return SIGNALS.entrySet().stream().filter(e -> e.getValue() == s).mapToInt(e -> Cmd.exitStatusForSignal(
                    e.getKey())).findFirst().orElse(Cmd.exitStatusForSignal(9));
        }
        return null;
    }

    /** Types the caller's input on the terminal, then Ctrl+D. */
    private void type(InputStream in) {
        try {
            OutputStream terminal = command.getOutputStream();
            byte[] buf = new byte[8192];
            int n;
            while (!exit.isDone() && (n = in.read(buf)) >= 0) {
                terminal.write(buf, 0, n);
                terminal.flush();
            }
            if (!exit.isDone()) {
                terminal.write(EOT);
                terminal.flush();
            }
        } catch (IOException e) {
            // The command ended (the channel is closed) or the caller's input failed: nothing more to type.
        }
    }

    private void closeSession() {
        try {
            session.close();
        } catch (IOException e) {
            // Already closed by the server.
        }
    }

    /**
     * Sends an SSH {@code signal} request.
     *
     * @throws InvalidArgumentException for a signal SSH has no name for (the real-time ones, SIGSTOP, ...)
     */
    @Override
    public void signal(int signal) {
        Signal s = SIGNALS.get(signal);
        if (s == null) {
            throw new InvalidArgumentException("Signal " + signal + " cannot be sent over SSH, which names only "
                    + List.copyOf(new java.util.TreeSet<>(SIGNALS.keySet())));
        }
        if (exit.isDone()) {
            return;
        }
        try {
            command.signal(s);
        } catch (IOException e) {
            if (!exit.isDone()) {
                throw new IncusException("Cannot send signal " + signal + " over SSH: " + e.getMessage(), e);
            }
        }
    }

    @Override
    public void windowResize(int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new InvalidArgumentException("Invalid window size: " + width + "x" + height);
        }
        if (exit.isDone()) {
            return;
        }
        try {
            session.changeWindowDimensions(width, height, 0, 0);
        } catch (IOException e) {
            if (!exit.isDone()) {
                throw new IncusException("Cannot resize the terminal over SSH: " + e.getMessage(), e);
            }
        }
    }

    /** Stops handing output to the caller; a command still running goes on, and its channel closes when it ends. */
    @Override
    public void close() {
        released = true;
    }
}
