package io.github.incus4j.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.spi.FileBackend;
import io.github.incus4j.qemu.qmp.GuestAgentClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A VM's files as a {@link FileBackend}, through the QEMU guest agent: contents with {@code guest-file-*} (open,
 * read, write, seek, close), everything else (stat, listing, mkdir, rename, links, attributes) with busybox applets
 * run by {@code guest-exec}. Paths are the guest's own, so confinement is the guest's: {@code ..} and symlinks
 * resolve inside the VM. File names holding a newline are not listed correctly (the listing is line-based).
 */
final class AgentFiles implements FileBackend {
    private static final Duration OP_TIMEOUT = Duration.ofSeconds(30);
    private static final String PATH_ENV = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    /** stat's fields: raw mode (hex), uid, gid, size, mtime, name. */
    private static final String STAT_FORMAT = "%f %u %g %s %Y %n";

    private final Supplier<GuestAgentClient> agent;

    AgentFiles(Supplier<GuestAgentClient> agent) {
        this.agent = agent;
    }

    /** Runs a shell snippet in the guest with {@code args} as {@code $1...}, returning stdout; failures mapped. */
    private String sh(String script, String... args) {
        List<String> argv = new ArrayList<>(List.of("-c", script, "sh"));
        argv.addAll(List.of(args));
        GuestAgentClient a = agent.get();
        int pid = a.exec("/bin/sh", argv, List.of(PATH_ENV), null, true);
        long deadline = System.nanoTime() + OP_TIMEOUT.toNanos();
        long sleep = 1;
        StringBuilder out = new StringBuilder();
        StringBuilder err = new StringBuilder();
        while (true) {
            GuestAgentClient.ExecStatus s = a.execStatus(pid);
            out.append(new String(s.out(), StandardCharsets.UTF_8));
            err.append(new String(s.err(), StandardCharsets.UTF_8));
            if (s.exited()) {
                if (s.exitCode() == null || s.exitCode() != 0) {
                    String msg = err.toString().trim();
                    throw failure(msg.isEmpty() ? "exit status " + s.exitCode() + ", signal " + s.signal() : msg);
                }
                return out.toString();
            }
            if (System.nanoTime() > deadline) {
                throw new OperationTimeoutException("File operation in the guest did not end within " + OP_TIMEOUT);
            }
            try {
                Thread.sleep(sleep);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IncusException("Interrupted", e);
            }
            sleep = Math.min(20, sleep * 2);
        }
    }

    /** Maps a guest tool's message to the exception FileBackend promises. */
    private static IncusException failure(String msg) {
        String m = msg.lines().reduce((a, b) -> b).orElse(msg);
        if (m.contains("No such file") || m.contains("nonexistent directory") || m.contains("can't cd")) {
            return new NotFoundException(m);
        }
        if (m.contains("File exists")) {
            return new BusyException(m);
        }
        if (m.contains("Permission denied") || m.contains("Operation not permitted")) {
            return new PermissionDeniedException(m);
        }
        return new IncusException(m);
    }

    private static FileAttributes parse(String line) {
        String[] f = line.split(" ", 6);
        return new FileAttributes(Long.parseLong(f[3]), Integer.parseInt(f[1]), Integer.parseInt(f[2]),
                Integer.parseInt(f[0], 16), Instant.ofEpochSecond(Long.parseLong(f[4])));
    }

    @Override
    public FileAttributes stat(String path) {
        return parse(sh("stat -L -c '" + STAT_FORMAT + "' -- \"$1\"", path).trim());
    }

    @Override
    public FileAttributes lstat(String path) {
        return parse(sh("stat -c '" + STAT_FORMAT + "' -- \"$1\"", path).trim());
    }

    @Override
    public List<SftpClient.Entry> list(String dir) {
        String out = sh("cd -- \"$1\" || exit 1; for f in * .*; do "
                + "if [ \"$f\" = . ] || [ \"$f\" = .. ]; then continue; fi; "
                + "if [ -e \"$f\" ] || [ -L \"$f\" ]; then stat -c '" + STAT_FORMAT + "' -- \"$f\"; fi; done", dir);
        List<SftpClient.Entry> entries = new ArrayList<>();
        for (String line : out.split("\n")) {
            if (!line.isEmpty()) {
                entries.add(new SftpClient.Entry(line.split(" ", 6)[5], parse(line)));
            }
        }
        entries.sort(Comparator.comparing(SftpClient.Entry::name));
        return entries;
    }

    /**
     * Creates a missing file first with {@code mode} (the agent would create it 0600 or per its umask), refuses an
     * existing one for {@code EXCLUSIVE}, then opens it with {@code guest-file-open}.
     */
    @Override
    public Handle open(String path, Set<OpenFlag> flags, int mode) {
        boolean write = flags.contains(OpenFlag.WRITE) || flags.contains(OpenFlag.APPEND);
        if (flags.contains(OpenFlag.CREATE)) {
            sh("if [ -e \"$1\" ]; then [ \"$3\" = x ] && { echo \"$1: File exists\" >&2; exit 1; }; exit 0; fi; "
                    + ": > \"$1\" && chmod \"$2\" \"$1\"", path, Integer.toOctalString(mode & 07777),
                    flags.contains(OpenFlag.EXCLUSIVE) ? "x" : "");
        }
        String fopenMode;
        if (flags.contains(OpenFlag.APPEND)) {
            fopenMode = flags.contains(OpenFlag.READ) ? "a+" : "a";
        } else if (write && flags.contains(OpenFlag.TRUNCATE)) {
            fopenMode = flags.contains(OpenFlag.READ) ? "w+" : "w";
        } else if (write) {
            fopenMode = "r+";
        } else {
            fopenMode = "r";
        }
        GuestAgentClient a = agent.get();
        long handle;
        try {
            handle = a.fileOpen(path, fopenMode);
        } catch (IncusException e) {
            throw failure(e.getMessage());
        }
        return new AgentHandle(a, handle, flags.contains(OpenFlag.APPEND));
    }

    @Override
    public void mkdir(String path, int mode) {
        sh("mkdir -m \"$2\" -- \"$1\"", path, Integer.toOctalString(mode & 07777));
    }

    @Override
    public void rmdir(String path) {
        sh("rmdir -- \"$1\"", path);
    }

    @Override
    public void remove(String path) {
        sh("if [ -d \"$1\" ] && [ ! -L \"$1\" ]; then echo \"$1: Is a directory\" >&2; exit 1; fi; rm -- \"$1\"",
                path);
    }

    @Override
    public void rename(String from, String to) {
        sh("[ -e \"$1\" ] || [ -L \"$1\" ] || { echo \"$1: No such file or directory\" >&2; exit 1; }; "
                + "mv -f -- \"$1\" \"$2\"", from, to);
    }

    @Override
    public void symlink(String target, String link) {
        sh("ln -s -- \"$1\" \"$2\"", target, link);
    }

    @Override
    public String readlink(String path) {
        String out = sh("if [ ! -L \"$1\" ]; then if [ -e \"$1\" ]; then echo \"$1: Invalid argument\" >&2; "
                + "else echo \"$1: No such file or directory\" >&2; fi; exit 1; fi; readlink -- \"$1\"", path);
        return out.endsWith("\n") ? out.substring(0, out.length() - 1) : out;
    }

    @Override
    public void setattrs(String path, AttrChanges c) {
        StringBuilder script = new StringBuilder("[ -e \"$1\" ] || { echo \"$1: No such file or directory\" >&2;"
                + " exit 1; }");
        List<String> args = new ArrayList<>(List.of(path));
        if (c.mode() != null) {
            args.add(Integer.toOctalString(c.mode() & 07777));
            script.append("; chmod \"$").append(args.size()).append("\" \"$1\"");
        }
        if (c.uid() != null) {
            args.add(c.uid() + ":" + c.gid());
            script.append("; chown \"$").append(args.size()).append("\" \"$1\"");
        }
        if (c.size() != null) {
            args.add(Long.toString(c.size()));
            script.append("; truncate -s \"$").append(args.size()).append("\" \"$1\"");
        }
        if (c.mtime() != null) {
            args.add("@" + c.mtime().getEpochSecond());
            script.append("; touch -c -d \"$").append(args.size()).append("\" \"$1\"");
        }
        sh(script.toString(), args.toArray(new String[0]));
    }

    /** {@code readlink -f}; for a missing last component, the canonical parent and the name. */
    @Override
    public String realpath(String path) {
        String out = sh("p=$(readlink -f -- \"$1\") && [ -n \"$p\" ] && { echo \"$p\"; exit 0; }; "
                + "d=$(dirname -- \"$1\"); b=$(basename -- \"$1\"); "
                + "q=$(readlink -f -- \"$d\") && [ -d \"$q\" ] || { echo \"$1: No such file or directory\" >&2; exit 1; }; "
                + "[ \"$q\" = / ] && echo \"/$b\" || echo \"$q/$b\"", path.isEmpty() ? "/" : path).trim();
        return out.isEmpty() ? "/" : out;
    }

    /** An open guest file; positions are tracked so that sequential access needs no seek. */
    private static final class AgentHandle implements Handle {
        private final GuestAgentClient agent;
        private final long handle;
        private final boolean append;
        private long position;

        AgentHandle(GuestAgentClient agent, long handle, boolean append) {
            this.agent = agent;
            this.handle = handle;
            this.append = append;
        }

        private void seek(long offset) {
            if (offset != position) {
                JsonNode r = agent.execute("guest-file-seek", Map.of("handle", handle, "offset", offset,
                        "whence", "set"));
                position = r.path("position").asLong(offset);
            }
        }

        @Override
        public synchronized int read(long offset, byte[] buf, int off, int len) {
            seek(offset);
            byte[] data = agent.fileRead(handle, len);
            if (data.length == 0) {
                return -1;
            }
            System.arraycopy(data, 0, buf, off, data.length);
            position += data.length;
            return data.length;
        }

        @Override
        public synchronized void write(long offset, byte[] buf, int off, int len) {
            if (!append) {
                seek(offset);
            }
            agent.fileWrite(handle, off == 0 && len == buf.length ? buf : java.util.Arrays.copyOfRange(buf, off,
                    off + len));
            position += len;
        }

        @Override
        public synchronized void close() {
            agent.fileClose(handle);
        }
    }
}
