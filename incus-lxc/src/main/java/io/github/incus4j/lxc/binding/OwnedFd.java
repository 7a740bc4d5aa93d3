package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.io.NativeFd;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apiguardian.api.API;

/** A descriptor this process owns, closed once by {@link #close()}. */
@API(status = INTERNAL)
public final class OwnedFd implements NativeFd {
    private final int fd;
    private final AtomicBoolean closed = new AtomicBoolean();

    public OwnedFd(int fd) {
        this.fd = fd;
    }

    @Override
    public int fd() {
        if (closed.get()) {
            throw new IllegalStateException("Descriptor " + fd + " is closed");
        }
        return fd;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            NetNamespace.libc().close(fd);
        }
    }

    @Override
    public String toString() {
        return "OwnedFd[" + fd + (closed.get() ? ", closed]" : "]");
    }
}
