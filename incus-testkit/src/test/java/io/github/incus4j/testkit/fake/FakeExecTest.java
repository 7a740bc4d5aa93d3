package io.github.incus4j.testkit.fake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class FakeExecTest extends FakeFixture {

    @Test
    void builtinsBehaveLikeBusybox() {
        FakeInstance c = busybox("c1");
        c.start(false);
        assertEquals(new Result(0, "hello world\n", ""), run(c, "echo", "hello", "world"));
        assertEquals("no newline", run(c, "echo", "-n", "no newline").out());
        assertEquals("a\tb\n", run(c, "echo", "-e", "a\\tb").out());
        assertEquals(1, run(c, "false").status());
        assertEquals("/root\n", run(c, "pwd").out());
        assertEquals("/tmp\n", run(c, ExecRequest.builder("pwd").cwd("/tmp").build(), null).out());
        assertEquals("uid=0(root) gid=0(root) groups=0(root)\n", run(c, "id").out());
        assertEquals("1000\n", run(c, ExecRequest.builder("id", "-u").user(1000).group(1000).build(), null).out());
        assertEquals("uid=1000 gid=1000 groups=1000\n",
                run(c, ExecRequest.builder("id").user(1000).group(1000).build(), null).out());
        assertEquals("root\n", run(c, "id", "-un").out());
        assertEquals("c1\n", run(c, "hostname").out());
        assertEquals("Linux\n", run(c, "uname").out());
        assertTrue(run(c, "uname", "-a").out().startsWith("Linux c1 "));
        assertEquals("piped in", run(c, ExecRequest.of("cat"), "piped in").out());
        assertEquals("root:x:0:0:root:/root:/bin/sh\n", run(c, "cat", "/etc/passwd").out());
        Result missing = run(c, "cat", "/nope");
        assertEquals(1, missing.status());
        assertEquals("cat: can't open '/nope': No such file or directory\n", missing.err());
        assertEquals(0, run(c, "mkdir", "-p", "/srv/a/b").status());
        assertEquals(1, run(c, "mkdir", "/srv/a").status());
        assertEquals(0, run(c, "touch", "/srv/a/b/f").status());
        assertEquals("b\n", run(c, "ls", "/srv/a").out());
        assertTrue(run(c, "ls", "-l", "/srv/a/b").out().startsWith("-rw-r--r--    1 root     root"));
        assertEquals("ls: /zz: No such file or directory\n", run(c, "ls", "/zz").err());
        assertEquals("rm: '/srv/a' is a directory\n", run(c, "rm", "/srv/a").err());
        assertEquals(0, run(c, "rm", "-rf", "/srv/a").status());
        assertEquals(1, run(c, "ls", "/srv/a").status());
        assertEquals(0, run(c, "sleep", "0.01").status());
        assertEquals("hi\n", run(c, "/bin/busybox", "echo", "hi").out());
    }

    @Test
    void environmentFollowsIncus() {
        Map<String, String> config = Map.of("environment.FOO", "from-config", "environment.BAR", "config");
        FakeInstance c = (FakeInstance) incus.create(InstanceArgs.builder("c1").config(config).build(),
                InstanceSource.none());
        c.start(false);
        String env = run(c, ExecRequest.builder("env").env("BAR", "request").build(), null).out();
        assertEquals("BAR=request\nFOO=from-config\nHOME=/root\nLANG=C.UTF-8\n"
                + "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nUSER=root\n", env);
        String user = run(c, ExecRequest.builder("env").user(1000).build(), null).out();
        assertFalse(user.contains("HOME="), user);
        assertEquals("/\n", run(c, ExecRequest.builder("pwd").user(1000).build(), null).out());
        assertEquals("X=1\n", run(c, "env", "-i", "X=1").out());
    }

    @Test
    void shellRunsScripts() {
        FakeInstance c = busybox("c1");
        c.start(false);
        assertEquals(3, sh(c, "exit 3").status());
        assertEquals("a\nb\n", sh(c, "echo a; echo b").out());
        assertEquals("yes\n", sh(c, "true && echo yes || echo no").out());
        assertEquals("no\n", sh(c, "false && echo yes || echo no").out());
        assertEquals("x y\n", sh(c, "V='x y'; echo \"$V\"").out());
        assertEquals("1\n", sh(c, "false; echo $?").out());
        assertEquals("hello\nworld\n", sh(c, "echo hello > /tmp/f && echo world >> /tmp/f && cat /tmp/f").out());
        assertEquals("hello\nworld\n", run(c, "cat", "/tmp/f").out());
        assertEquals("HELLO from env\n", run(c, ExecRequest.builder("sh", "-c", "echo $GREETING from env")
                .env("GREETING", "HELLO").build(), null).out());
        assertEquals("/tmp\n", sh(c, "cd /tmp && pwd").out());
        assertEquals("err\n", sh(c, "echo err >&2").err());
        assertEquals("in\n", sh(c, "echo in > /tmp/g; cat < /tmp/g").out());
        assertEquals("piped\n", sh(c, "echo piped | cat").out());
        Result notFound = sh(c, "nosuchcmd");
        assertEquals(127, notFound.status());
        assertEquals("sh: nosuchcmd: not found\n", notFound.err());
        assertEquals(2, sh(c, "echo 'open").status());
        assertEquals("one two\n", run(c, "sh", "-c", "echo $1 $2", "sh", "one", "two").out());
        assertEquals(new Result(1, "a\nb\n", ""), run(c, "sh", "-e", "-c", "echo a; false || echo b; false; echo c"));
        assertEquals(0, run(c, ExecRequest.of("sh"), "X=5\n[ 1 ] 2>/dev/null; echo $X > /tmp/x\n").status());
        assertEquals("5\n", run(c, "cat", "/tmp/x").out());
    }

    @Test
    void scriptsRunThroughTheirInterpreter() {
        FakeInstance c = busybox("c1");
        c.start(false);
        try (var files = c.fileSftp()) {
            files.write("/usr/bin/hello", "#!/bin/sh\necho hello from $0 $1\n".getBytes(StandardCharsets.UTF_8));
            files.chmod("/usr/bin/hello", 0755);
            files.write("/usr/bin/data", new byte[] {1, 2, 3});
            files.chmod("/usr/bin/data", 0755);
        }
        assertEquals("hello from /usr/bin/hello you\n", run(c, "hello", "you").out());
        assertEquals(ErrorTexts.COMMAND_NOT_EXECUTABLE,
                assertThrows(InvalidArgumentException.class, () -> run(c, "/usr/bin/data")).getMessage());
    }

    @Test
    void commandResolutionUsesIncusTexts() {
        FakeInstance none = container("c1");
        none.start(false);
        assertEquals(ErrorTexts.COMMAND_NOT_FOUND,
                assertThrows(InvalidArgumentException.class, () -> run(none, "/bin/sh", "-c", "true")).getMessage());
        assertEquals(0, run(none, "sh", "-c", "true").status());
        assertEquals(ErrorTexts.COMMAND_NOT_FOUND,
                assertThrows(InvalidArgumentException.class, () -> run(none, "no-such-program")).getMessage());
        assertEquals(ErrorTexts.COMMAND_NOT_EXECUTABLE,
                assertThrows(InvalidArgumentException.class, () -> run(none, "/etc/passwd")).getMessage());
        assertEquals(ErrorTexts.COMMAND_NOT_EXECUTABLE,
                assertThrows(InvalidArgumentException.class, () -> run(none, "/tmp")).getMessage());
        FakeInstance bb = busybox("c2");
        bb.start(false);
        assertEquals("ok\n", run(bb, "/bin/sh", "-c", "echo ok").out());
        assertEquals(ErrorTexts.INSTANCE_NOT_RUNNING, assertThrows(io.github.incus4j.api.InstanceStateException.class,
                () -> run(container("c3"), "true")).getMessage());
    }

    @Test
    void registeredCommandsSeeTheirProcess() {
        FakeInstance c = busybox("c1");
        c.start(false);
        CompletableFuture<FakeProcess.WindowSize> resized = new CompletableFuture<>();
        incus.commands().register("apt-get", p -> {
            p.print(p.argv() + " " + p.cwd() + " " + p.uid() + ":" + p.gid() + " " + p.env().get("DEBIAN_FRONTEND")
                    + " " + p.instanceName() + "\n");
            p.files().write("/var/log/apt.log", "installed\n".getBytes(StandardCharsets.UTF_8));
            if (p.interactive()) {
                while (p.windowSize().width() != 120) {
                    Thread.sleep(2);
                }
                resized.complete(p.windowSize());
            }
            return 7;
        });
        Result r = run(c, ExecRequest.builder("apt-get", "install", "-y").env("DEBIAN_FRONTEND", "noninteractive")
                .cwd("/tmp").user(5).group(6).build(), null);
        assertEquals(7, r.status());
        assertEquals("[apt-get, install, -y] /tmp 5:6 noninteractive c1\n", r.out());
        try (var files = c.fileSftp()) {
            assertEquals(5, files.stat("/var/log/apt.log").uid());
        }
        assertEquals("installed\n", sh(c, "cat /var/log/apt.log").out());

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Cmd cmd = c.exec(ExecRequest.builder("apt-get").interactive(true).window(80, 24).build(), null, out, null);
        cmd.windowResize(120, 40);
        assertEquals(7, cmd.waitFor(WAIT));
        assertEquals(new FakeProcess.WindowSize(120, 40), resized.join());
        assertTrue(incus.commands().names().contains("apt-get"));
        incus.commands().unregister("apt-get");
        assertThrows(InvalidArgumentException.class, () -> run(c, "apt-get"));
        assertThrows(InvalidArgumentException.class, () -> incus.commands().register("/bin/x", p -> 0));
        incus.commands().reset();
        assertTrue(incus.commands().find("sh").isPresent());
    }

    @Test
    void handlerFailuresEndWithStatusOne() {
        FakeInstance c = container("c1");
        c.start(false);
        incus.commands().register("broken", p -> {
            throw new IllegalStateException("simulated bug");
        });
        Result r = run(c, "broken");
        assertEquals(1, r.status());
        assertTrue(r.err().contains("simulated bug"), r.err());
        incus.commands().register("big", p -> 300);
        assertEquals(44, run(c, "big").status());
    }

    @Test
    void signalsKillOrAreHandled() throws Exception {
        FakeInstance c = container("c1");
        c.start(false);
        Cmd sleep = c.exec(ExecRequest.of("sleep", "30"), null, null, null);
        assertThrows(OperationTimeoutException.class, () -> sleep.waitFor(Duration.ofMillis(20)));
        assertTrue(sleep.exitCode().isEmpty());
        assertEquals(1, c.runningCommands());
        sleep.signal(15);
        assertEquals(143, sleep.waitFor(WAIT));
        assertEquals(OptionalInt.of(143), sleep.exitCode());

        CountDownLatch trapping = new CountDownLatch(1);
        incus.commands().register("daemon", p -> {
            trapping.countDown();
            while (true) {
                OptionalInt s = p.awaitSignal(Duration.ofSeconds(5));
                if (s.isPresent() && s.getAsInt() == 15) {
                    p.print("clean exit\n");
                    return 0;
                }
                if (s.isPresent()) {
                    p.print("got " + s.getAsInt() + "\n");
                }
            }
        });
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Cmd d = c.exec(ExecRequest.of("daemon"), null, out, null);
        assertTrue(trapping.await(5, TimeUnit.SECONDS));
        Thread.sleep(20);
        d.signal(1);
        d.signal(15);
        assertEquals(0, d.waitFor(WAIT));
        assertEquals("got 1\nclean exit\n", out.toString(StandardCharsets.UTF_8));

        Cmd hard = c.exec(ExecRequest.of("daemon"), null, null, null);
        hard.signal(9);
        assertEquals(137, hard.waitFor(WAIT));
        assertThrows(InvalidArgumentException.class, () -> hard.signal(0));

        Cmd stopped = c.exec(ExecRequest.of("sleep", "30"), null, null, null);
        c.stop(false);
        assertEquals(137, stopped.waitFor(WAIT));
    }

    @Test
    void frozenInstancesBlockOutputUntilThawed() throws Exception {
        FakeInstance c = container("c1");
        c.start(false);
        PipedInputStream stdin = new PipedInputStream();
        PipedOutputStream feed = new PipedOutputStream(stdin);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Cmd cat = c.exec(ExecRequest.of("cat"), stdin, out, null);
        feed.write("before\n".getBytes(StandardCharsets.UTF_8));
        feed.flush();
        waitFor(() -> out.toString(StandardCharsets.UTF_8).equals("before\n"));
        c.freeze();
        feed.write("during\n".getBytes(StandardCharsets.UTF_8));
        feed.flush();
        Thread.sleep(50);
        assertEquals("before\n", out.toString(StandardCharsets.UTF_8));
        c.unfreeze();
        feed.close();
        assertEquals(0, cat.waitFor(WAIT));
        assertEquals("before\nduring\n", out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void largeOutputDoesNotDeadlock() throws Exception {
        FakeInstance c = container("c1");
        c.start(false);
        byte[] chunk = new byte[64 * 1024];
        incus.commands().register("flood", p -> {
            for (int i = 0; i < 64; i++) {
                p.stdout().write(chunk);
                p.stderr().write(chunk, 0, 16);
            }
            return 0;
        });
        // A reader slower than the writer, through a small pipe: the command blocks on it, never deadlocks.
        PipedInputStream in = new PipedInputStream(4096);
        OutputStream out = new PipedOutputStream(in);
        Cmd cmd = c.exec(ExecRequest.of("flood"), null, out, OutputStream.nullOutputStream());
        byte[] buf = new byte[8192];
        long total = 0;
        while (total < 64L * chunk.length) {
            total += in.read(buf);
        }
        assertEquals(0, cmd.waitFor(WAIT));
        assertEquals(64L * chunk.length, total);
    }

    private static void waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "condition not met in time");
            Thread.sleep(2);
        }
    }

    static List<String> argv(String... a) {
        return List.of(a);
    }
}
