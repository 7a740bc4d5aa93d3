package io.github.incus4j.testkit.fake;

import java.util.function.Supplier;

/**
 * A value made on first use, under the lock of the object it belongs to, then read without locking; it can be
 * replaced, and {@link #peek} reads it without making it. The fake keeps idle and reopened instances light with
 * it: a console, an image's files or a tree written to disk exist in memory only once something uses them.
 */
final class Lazy<T> {
    private final Object lock;
    private final Supplier<T> make;
    private volatile T value;

    Lazy(Object lock, Supplier<T> make) {
        this.lock = lock;
        this.make = make;
    }

    T get() {
        T v = value;
        return v != null ? v : make();
    }

    private T make() {
        synchronized (lock) {
            if (value == null) {
                value = make.get();
            }
            return value;
        }
    }

    /** The value if it was made, else {@code null}. */
    T peek() {
        return value;
    }

    void set(T v) {
        value = v;
    }
}
