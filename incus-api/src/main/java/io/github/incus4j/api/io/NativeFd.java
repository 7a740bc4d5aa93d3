package io.github.incus4j.api.io;

/** An open file descriptor of this process (the Java form of a Go {@code *os.File} that is passed on, not read). */
public interface NativeFd extends AutoCloseable {
    /** The descriptor number. */
    int fd();

    @Override
    void close();
}
