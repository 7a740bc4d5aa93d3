package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.testkit.fake.MemFs.Dir;
import io.github.incus4j.testkit.fake.MemFs.Node;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The fake's built-in programs, behaving like their busybox namesakes (options, output and messages) for what tests
 * commonly run: {@code true false echo cat env pwd id sh sleep ls mkdir rm touch hostname uname tty stty dd sync} and the
 * {@code busybox} multi-call binary.
 */
final class Builtins {
    private static final DateTimeFormatter LS_DATE =
            DateTimeFormatter.ofPattern("MMM d HH:mm", Locale.ROOT).withZone(ZoneOffset.UTC);
    /** The kernel VMs report; containers share the host's. */
    static final String VM_KERNEL = "6.8.0-incus4j-fake";

    private Builtins() {
    }

    static void registerAll(Map<String, FakeCommand> into) {
        into.put("true", p -> 0);
        into.put("false", p -> 1);
        into.put("echo", Builtins::echo);
        into.put("cat", Builtins::cat);
        into.put("env", Builtins::env);
        into.put("pwd", printsLine(FakeProcess::cwd));
        into.put("id", Builtins::id);
        into.put("sh", Shell::main);
        into.put("sleep", Builtins::sleep);
        into.put("ls", Builtins::ls);
        into.put("mkdir", Builtins::mkdir);
        into.put("rm", Builtins::rm);
        into.put("touch", Builtins::touch);
        into.put("hostname", printsLine(FakeProcess::instanceName));
        into.put("uname", Builtins::uname);
        into.put("tty", Builtins::tty);
        into.put("stty", Builtins::stty);
        into.put("busybox", Builtins::busybox);
        into.put("dd", Builtins::dd);
        into.put("sync", p -> 0); // the files are in memory: nothing to flush
    }

    /** A command that prints one line ({@code pwd}, {@code hostname}) and succeeds. */
    private static FakeCommand printsLine(java.util.function.Function<FakeProcess, String> line) {
        return p -> {
            p.print(line.apply(p) + "\n");
            return 0;
        };
    }

    private static Proc proc(FakeProcess p) {
        return (Proc) p;
    }

    private static List<String> args(FakeProcess p) {
        return p.argv().subList(1, p.argv().size());
    }

    // ---- commands -----------------------------------------------------------------------------------------------

    private static int busybox(FakeProcess fp) throws Exception {
        Proc p = proc(fp);
        if (p.argv().size() < 2) {
            p.print("BusyBox v1.36.1 (incus4j fake) multi-call binary.\n");
            return 0;
        }
        String applet = p.argv().get(1);
        FakeCommand h = p.instance.commands().get(applet);
        if (h == null || applet.equals("busybox")) {
            p.printErr(applet + ": applet not found\n");
            return 127;
        }
        return h.run(p.child(p.argv().subList(1, p.argv().size()), p.env(), p.cwd(), p.stdin(), p.stdout(),
                p.stderr())) & 0xff;
    }

    private static int echo(FakeProcess p) {
        List<String> a = args(p);
        boolean newline = true;
        boolean escapes = false;
        int i = 0;
        while (i < a.size() && a.get(i).matches("-[neE]+")) {
            for (char c : a.get(i).substring(1).toCharArray()) {
                newline &= c != 'n';
                escapes = c == 'e' || (escapes && c != 'E');
            }
            i++;
        }
        String text = String.join(" ", a.subList(i, a.size()));
        if (escapes) {
            int cut = text.indexOf("\\c");
            if (cut >= 0) {
                text = text.substring(0, cut);
                newline = false;
            }
            text = text.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r").replace("\\\\", "\\");
        }
        p.print(newline ? text + "\n" : text);
        return 0;
    }

    private static int cat(FakeProcess fp) throws IOException {
        Proc p = proc(fp);
        List<String> files = args(p).isEmpty() ? List.of("-") : args(p);
        int status = 0;
        for (String f : files) {
            if (f.equals("-")) {
                p.stdin().transferTo(p.stdout());
                continue;
            }
            byte[] kernel = ProcFs.read(p.instance, p.cwd(), f);
            if (kernel != null) {
                p.stdout().write(kernel);
                continue;
            }
            Node n = p.fs().node(f, true);
            if (n == null) {
                p.printErr("cat: can't open '" + f + "': No such file or directory\n");
                status = 1;
            } else if (n instanceof Dir) {
                p.printErr("cat: read error: Is a directory\n");
                status = 1;
            } else {
                p.stdout().write(((MemFs.File) n).data);
            }
        }
        return status;
    }

    /**
     * {@code dd if= of= bs= count=}: copies {@code count} blocks (all input without it); {@code /dev/zero} and
     * {@code /dev/null} are the kernel's. Copying costs the guest CPU time, a nanosecond a byte, so that a test can
     * burn CPU as with a real {@code dd}.
     */
    private static int dd(FakeProcess fp) throws IOException {
        Proc p = proc(fp);
        String in = null;
        String out = null;
        long bs = 512;
        long count = -1;
        for (String a : args(p)) {
            int eq = a.indexOf('=');
            if (eq < 0) {
                return p.fail("invalid argument '" + a + "'");
            }
            String v = a.substring(eq + 1);
            try {
                switch (a.substring(0, eq)) {
                    case "if" -> in = v;
                    case "of" -> out = v;
                    case "bs" -> bs = ddNumber(v);
                    case "count" -> count = ddNumber(v);
                    default -> {
                        return p.fail("invalid argument '" + a + "'");
                    }
                }
            } catch (NumberFormatException e) {
                return p.fail("invalid number '" + v + "'");
            }
        }
        if (bs <= 0 || bs > (64L << 20)) {
            return p.fail("invalid number '" + bs + "'");
        }
        java.io.InputStream src;
        if (in == null) {
            src = p.stdin();
        } else if (in.equals("/dev/zero")) {
            src = null;
        } else {
            Node n = p.fs().node(in, true);
            if (!(n instanceof MemFs.File f)) {
                p.printErr("dd: can't open '" + in + "': No such file or directory\n");
                return 1;
            }
            src = new java.io.ByteArrayInputStream(f.data);
        }
        if (src == null && count < 0) {
            return p.fail("reading /dev/zero without count never ends");
        }
        boolean discard = "/dev/null".equals(out);
        java.io.ByteArrayOutputStream file = out == null || discard ? null : new java.io.ByteArrayOutputStream();
        byte[] block = new byte[(int) bs];
        long blocks = 0;
        long partial = 0;
        long bytes = 0;
        while (count < 0 || blocks + partial < count) {
            int n = src == null ? block.length : src.readNBytes(block, 0, block.length);
            if (n <= 0) {
                break;
            }
            p.task.enter(); // a kill or a freeze stops the copy
            if (n == block.length) {
                blocks++;
            } else {
                partial++;
            }
            bytes += n;
            if (file != null) {
                file.write(block, 0, n);
            } else if (!discard) {
                p.stdout().write(block, 0, n);
            }
        }
        p.task.guest().workNanos.addAndGet(bytes);
        if (file != null) {
            p.fs().writeFile(out, file.toByteArray(), 0644, false);
        }
        p.printErr(blocks + "+" + partial + " records in\n" + blocks + "+" + partial + " records out\n");
        return 0;
    }

    private static long ddNumber(String v) {
        String s = v.toLowerCase(Locale.ROOT);
        long unit = 1;
        if (s.endsWith("k")) {
            unit = 1024;
        } else if (s.endsWith("m")) {
            unit = 1L << 20;
        }
        return Long.parseLong(unit == 1 ? s : s.substring(0, s.length() - 1)) * unit;
    }

    /** The terminal of an interactive command is the instance's first pty. */
    private static int tty(FakeProcess p) {
        p.print(p.interactive() ? "/dev/pts/0\n" : "not a tty\n");
        return p.interactive() ? 0 : 1;
    }

    /** {@code stty size} ({@code rows columns}) and plain {@code stty}; other settings are accepted and ignored. */
    private static int stty(FakeProcess p) {
        if (!p.interactive()) {
            p.printErr("stty: standard input: Not a tty\n");
            return 1;
        }
        FakeProcess.WindowSize w = p.windowSize();
        if (args(p).equals(List.of("size"))) {
            p.print(w.height() + " " + w.width() + "\n");
        } else if (args(p).isEmpty()) {
            p.print("speed 38400 baud; rows " + w.height() + "; columns " + w.width() + "; line = 0;\n");
        }
        return 0;
    }

    private static int env(FakeProcess fp) throws Exception {
        Proc p = proc(fp);
        List<String> a = args(p);
        Map<String, String> env = new TreeMap<>(p.env());
        int i = 0;
        if (i < a.size() && (a.get(i).equals("-i") || a.get(i).equals("-"))) {
            env.clear();
            i++;
        }
        while (i < a.size() && a.get(i).indexOf('=') > 0) {
            String kv = a.get(i++);
            env.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        }
        if (i == a.size()) {
            StringBuilder sb = new StringBuilder();
            env.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
            p.print(sb.toString());
            return 0;
        }
        try {
            Launcher.Program prog = Launcher.resolve(p.instance.commands(), p.fs(), a.subList(i, a.size()),
                    env.get("PATH"));
            return prog.handler().run(p.child(prog.argv(), env, p.cwd(), p.stdin(), p.stdout(), p.stderr())) & 0xff;
        } catch (io.github.incus4j.api.InvalidArgumentException e) {
            p.printErr("env: can't execute '" + a.get(i) + "': No such file or directory\n");
            return 127;
        }
    }

    private static int id(FakeProcess fp) {
        Proc p = proc(fp);
        boolean user = false;
        boolean group = false;
        boolean names = false;
        for (String a : args(p)) {
            if (!a.matches("-[ugnG]+")) {
                return p.fail("unknown user " + a);
            }
            user |= a.contains("u");
            group |= a.contains("g") || a.contains("G");
            names |= a.contains("n");
        }
        String uname = name(p, "/etc/passwd", p.uid());
        String gname = name(p, "/etc/group", p.gid());
        if (user || group) {
            int id = user ? p.uid() : p.gid();
            String nm = user ? uname : gname;
            p.print((names && nm != null ? nm : Integer.toString(id)) + "\n");
            return 0;
        }
        p.print("uid=" + p.uid() + paren(uname) + " gid=" + p.gid() + paren(gname) + " groups=" + p.gid()
                + paren(gname) + "\n");
        return 0;
    }

    private static String paren(String name) {
        return name == null ? "" : "(" + name + ")";
    }

    /** The name of id {@code id} in a passwd-format file, or {@code null}. */
    private static String name(Proc p, String file, int id) {
        if (!(p.fs().node(file, true) instanceof MemFs.File f)) {
            return null;
        }
        for (String line : new String(f.data, StandardCharsets.UTF_8).split("\n")) {
            String[] parts = line.split(":");
            if (parts.length > 2 && parts[2].equals(Integer.toString(id))) {
                return parts[0];
            }
        }
        return null;
    }

    private static int sleep(FakeProcess fp) throws InterruptedException {
        Proc p = proc(fp);
        if (args(p).isEmpty()) {
            return p.fail("missing operand");
        }
        BigDecimal seconds = BigDecimal.ZERO;
        for (String a : args(p)) {
            BigDecimal unit = BigDecimal.ONE;
            String num = a;
            char last = a.isEmpty() ? ' ' : a.charAt(a.length() - 1);
            if ("smhd".indexOf(last) >= 0) {
                unit = BigDecimal.valueOf(last == 's' ? 1 : last == 'm' ? 60 : last == 'h' ? 3600 : 86400);
                num = a.substring(0, a.length() - 1);
            }
            try {
                BigDecimal v = new BigDecimal(num);
                if (v.signum() < 0) {
                    throw new NumberFormatException();
                }
                seconds = seconds.add(v.multiply(unit));
            } catch (NumberFormatException e) {
                return p.fail("invalid number '" + a + "'");
            }
        }
        p.task.sleep(seconds.movePointRight(9).min(BigDecimal.valueOf(Long.MAX_VALUE)).longValue());
        return 0;
    }

    private static int ls(FakeProcess fp) throws IOException {
        Proc p = proc(fp);
        boolean all = false;
        boolean longFormat = false;
        boolean dirItself = false;
        List<String> paths = new ArrayList<>();
        for (String a : args(p)) {
            if (a.startsWith("-") && a.length() > 1) {
                for (char c : a.substring(1).toCharArray()) {
                    all |= c == 'a' || c == 'A';
                    longFormat |= c == 'l';
                    dirItself |= c == 'd';
                }
            } else {
                paths.add(a);
            }
        }
        if (paths.isEmpty()) {
            paths.add(".");
        }
        int status = 0;
        StringBuilder out = new StringBuilder();
        boolean headers = paths.size() > 1;
        for (String path : paths) {
            Node n = p.fs().node(path, true);
            if (n == null) {
                p.printErr("ls: " + path + ": No such file or directory\n");
                status = 1;
                continue;
            }
            if (!(n instanceof Dir) || dirItself) {
                line(p, out, path, p.fs().lstat(path), path, longFormat);
                continue;
            }
            if (headers) {
                out.append(path).append(":\n");
            }
            for (SftpClient.Entry e : p.fs().list(path)) {
                if (all || !e.name().startsWith(".")) {
                    line(p, out, e.name(), e.attributes(), path + "/" + e.name(), longFormat);
                }
            }
            if (headers) {
                out.append('\n');
            }
        }
        p.print(out.toString());
        return status;
    }

    private static void line(Proc p, StringBuilder out, String name, FileAttributes a, String path, boolean longFmt) {
        if (!longFmt) {
            out.append(name).append('\n');
            return;
        }
        String owner = name(p, "/etc/passwd", a.uid());
        String group = name(p, "/etc/group", a.gid());
        out.append(modeString(a)).append(' ').append(String.format(Locale.ROOT, "%4d %-8s %-8s %9d ",
                a.isDirectory() ? 2 : 1, owner == null ? Integer.toString(a.uid()) : owner,
                group == null ? Integer.toString(a.gid()) : group, a.size()))
                .append(LS_DATE.format(a.modified())).append(' ').append(name);
        if (a.isSymlink()) {
            out.append(" -> ").append(p.fs().readlink(path));
        }
        out.append('\n');
    }

    static String modeString(FileAttributes a) {
        StringBuilder sb = new StringBuilder(10);
        sb.append(a.isDirectory() ? 'd' : a.isSymlink() ? 'l' : '-');
        String rwx = "rwxrwxrwx";
        int perm = a.permissions();
        for (int i = 0; i < 9; i++) {
            sb.append((perm & (0400 >> i)) != 0 ? rwx.charAt(i) : '-');
        }
        if ((perm & 01000) != 0) {
            sb.setCharAt(9, (perm & 1) != 0 ? 't' : 'T');
        }
        return sb.toString();
    }

    private static int mkdir(FakeProcess fp) {
        Proc p = proc(fp);
        boolean parents = false;
        int mode = 0755;
        List<String> dirs = new ArrayList<>();
        List<String> a = args(p);
        for (int i = 0; i < a.size(); i++) {
            String s = a.get(i);
            if (s.equals("-p")) {
                parents = true;
            } else if (s.equals("-m") && i + 1 < a.size()) {
                try {
                    mode = Integer.parseInt(a.get(++i), 8);
                } catch (NumberFormatException e) {
                    return p.fail("invalid mode '" + a.get(i) + "'");
                }
            } else {
                dirs.add(s);
            }
        }
        if (dirs.isEmpty()) {
            return p.fail("missing operand");
        }
        int status = 0;
        for (String d : dirs) {
            try {
                if (parents) {
                    p.fs().mkdirs(d, mode);
                } else {
                    p.fs().mkdir(d, mode);
                }
            } catch (BusyException e) {
                p.printErr("mkdir: can't create directory '" + d + "': File exists\n");
                status = 1;
            } catch (IncusException e) {
                p.printErr("mkdir: can't create directory '" + d + "': No such file or directory\n");
                status = 1;
            }
        }
        return status;
    }

    private static int rm(FakeProcess fp) {
        Proc p = proc(fp);
        boolean recursive = false;
        boolean force = false;
        List<String> targets = new ArrayList<>();
        for (String a : args(p)) {
            if (a.startsWith("-") && a.length() > 1) {
                recursive |= a.contains("r") || a.contains("R");
                force |= a.contains("f");
            } else {
                targets.add(a);
            }
        }
        if (targets.isEmpty() && !force) {
            return p.fail("missing operand");
        }
        int status = 0;
        for (String t : targets) {
            Node n = p.fs().node(t, false);
            if (n == null) {
                if (!force) {
                    p.printErr("rm: can't remove '" + t + "': No such file or directory\n");
                    status = 1;
                }
                continue;
            }
            if (n instanceof Dir && !recursive) {
                p.printErr("rm: '" + t + "' is a directory\n");
                status = 1;
                continue;
            }
            try {
                p.fs().removeTree(t);
            } catch (NotFoundException e) {
                // removed meanwhile
            }
        }
        return status;
    }

    private static int touch(FakeProcess fp) {
        Proc p = proc(fp);
        List<String> files = new ArrayList<>();
        for (String a : args(p)) {
            if (!a.startsWith("-")) {
                files.add(a);
            }
        }
        if (files.isEmpty()) {
            return p.fail("missing operand");
        }
        int status = 0;
        for (String f : files) {
            try {
                p.fs().touch(f);
            } catch (IncusException e) {
                p.printErr("touch: " + f + ": No such file or directory\n");
                status = 1;
            }
        }
        return status;
    }

    private static int uname(FakeProcess fp) {
        Proc p = proc(fp);
        String release = p.instance.kernelRelease();
        String machine = Architectures.name(p.instance.architecture());
        String version = "#1 SMP PREEMPT_DYNAMIC incus4j";
        List<String> flags = new ArrayList<>();
        for (String a : args(p)) {
            if (!a.matches("-[asnrvmpio]+")) {
                return p.fail("unrecognized option '" + a + "'");
            }
            for (char c : a.substring(1).toCharArray()) {
                flags.add(String.valueOf(c));
            }
        }
        if (flags.contains("a")) {
            flags = List.of("s", "n", "r", "v", "m", "o");
        } else if (flags.isEmpty()) {
            flags = List.of("s");
        }
        List<String> parts = new ArrayList<>();
        for (String f : List.of("s", "n", "r", "v", "m", "p", "i", "o")) {
            if (!flags.contains(f)) {
                continue;
            }
            switch (f) {
                case "s":
                    parts.add("Linux");
                    break;
                case "n":
                    parts.add(p.instanceName());
                    break;
                case "r":
                    parts.add(release);
                    break;
                case "v":
                    parts.add(version);
                    break;
                case "m":
                case "p":
                case "i":
                    parts.add(machine);
                    break;
                default:
                    parts.add("GNU/Linux");
            }
        }
        p.print(String.join(" ", parts) + "\n");
        return 0;
    }
}
