package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import io.github.incus4j.testkit.fake.MemFs.Node;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A tiny POSIX-like shell, the fake's {@code sh}: simple commands with {@code NAME=value} prefixes, single and double
 * quotes, backslash escapes, {@code $VAR ${VAR} $? $$ $# $0..$9 $@ $*} and {@code ~} expansion with field
 * splitting, {@code ;} and newlines, {@code &&}, {@code ||}, pipelines (run one stage after the other, output
 * buffered), redirections {@code > >> < 2> 2>> >&2 2>&1} (to files, {@code /dev/console} and {@code /dev/null}),
 * comments, and the built-ins {@code exit cd export unset :}.
 * Commands are resolved as {@code exec} resolves them. Not supported: control structures ({@code if}, loops),
 * functions, subshells, command substitution, globbing, background jobs ({@code &} runs in the foreground).
 */
final class Shell {
    /** Ends the script: {@code exit}, or a kill. */
    private static final class Exit extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Exit() {
            super(null, null, false, false);
        }
    }

    private static final class SyntaxError extends Exception {
        private static final long serialVersionUID = 1L;

        SyntaxError(String message) {
            super(message);
        }
    }

    // ---- parsed form ----------------------------------------------------------------------------------------------

    private enum SegKind { LIT, QLIT, VAR, QVAR }

    private record Seg(SegKind kind, String text) {
    }

    private record Word(List<Seg> segs) {
    }

    private record Redir(int fd, String op, Word target, int dupFd) {
    }

    private record Command(List<Word> words, List<Redir> redirs) {
    }

    /** A pipeline and the operator linking it to the previous one: {@code ;}, {@code &&} or {@code ||}. */
    private record Item(String connector, List<Command> pipeline) {
    }

    private final Proc proc;
    private final Map<String, String> vars;
    private final List<String> params;
    private final boolean errexit;
    private String cwd;
    private int status;

    private Shell(Proc proc, List<String> params, boolean errexit) {
        this.proc = proc;
        this.vars = new HashMap<>(proc.env());
        this.params = params;
        this.errexit = errexit;
        this.cwd = proc.cwd();
    }

    /** {@code sh [-e] -c script [name [args]]}, {@code sh [-e] file [args]}, or {@code sh} reading stdin. */
    static int main(FakeProcess fp) throws Exception {
        Proc p = (Proc) fp;
        List<String> args = p.argv().subList(1, p.argv().size());
        boolean errexit = false;
        String script = null;
        int i = 0;
        while (i < args.size() && args.get(i).startsWith("-") && args.get(i).length() > 1) {
            String opt = args.get(i++);
            for (char c : opt.substring(1).toCharArray()) {
                if (c == 'e') {
                    errexit = true;
                } else if (c == 'c') {
                    if (i >= args.size()) {
                        return p.fail("-c requires an argument") + 1;
                    }
                    script = args.get(i++);
                } else if (c != 's' && c != 'x' && c != 'u') {
                    return p.fail("illegal option -" + c) + 1;
                }
            }
        }
        List<String> params = new ArrayList<>();
        if (script != null) {
            params.add(i < args.size() ? args.get(i++) : "sh");
        } else if (i < args.size()) {
            String file = args.get(i++);
            Node n = p.fs().node(file, true);
            if (!(n instanceof MemFs.File f)) {
                p.printErr("sh: can't open '" + file + "': No such file or directory\n");
                return 2;
            }
            script = new String(f.data, StandardCharsets.UTF_8);
            params.add(file);
        } else {
            script = new String(p.stdin().readAllBytes(), StandardCharsets.UTF_8);
            params.add("sh");
        }
        params.addAll(args.subList(i, args.size()));
        return new Shell(p, params, errexit).run(script);
    }

    private int run(String script) throws Exception {
        List<Item> items;
        try {
            items = parse(script);
        } catch (SyntaxError e) {
            proc.printErr("sh: syntax error: " + e.getMessage() + "\n");
            return 2;
        }
        try {
            for (int i = 0; i < items.size(); i++) {
                Item item = items.get(i);
                if (item.connector.equals("&&") && status != 0 || item.connector.equals("||") && status == 0) {
                    continue;
                }
                status = pipeline(item.pipeline);
                if (proc.task.dead()) {
                    throw new Exit();
                }
                // set -e ignores failures inside an && / || list, except of its last command.
                boolean endOfList = i + 1 == items.size() || items.get(i + 1).connector.equals(";");
                if (errexit && status != 0 && endOfList) {
                    throw new Exit();
                }
            }
        } catch (Exit e) {
            // exit, errexit or a kill: the status stands
        }
        return status;
    }

    // ---- execution ------------------------------------------------------------------------------------------------

    private int pipeline(List<Command> stages) throws Exception {
        InputStream in = proc.stdin();
        int last = 0;
        for (int i = 0; i < stages.size(); i++) {
            boolean end = i == stages.size() - 1;
            ByteArrayOutputStream buf = end ? null : new ByteArrayOutputStream();
            last = command(stages.get(i), in, end ? proc.stdout() : buf);
            if (!end) {
                in = new ByteArrayInputStream(buf.toByteArray());
            }
        }
        return last;
    }

    private int command(Command c, InputStream in, OutputStream out) throws Exception {
        Map<String, String> assignments = new HashMap<>();
        List<String> argv = new ArrayList<>();
        for (Word w : c.words) {
            String name = argv.isEmpty() ? assignmentName(w) : null;
            if (name != null) {
                assignments.put(name, String.join(" ", expand(w)).substring(name.length() + 1));
            } else {
                argv.addAll(expand(w));
            }
        }
        OutputStream err = proc.stderr();
        List<Sink> sinks = new ArrayList<>();
        try {
            for (Redir r : c.redirs) {
                if (r.op.equals(">&")) {
                    OutputStream target = r.dupFd == 2 ? err : r.dupFd == 1 ? out : null;
                    if (target == null) {
                        proc.printErr("sh: " + r.dupFd + ": bad file descriptor\n");
                        return 1;
                    }
                    if (r.fd == 2) {
                        err = target;
                    } else {
                        out = target;
                    }
                    continue;
                }
                String path = String.join(" ", expand(r.target));
                if (r.op.equals("<")) {
                    Node n = fs().node(path, true);
                    if (!(n instanceof MemFs.File f)) {
                        proc.printErr("sh: can't open '" + path + "': No such file or directory\n");
                        return 1;
                    }
                    in = new ByteArrayInputStream(f.data);
                    continue;
                }
                OutputStream device = device(path);
                if (device != null) {
                    if (r.fd == 2) {
                        err = device;
                    } else {
                        out = device;
                    }
                    continue;
                }
                Sink s;
                try {
                    s = new Sink(path, r.op.equals(">>"));
                } catch (IncusException e) {
                    proc.printErr("sh: can't create " + path + ": nonexistent directory\n");
                    return 1;
                }
                sinks.add(s);
                if (r.fd == 2) {
                    err = s;
                } else {
                    out = s;
                }
            }
            if (argv.isEmpty()) {
                vars.putAll(assignments);
                return 0;
            }
            switch (argv.get(0)) {
                case "exit":
                    return exit(argv);
                case "cd":
                    return cd(argv);
                case "export":
                    for (String a : argv.subList(1, argv.size())) {
                        int eq = a.indexOf('=');
                        if (eq > 0) {
                            vars.put(a.substring(0, eq), a.substring(eq + 1));
                        }
                    }
                    return 0;
                case "unset":
                    argv.subList(1, argv.size()).forEach(vars::remove);
                    return 0;
                case ":":
                    return 0;
                default:
                    Map<String, String> env = new HashMap<>(vars);
                    env.putAll(assignments);
                    return Launcher.runOrReport(proc.child(argv, env, cwd, in, out, err));
            }
        } finally {
            for (Sink s : sinks) {
                s.close();
            }
        }
    }

    private int exit(List<String> argv) {
        if (argv.size() > 1) {
            try {
                status = Integer.parseInt(argv.get(1)) & 0xff;
            } catch (NumberFormatException e) {
                proc.printErr("sh: exit: Illegal number: " + argv.get(1) + "\n");
                status = 2;
            }
        }
        throw new Exit();
    }

    private int cd(List<String> argv) {
        String target = argv.size() > 1 ? argv.get(1) : vars.getOrDefault("HOME", "/");
        try {
            Dir root = proc.instance.fsView().get();
            List<String> canonical = MemFs.resolve(root, cwd, target, true);
            if (MemFs.at(root, canonical) instanceof Dir) {
                cwd = "/" + String.join("/", canonical);
                vars.put("PWD", cwd);
                return 0;
            }
        } catch (IncusException e) {
            // reported below
        }
        proc.printErr("sh: cd: can't cd to " + target + ": No such file or directory\n");
        return 2;
    }

    private MemSftp fs() {
        return new MemSftp(proc.instance.fsView(), cwd, proc.uid(), proc.gid());
    }

    /** The character devices a redirection can name: {@code /dev/console} (the instance's console), {@code /dev/null}. */
    private OutputStream device(String path) {
        String canonical = "/" + String.join("/", MemFs.split(cwd, path));
        switch (canonical) {
            case "/dev/console":
                return proc.instance.console().terminal();
            case "/dev/null":
                return OutputStream.nullOutputStream();
            default:
                return null;
        }
    }

    /** A redirection target: truncated (or not, for {@code >>}) at once, content written on close. */
    private final class Sink extends OutputStream {
        private final MemSftp files = fs();
        private final String path;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private boolean closed;

        Sink(String path, boolean append) {
            this.path = path;
            files.writeFile(path, new byte[0], 0644, append);
        }

        @Override
        public void write(int b) throws IOException {
            proc.task.enter();
            buf.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            proc.task.enter();
            buf.write(b, off, len);
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                files.writeFile(path, buf.toByteArray(), 0644, true);
            }
        }
    }

    // ---- expansion ----------------------------------------------------------------------------------------------

    private static String assignmentName(Word w) {
        if (w.segs.isEmpty() || w.segs.get(0).kind != SegKind.LIT) {
            return null;
        }
        String t = w.segs.get(0).text;
        int eq = t.indexOf('=');
        if (eq <= 0) {
            return null;
        }
        String name = t.substring(0, eq);
        return name.matches("[A-Za-z_][A-Za-z0-9_]*") ? name : null;
    }

    private List<String> expand(Word w) {
        List<String> fields = new ArrayList<>();
        StringBuilder cur = null;
        for (Seg s : w.segs) {
            switch (s.kind) {
                case LIT:
                case QLIT:
                    cur = cur == null ? new StringBuilder() : cur;
                    cur.append(s.text);
                    break;
                case QVAR:
                    cur = cur == null ? new StringBuilder() : cur;
                    cur.append(value(s.text));
                    break;
                default:
                    String v = value(s.text);
                    if (v.isEmpty()) {
                        break;
                    }
                    String[] pieces = v.trim().split("[ \t\n]+");
                    if (Character.isWhitespace(v.charAt(0)) && cur != null) {
                        fields.add(cur.toString());
                        cur = null;
                    }
                    for (int i = 0; i < pieces.length; i++) {
                        if (pieces[i].isEmpty()) {
                            continue;
                        }
                        if (i > 0 && cur != null) {
                            fields.add(cur.toString());
                            cur = null;
                        }
                        cur = cur == null ? new StringBuilder() : cur;
                        cur.append(pieces[i]);
                    }
                    if (Character.isWhitespace(v.charAt(v.length() - 1)) && cur != null) {
                        fields.add(cur.toString());
                        cur = null;
                    }
            }
        }
        if (cur != null) {
            fields.add(cur.toString());
        }
        return fields;
    }

    private String value(String name) {
        switch (name) {
            case "?":
                return Integer.toString(status);
            case "$":
                return Integer.toString(proc.task.pid());
            case "#":
                return Integer.toString(params.size() - 1);
            case "@":
            case "*":
                return String.join(" ", params.subList(1, params.size()));
            default:
                if (name.length() == 1 && Character.isDigit(name.charAt(0))) {
                    int i = name.charAt(0) - '0';
                    return i < params.size() ? params.get(i) : "";
                }
                return vars.getOrDefault(name, "");
        }
    }

    // ---- parsing ------------------------------------------------------------------------------------------------

    private static List<Item> parse(String s) throws SyntaxError {
        List<Item> items = new ArrayList<>();
        List<Command> pipeline = new ArrayList<>();
        List<Word> words = new ArrayList<>();
        List<Redir> redirs = new ArrayList<>();
        String connector = ";";
        boolean pipePending = false;
        int i = 0;
        int n = s.length();
        while (true) {
            while (i < n && (s.charAt(i) == ' ' || s.charAt(i) == '\t')) {
                i++;
            }
            if (i >= n) {
                if (!words.isEmpty() || !redirs.isEmpty()) {
                    pipeline.add(new Command(List.copyOf(words), List.copyOf(redirs)));
                    pipePending = false;
                }
                if (pipePending || pipeline.isEmpty() && !connector.equals(";")) {
                    throw new SyntaxError("unexpected end of file");
                }
                if (!pipeline.isEmpty()) {
                    items.add(new Item(connector, List.copyOf(pipeline)));
                }
                return items;
            }
            char c = s.charAt(i);
            if (c == '#') {
                while (i < n && s.charAt(i) != '\n') {
                    i++;
                }
                continue;
            }
            if (c == '\n' || c == ';' || c == '&' || c == '|') {
                String op;
                if (c == '&' && i + 1 < n && s.charAt(i + 1) == '&') {
                    op = "&&";
                } else if (c == '|' && i + 1 < n && s.charAt(i + 1) == '|') {
                    op = "||";
                } else {
                    op = c == '|' ? "|" : ";";
                }
                i += op.length();
                boolean hadCommand = !words.isEmpty() || !redirs.isEmpty();
                if (hadCommand) {
                    pipeline.add(new Command(List.copyOf(words), List.copyOf(redirs)));
                    words.clear();
                    redirs.clear();
                    pipePending = false;
                }
                if (op.equals("|")) {
                    if (!hadCommand) {
                        throw new SyntaxError("unexpected \"|\"");
                    }
                    pipePending = true;
                    continue;
                }
                if (pipePending) {
                    if (c == '\n') {
                        continue;
                    }
                    throw new SyntaxError("unexpected \"" + op + "\"");
                }
                if (pipeline.isEmpty()) {
                    if (op.length() == 2) {
                        throw new SyntaxError("unexpected \"" + op + "\"");
                    }
                    continue;
                }
                items.add(new Item(connector, List.copyOf(pipeline)));
                pipeline.clear();
                connector = op;
                continue;
            }
            int fd = -1;
            if (Character.isDigit(c) && i + 1 < n && (s.charAt(i + 1) == '>' || s.charAt(i + 1) == '<')) {
                fd = c - '0';
                i++;
                c = s.charAt(i);
            }
            if (c == '>' || c == '<') {
                String rop = c == '<' ? "<" : i + 1 < n && s.charAt(i + 1) == '>' ? ">>"
                        : i + 1 < n && s.charAt(i + 1) == '&' ? ">&" : ">";
                i += rop.length();
                int target = fd >= 0 ? fd : c == '<' ? 0 : 1;
                if (rop.equals(">&")) {
                    if (i >= n || !Character.isDigit(s.charAt(i))) {
                        throw new SyntaxError("bad fd after >&");
                    }
                    redirs.add(new Redir(target, rop, null, s.charAt(i++) - '0'));
                    continue;
                }
                while (i < n && (s.charAt(i) == ' ' || s.charAt(i) == '\t')) {
                    i++;
                }
                int[] pos = {i};
                Word w = word(s, pos);
                if (w.segs.isEmpty()) {
                    throw new SyntaxError("missing redirection target");
                }
                i = pos[0];
                redirs.add(new Redir(target, rop, w, -1));
                continue;
            }
            int[] pos = {i};
            words.add(word(s, pos));
            i = pos[0];
        }
    }

    /** Reads one word at {@code pos[0]}, leaving {@code pos[0]} after it. */
    private static Word word(String s, int[] pos) throws SyntaxError {
        List<Seg> segs = new ArrayList<>();
        StringBuilder lit = new StringBuilder();
        int i = pos[0];
        int n = s.length();
        if (i < n && s.charAt(i) == '~' && (i + 1 == n || s.charAt(i + 1) == '/' || " \t\n;&|".indexOf(
                s.charAt(i + 1)) >= 0)) {
            segs.add(new Seg(SegKind.QVAR, "HOME"));
            i++;
        }
        while (i < n) {
            char c = s.charAt(i);
            if (" \t\n;&|<>".indexOf(c) >= 0) {
                break;
            }
            if (c == '\\') {
                if (i + 1 < n && s.charAt(i + 1) == '\n') {
                    i += 2;
                    continue;
                }
                if (i + 1 < n) {
                    lit.append(s.charAt(i + 1));
                }
                i += 2;
            } else if (c == '\'') {
                int end = s.indexOf('\'', i + 1);
                if (end < 0) {
                    throw new SyntaxError("unterminated quoted string");
                }
                flush(segs, lit, SegKind.LIT);
                segs.add(new Seg(SegKind.QLIT, s.substring(i + 1, end)));
                i = end + 1;
            } else if (c == '"') {
                flush(segs, lit, SegKind.LIT);
                i++;
                StringBuilder q = new StringBuilder();
                boolean closed = false;
                segs.add(new Seg(SegKind.QLIT, ""));
                while (i < n) {
                    char d = s.charAt(i);
                    if (d == '"') {
                        closed = true;
                        i++;
                        break;
                    }
                    if (d == '\\' && i + 1 < n && "\"\\$`\n".indexOf(s.charAt(i + 1)) >= 0) {
                        if (s.charAt(i + 1) != '\n') {
                            q.append(s.charAt(i + 1));
                        }
                        i += 2;
                    } else if (d == '$') {
                        i = variable(s, i, segs, q, SegKind.QLIT, SegKind.QVAR);
                    } else if (d == '`') {
                        throw new SyntaxError("command substitution is not supported by the fake shell");
                    } else {
                        q.append(d);
                        i++;
                    }
                }
                if (!closed) {
                    throw new SyntaxError("unterminated quoted string");
                }
                flush(segs, q, SegKind.QLIT);
            } else if (c == '$') {
                i = variable(s, i, segs, lit, SegKind.LIT, SegKind.VAR);
            } else if (c == '`') {
                throw new SyntaxError("command substitution is not supported by the fake shell");
            } else {
                lit.append(c);
                i++;
            }
        }
        flush(segs, lit, SegKind.LIT);
        pos[0] = i;
        return new Word(List.copyOf(segs));
    }

    /** Parses {@code $...} at {@code i}; returns the index after it. */
    private static int variable(String s, int i, List<Seg> segs, StringBuilder lit, SegKind litKind, SegKind varKind)
            throws SyntaxError {
        int n = s.length();
        if (i + 1 >= n) {
            lit.append('$');
            return i + 1;
        }
        char c = s.charAt(i + 1);
        String name;
        int next;
        if (c == '{') {
            int end = s.indexOf('}', i + 2);
            if (end < 0) {
                throw new SyntaxError("missing '}'");
            }
            name = s.substring(i + 2, end);
            if (!name.matches("[A-Za-z_][A-Za-z0-9_]*|[0-9?$#@*]")) {
                throw new SyntaxError("bad substitution ${" + name + "}");
            }
            next = end + 1;
        } else if (c == '(') {
            throw new SyntaxError("command substitution is not supported by the fake shell");
        } else if ("?$#@*".indexOf(c) >= 0 || Character.isDigit(c)) {
            name = String.valueOf(c);
            next = i + 2;
        } else if (Character.isLetter(c) || c == '_') {
            int j = i + 1;
            while (j < n && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                j++;
            }
            name = s.substring(i + 1, j);
            next = j;
        } else {
            lit.append('$');
            return i + 1;
        }
        flush(segs, lit, litKind);
        segs.add(new Seg(varKind, name));
        return next;
    }

    private static void flush(List<Seg> segs, StringBuilder lit, SegKind kind) {
        if (lit.length() > 0) {
            segs.add(new Seg(kind, lit.toString()));
            lit.setLength(0);
        }
    }
}
