package io.github.incus4j.api.io;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/** An open file descriptor of this process (the Java form of a Go {@code *os.File} that is passed on, not read). */
@API(status = EXPERIMENTAL)
public interface NativeFd extends AutoCloseable {
    /** The descriptor number. */
    int fd();

    @Override
    void close();
}
