package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;

/**
 * Starting a command in a running fake instance, as Incus's exec does, once the instance template has built its
 * environment and working directory: the program resolved on {@code PATH} in the instance's files, and a
 * {@link Task} in the guest's process table run on a driver thread; an interactive command gets a terminal that
 * echoes what it reads. A command started while the instance stops is killed at once.
 */
final class FakeExec {
    private FakeExec() {
    }

    /** Starts {@code request} with its environment {@code env} (as the instance template builds it) in {@code cwd}. */
    static Task start(FakeInstance instance, Guest g, ExecRequest request, Map<String, String> env, String cwd,
            InputStream stdin, OutputStream stdout, OutputStream stderr) {
        FakeInstances driver = instance.driver();
        MemSftp fs = new MemSftp(instance.fsView(), cwd, request.user(), request.group());
        Launcher.Program prog = Launcher.resolve(driver.commands(), fs, request.command(), env.get("PATH"));
        Task task = new Task(g, driver.nextPid(), request.command().get(0),
                new FakeProcess.WindowSize(request.width(), request.height()));
        OutputStream out = task.new Out(stdout);
        OutputStream err = request.interactive() ? out : task.new Out(stderr);
        // A terminal echoes what is typed (here, as the command reads it).
        InputStream in = request.interactive() ? new EchoingInput(task.new In(stdin), out) : task.new In(stdin);
        Proc p = new Proc(task, instance, prog.argv(), env, cwd, request.user(), request.group(), task.pid(),
                request.interactive(), in, out, err);
        g.execs.incrementAndGet();
        g.tasks.add(task);
        if (instance.guest() != g) {
            task.kill(Cmd.exitStatusForSignal(9)); // stopped meanwhile
        }
        try {
            driver.execute(() -> task.run(p, prog.handler()));
        } catch (RejectedExecutionException closed) {
            task.kill(Cmd.exitStatusForSignal(9));
            throw new IncusException("The fake driver of " + ErrorTexts.quote(instance.name()) + " was closed",
                    closed);
        }
        return task;
    }
}
