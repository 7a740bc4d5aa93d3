package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.file.SftpClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/** {@link FakeProcess} of one command; the shell derives one per command it runs, sharing the {@link Task}. */
final class Proc implements FakeProcess {
    final Task task;
    final FakeInstance instance;
    private final List<String> argv;
    private final Map<String, String> env;
    private final String cwd;
    private final int uid;
    private final int gid;
    private final int pid;
    private final boolean interactive;
    private final InputStream in;
    private final OutputStream out;
    private final OutputStream err;
    private MemSftp files;

    Proc(Task task, FakeInstance instance, List<String> argv, Map<String, String> env, String cwd, int uid, int gid,
            int pid, boolean interactive, InputStream in, OutputStream out, OutputStream err) {
        this.task = task;
        this.instance = instance;
        this.argv = List.copyOf(argv);
        this.env = Map.copyOf(env);
        this.cwd = cwd;
        this.uid = uid;
        this.gid = gid;
        this.pid = pid;
        this.interactive = interactive;
        this.in = in;
        this.out = out;
        this.err = err;
    }

    /** A process for another command in the same task (what a shell forks), with its own pid. */
    Proc child(List<String> childArgv, Map<String, String> childEnv, String childCwd, InputStream childIn,
            OutputStream childOut, OutputStream childErr) {
        return new Proc(task, instance, childArgv, childEnv, childCwd, uid, gid, instance.nextPid(), interactive,
                childIn, childOut, childErr);
    }

    @Override
    public List<String> argv() {
        return argv;
    }

    @Override
    public Map<String, String> env() {
        return env;
    }

    @Override
    public String cwd() {
        return cwd;
    }

    @Override
    public int uid() {
        return uid;
    }

    @Override
    public int gid() {
        return gid;
    }

    @Override
    public int pid() {
        return pid;
    }

    @Override
    public String instanceName() {
        return instance.name();
    }

    @Override
    public InputStream stdin() {
        return in;
    }

    @Override
    public OutputStream stdout() {
        return out;
    }

    @Override
    public OutputStream stderr() {
        return err;
    }

    @Override
    public SftpClient files() {
        return fs();
    }

    /** The instance's files, relative to the working directory. */
    synchronized MemSftp fs() {
        if (files == null) {
            files = new MemSftp(instance.fsView(), cwd, uid, gid);
        }
        return files;
    }

    @Override
    public boolean interactive() {
        return interactive;
    }

    @Override
    public WindowSize windowSize() {
        return task.window();
    }

    @Override
    public OptionalInt awaitSignal(Duration timeout) throws InterruptedException {
        return task.awaitSignal(timeout);
    }

    @Override
    public OptionalInt lastSignal() {
        return task.lastSignal();
    }

    @Override
    public int run(List<String> childArgv) throws Exception {
        return Launcher.runOrReport(child(childArgv, env, cwd, in, out, err));
    }

    @Override
    public void print(String text) {
        write(out, text);
    }

    @Override
    public void printErr(String text) {
        write(err, text);
    }

    private static void write(OutputStream s, String text) {
        try {
            s.write(MemFs.utf8(text));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The program name as the shell prints it in messages. */
    String name() {
        String a0 = argv.get(0);
        return a0.substring(a0.lastIndexOf('/') + 1);
    }

    /** A usage error: message on stderr, status 1 (busybox prints its usage there). */
    int fail(String message) {
        printErr(name() + ": " + message + "\n");
        return 1;
    }
}
