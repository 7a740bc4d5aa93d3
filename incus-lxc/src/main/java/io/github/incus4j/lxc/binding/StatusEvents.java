package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.lxc.binding.ffi.NativeApi.LibcEvents;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Runtime;
import org.apiguardian.api.API;

/**
 * The kernel's own notice of a container's state changes, waited for by one thread: a pidfd per container init
 * (readable once init exits, whoever stopped it) and an inotify watch per freezer file ({@code freezer.state} on
 * cgroup v1, {@code cgroup.events} on v2: modified on every write, {@code lxc-freeze}'s included), plus an eventfd to
 * wake the waiter. Every descriptor is close-on-exec, so attached and spawned processes never inherit one.
 * x86-64 Linux 5.3 or later (pidfd_open).
 */
@API(status = INTERNAL)
public final class StatusEvents implements AutoCloseable {
    private static final long SYS_PIDFD_OPEN = 434;
    private static final int O_CLOEXEC = 02000000;
    private static final int O_NONBLOCK = 04000;
    private static final int IN_MODIFY = 0x2;
    private static final long POLLIN = 1;
    private static final int EINTR = 4;
    private static final int EAGAIN = 11;
    private static final int ESRCH = 3;
    private static final int ENOENT = 2;

    private final LibcEvents libc;
    private final Runtime runtime;
    private final int inotify;
    private final int wakeFd;
    private final byte[] buffer = new byte[4096];
    private volatile boolean closed;

    private StatusEvents(LibcEvents libc, int inotify, int wakeFd) {
        this.libc = libc;
        this.runtime = Runtime.getRuntime(libc);
        this.inotify = inotify;
        this.wakeFd = wakeFd;
    }

    /**
     * Opens the inotify instance and the wake-up eventfd, and checks that {@code pidfd_open} exists.
     *
     * @throws NotSupportedException when this host has not got them
     */
    public static StatusEvents open() {
        Platform platform = Platform.getNativePlatform();
        if (platform.getOS() != Platform.OS.LINUX || platform.getCPU() != Platform.CPU.X86_64) {
            throw new NotSupportedException("Status events are implemented for x86-64 Linux only");
        }
        LibcEvents libc;
        try {
            libc = LibraryLoader.create(LibcEvents.class).failImmediately().load(platform.getStandardCLibraryName());
        } catch (LinkageError | RuntimeException e) {
            throw new NotSupportedException("Cannot bind libc's event calls: " + e, e);
        }
        Runtime rt = Runtime.getRuntime(libc);
        long self = libc.syscall(SYS_PIDFD_OPEN, ProcessHandle.current().pid(), 0);
        if (self < 0) {
            throw new NotSupportedException("pidfd_open(2) is not usable on this kernel (errno "
                    + LastError.getLastError(rt) + "; Linux 5.3 or later is needed)");
        }
        libc.close((int) self);
        int in = libc.inotify_init1(O_CLOEXEC | O_NONBLOCK);
        if (in < 0) {
            throw new IncusException("inotify_init1 failed, errno " + LastError.getLastError(rt));
        }
        int ev = libc.eventfd(0, O_CLOEXEC | O_NONBLOCK);
        if (ev < 0) {
            int errno = LastError.getLastError(rt);
            libc.close(in);
            throw new IncusException("eventfd failed, errno " + errno);
        }
        return new StatusEvents(libc, in, ev);
    }

    /** A pidfd of process {@code pid}, or -1 when it is gone. */
    public int openPidfd(int pid) {
        long fd = libc.syscall(SYS_PIDFD_OPEN, pid, 0); // pidfds are always close-on-exec
        if (fd < 0) {
            int errno = LastError.getLastError(runtime);
            if (errno == ESRCH) {
                return -1;
            }
            throw new IncusException("pidfd_open(" + pid + ") failed, errno " + errno);
        }
        return (int) fd;
    }

    /** Watches {@code file} for writes; the watch descriptor, or -1 when the file is gone. */
    public int watch(Path file) {
        byte[] path = (file.toString() + "\0").getBytes(StandardCharsets.UTF_8);
        int wd = libc.inotify_add_watch(inotify, path, IN_MODIFY);
        if (wd < 0) {
            int errno = LastError.getLastError(runtime);
            if (errno == ENOENT) {
                return -1;
            }
            throw new IncusException("inotify_add_watch(" + file + ") failed, errno " + errno);
        }
        return wd;
    }

    /** Removes a watch (one whose file is gone was removed by the kernel already: no error then). */
    public void unwatch(int wd) {
        if (wd >= 0) {
            libc.inotify_rm_watch(inotify, wd);
        }
    }

    /** Closes a pidfd from {@link #openPidfd}. */
    public void closeFd(int fd) {
        if (fd >= 0) {
            libc.close(fd);
        }
    }

    /** Makes a thread in {@link #await} return at once (from any thread). */
    public void wake() {
        if (!closed) {
            byte[] one = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(1).array();
            libc.write(wakeFd, one, 8);
        }
    }

    /**
     * What {@link #await} saw: the pidfds that became readable (their process exited) and the watches whose files
     * were written.
     */
    public record Ready(int[] exitedPidfds, int[] writtenWatches) {
        /** Nothing happened (a timeout or a wake-up). */
        public boolean isEmpty() {
            return exitedPidfds.length == 0 && writtenWatches.length == 0;
        }
    }

    /**
     * Waits at most {@code timeoutMillis} for a process of {@code pidfds} to exit, a watched file to be written or a
     * {@link #wake}. One thread at a time.
     */
    public Ready await(int[] pidfds, int timeoutMillis) {
        long[] polls = new long[pidfds.length + 2];
        polls[0] = pollfd(wakeFd);
        polls[1] = pollfd(inotify);
        for (int i = 0; i < pidfds.length; i++) {
            polls[i + 2] = pollfd(pidfds[i]);
        }
        int n = libc.poll(polls, polls.length, timeoutMillis);
        if (n < 0) {
            int errno = LastError.getLastError(runtime);
            if (errno == EINTR) {
                return new Ready(new int[0], new int[0]);
            }
            throw new IncusException("poll failed, errno " + errno);
        }
        if (revents(polls[0]) != 0) {
            libc.read(wakeFd, buffer, 8);
        }
        int[] written = revents(polls[1]) != 0 ? drainInotify() : new int[0];
        int[] exited = new int[pidfds.length];
        int count = 0;
        for (int i = 0; i < pidfds.length; i++) {
            if (revents(polls[i + 2]) != 0) {
                exited[count++] = pidfds[i];
            }
        }
        return new Ready(Arrays.copyOf(exited, count), written);
    }

    private int[] drainInotify() {
        int[] wds = new int[16];
        int count = 0;
        while (true) {
            long n = libc.read(inotify, buffer, buffer.length);
            if (n <= 0) {
                int errno = n < 0 ? LastError.getLastError(runtime) : 0;
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    throw new IncusException("read of inotify events failed, errno " + errno);
                }
                return Arrays.copyOf(wds, count);
            }
            ByteBuffer b = ByteBuffer.wrap(buffer, 0, (int) n).order(ByteOrder.nativeOrder());
            while (b.remaining() >= 16) {
                int wd = b.getInt();
                b.getInt(); // mask
                b.getInt(); // cookie
                int len = b.getInt();
                b.position(b.position() + len);
                // Every event is news, IN_IGNORED too: the file went away with its cgroup.
                if (count == wds.length) {
                    wds = Arrays.copyOf(wds, count * 2);
                }
                wds[count++] = wd;
            }
        }
    }

    private static long pollfd(int fd) {
        return (fd & 0xFFFFFFFFL) | (POLLIN << 32);
    }

    private static int revents(long pollfd) {
        return (int) (pollfd >>> 48) & 0xFFFF;
    }

    /** Closes the inotify instance and the eventfd; pidfds handed out are the caller's to close. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            libc.close(inotify);
            libc.close(wakeFd);
        }
    }
}
