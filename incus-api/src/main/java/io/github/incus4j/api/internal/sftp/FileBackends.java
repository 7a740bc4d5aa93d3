package io.github.incus4j.api.internal.sftp;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.BusyException;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.PermissionDeniedException;
import io.github.incus4j.api.file.FileAttributes;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.spi.FileBackend;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import org.apiguardian.api.API;

/** {@link FileBackend}s over other file access. */
@API(status = INTERNAL)
public final class FileBackends {
    /** Symlinks followed in one resolution before giving up, as Linux's {@code ELOOP} limit. */
    static final int MAX_LINKS = 40;

    private FileBackends() {
    }

    /**
     * A backend over an {@link SftpClient} (e.g. a driver's in-memory tree), which already confines paths to the
     * instance. Reads stream from {@link SftpClient#open} (reopening for a backward seek); a file opened for writing
     * is kept in memory from open to close and published by {@link SftpClient#create} on close, as the client API
     * has no positional writes. Times cannot be set through an {@code SftpClient}: an mtime change is ignored,
     * a size change refused.
     */
    public static FileBackend of(SftpClient client) {
        return new ClientBackend(client);
    }

    /** {@code path} made absolute (from {@code /}) with {@code .}, {@code ..} and repeated slashes removed. */
    static String normalize(String path) {
        Deque<String> parts = new ArrayDeque<>();
        for (String c : path.split("/")) {
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                parts.pollLast();
            } else {
                parts.addLast(c);
            }
        }
        return "/" + String.join("/", parts);
    }

    private static final class ClientBackend implements FileBackend {
        private final SftpClient c;

        ClientBackend(SftpClient client) {
            this.c = client;
        }

        @Override
        public FileAttributes stat(String path) {
            return c.stat(normalize(path));
        }

        @Override
        public FileAttributes lstat(String path) {
            return c.lstat(normalize(path));
        }

        @Override
        public List<SftpClient.Entry> list(String dir) {
            return c.list(normalize(dir));
        }

        @Override
        public Handle open(String path, Set<OpenFlag> flags, int mode) {
            String p = normalize(path);
            boolean exists = c.exists(p);
            if (exists && flags.contains(OpenFlag.CREATE) && flags.contains(OpenFlag.EXCLUSIVE)) {
                throw new BusyException("File exists: " + ErrorTexts.quote(path));
            }
            if (exists && c.stat(p).isDirectory()) {
                throw new InvalidArgumentException("Is a directory: " + ErrorTexts.quote(path));
            }
            boolean write = flags.contains(OpenFlag.WRITE) || flags.contains(OpenFlag.APPEND);
            if (!write) {
                if (!exists) {
                    throw new NotFoundException("No such file or directory: " + ErrorTexts.quote(path));
                }
                return new ReadHandle(p);
            }
            if (!exists && !flags.contains(OpenFlag.CREATE)) {
                throw new NotFoundException("No such file or directory: " + ErrorTexts.quote(path));
            }
            byte[] old = exists && !flags.contains(OpenFlag.TRUNCATE) ? c.readAllBytes(p) : new byte[0];
            // Create or truncate now: a client sees the file from OPEN on, not only after CLOSE.
            if (!exists || flags.contains(OpenFlag.TRUNCATE)) {
                close(c.create(p, mode));
            }
            return new WriteHandle(p, mode, old, flags.contains(OpenFlag.APPEND));
        }

        @Override
        public void mkdir(String path, int mode) {
            c.mkdir(normalize(path), mode);
        }

        @Override
        public void rmdir(String path) {
            c.rmdir(normalize(path));
        }

        @Override
        public void remove(String path) {
            c.remove(normalize(path));
        }

        @Override
        public void rename(String from, String to) {
            c.rename(normalize(from), normalize(to));
        }

        @Override
        public void symlink(String target, String link) {
            c.symlink(target, normalize(link));
        }

        @Override
        public String readlink(String path) {
            return c.readlink(normalize(path));
        }

        @Override
        public void setattrs(String path, AttrChanges ch) {
            String p = normalize(path);
            if (ch.size() != null) {
                throw new NotSupportedException("Changing a file's size is not supported here");
            }
            FileAttributes a = c.stat(p);
            if (ch.mode() != null) {
                c.chmod(p, ch.mode());
            }
            if (ch.uid() != null && (ch.uid() != a.uid() || ch.gid() != a.gid())) {
                c.chown(p, ch.uid(), ch.gid());
            }
        }

        @Override
        public String realpath(String path) {
            // Follow symlinks component by component through the client, which confines them already.
            String p = normalize(path);
            String done = "";
            Deque<String> todo = new ArrayDeque<>(Arrays.asList(p.substring(1).split("/")));
            int links = 0;
            while (!todo.isEmpty()) {
                String part = todo.pollFirst();
                if (part.isEmpty() || part.equals(".")) {
                    continue;
                }
                if (part.equals("..")) {
                    done = done.isEmpty() ? "" : done.substring(0, done.lastIndexOf('/'));
                    continue;
                }
                String next = done + "/" + part;
                if (c.exists(next) && c.lstat(next).isSymlink()) {
                    if (++links > MAX_LINKS) {
                        throw new InvalidArgumentException("Too many levels of symbolic links: " + ErrorTexts.quote(path));
                    }
                    String target = c.readlink(next);
                    List<String> t = Arrays.asList(target.split("/"));
                    for (int i = t.size() - 1; i >= 0; i--) {
                        todo.addFirst(t.get(i));
                    }
                    if (target.startsWith("/")) {
                        done = "";
                    }
                } else {
                    done = next;
                }
            }
            return done.isEmpty() ? "/" : done;
        }

        /** Sequential reads; a backward seek reopens, a forward one skips. */
        private final class ReadHandle implements Handle {
            private final String path;
            private InputStream in;
            private long pos;

            ReadHandle(String path) {
                this.path = path;
                this.in = c.open(path);
            }

            @Override
            public synchronized int read(long offset, byte[] buf, int off, int len) {
                try {
                    if (offset < pos) {
                        in.close();
                        in = c.open(path);
                        pos = 0;
                    }
                    while (pos < offset) {
                        long skipped = in.skip(offset - pos);
                        if (skipped <= 0) {
                            if (in.read() < 0) {
                                return -1;
                            }
                            skipped = 1;
                        }
                        pos += skipped;
                    }
                    int n = in.readNBytes(buf, off, len);
                    if (n == 0 && len > 0) {
                        return -1;
                    }
                    pos += n;
                    return n;
                } catch (IOException e) {
                    throw new IncusException("Reading " + ErrorTexts.quote(path) + " failed: " + e.getMessage(), e);
                }
            }

            @Override
            public void write(long offset, byte[] buf, int off, int len) {
                throw new PermissionDeniedException("File not open for writing: " + ErrorTexts.quote(path));
            }

            @Override
            public synchronized void close() {
                FileBackends.close(in);
            }
        }

        /** Positional writes into memory, published on close. */
        private final class WriteHandle implements Handle {
            private final String path;
            private final int mode;
            private final boolean append;
            private byte[] data;
            private int size;
            private boolean dirty;
            private boolean closed;

            WriteHandle(String path, int mode, byte[] initial, boolean append) {
                this.path = path;
                this.mode = mode;
                this.append = append;
                this.data = initial;
                this.size = initial.length;
            }

            @Override
            public synchronized int read(long offset, byte[] buf, int off, int len) {
                if (offset >= size) {
                    return -1;
                }
                int n = (int) Math.min(len, size - offset);
                System.arraycopy(data, (int) offset, buf, off, n);
                return n;
            }

            @Override
            public synchronized void write(long offset, byte[] buf, int off, int len) {
                long at = append ? size : offset;
                long end = at + len;
                if (end > Integer.MAX_VALUE - 8) {
                    throw new InvalidArgumentException("File too large for this backend: " + ErrorTexts.quote(path));
                }
                if (end > data.length) {
                    data = Arrays.copyOf(data, (int) Math.max(end, Math.min(Integer.MAX_VALUE - 8L,
                            data.length * 2L)));
                }
                System.arraycopy(buf, off, data, (int) at, len);
                size = (int) Math.max(size, end);
                dirty = true;
            }

            @Override
            public synchronized void close() {
                if (closed) {
                    return;
                }
                closed = true;
                if (dirty) {
                    try (OutputStream out = c.create(path, mode)) {
                        out.write(data, 0, size);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
                data = null;
            }
        }
    }

    private static void close(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

}
