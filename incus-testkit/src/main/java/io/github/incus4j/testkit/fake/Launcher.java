package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.spi.AbstractInstance;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import io.github.incus4j.testkit.fake.MemFs.File;
import io.github.incus4j.testkit.fake.MemFs.Node;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Resolves {@code argv[0]} to a simulated program, as {@link FakeCommands} describes. */
final class Launcher {
    /** Incus's default {@code PATH}, as the instance template sets it. */
    private static final String DEFAULT_PATH = AbstractInstance.DEFAULT_EXEC_PATH;
    private static final int MAX_INTERPRETERS = 4;

    /** A resolved program: its handler and the argv it gets (an interpreter's argv for a script). */
    record Program(FakeCommand handler, List<String> argv) {
    }

    private Launcher() {
    }

    /**
     * Resolves {@code argv} in the instance.
     *
     * @throws InvalidArgumentException {@code Command not found} / {@code Command not executable}
     */
    static Program resolve(FakeCommands commands, MemSftp fs, List<String> argv, String path) {
        return resolve(commands, fs, argv, path, 0);
    }

    private static Program resolve(FakeCommands commands, MemSftp fs, List<String> argv, String path, int depth) {
        String a0 = argv.get(0);
        if (a0.isEmpty()) {
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_FOUND);
        }
        if (!a0.contains("/")) {
            FakeCommand h = commands.get(a0);
            if (h != null) {
                return new Program(h, argv);
            }
            for (String dir : (path == null ? DEFAULT_PATH : path).split(":")) {
                if (dir.isEmpty()) {
                    continue;
                }
                String candidate = (dir.endsWith("/") ? dir : dir + "/") + a0;
                Node n = fs.node(candidate, true);
                if (n instanceof File f && f.executable()) {
                    return script(commands, fs, f, candidate, argv, path, depth);
                }
            }
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_FOUND);
        }
        Node n = fs.node(a0, true);
        if (n == null) {
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_FOUND);
        }
        if (n instanceof Dir || !((File) n).executable()) {
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_EXECUTABLE);
        }
        FakeCommand h = commands.get(a0.substring(a0.lastIndexOf('/') + 1));
        if (h != null) {
            return new Program(h, argv);
        }
        return script(commands, fs, (File) n, a0, argv, path, depth);
    }

    /** A {@code #!} script runs through its interpreter; any other unknown executable cannot be simulated. */
    private static Program script(FakeCommands commands, MemSftp fs, File f, String file, List<String> argv,
            String path, int depth) {
        byte[] d = f.data;
        if (depth >= MAX_INTERPRETERS || d.length < 3 || d[0] != '#' || d[1] != '!') {
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_EXECUTABLE);
        }
        int nl = 2;
        while (nl < d.length && d[nl] != '\n') {
            nl++;
        }
        String line = new String(d, 2, nl - 2, StandardCharsets.UTF_8).trim();
        if (line.isEmpty()) {
            throw new InvalidArgumentException(ErrorTexts.COMMAND_NOT_EXECUTABLE);
        }
        int sp = line.indexOf(' ');
        List<String> out = new ArrayList<>();
        out.add(sp < 0 ? line : line.substring(0, sp));
        if (sp >= 0 && !line.substring(sp + 1).isBlank()) {
            out.add(line.substring(sp + 1).trim());
        }
        out.add(file);
        out.addAll(argv.subList(1, argv.size()));
        return resolve(commands, fs, out, path, depth + 1);
    }

    /** Runs {@code p}'s argv; not found / not executable are reported on stderr as a shell does (127 / 126). */
    static int runOrReport(Proc p) throws Exception {
        Program prog;
        try {
            prog = resolve(p.instance.commands(), p.fs(), p.argv(), p.env().get("PATH"));
        } catch (InvalidArgumentException e) {
            boolean notFound = ErrorTexts.COMMAND_NOT_FOUND.equals(e.getMessage());
            p.printErr("sh: " + p.argv().get(0) + (notFound ? ": not found\n" : ": Permission denied\n"));
            return notFound ? 127 : 126;
        }
        Proc run = prog.argv().equals(p.argv()) ? p
                : p.child(prog.argv(), p.env(), p.cwd(), p.stdin(), p.stdout(), p.stderr());
        return prog.handler().run(run) & 0xff;
    }
}
