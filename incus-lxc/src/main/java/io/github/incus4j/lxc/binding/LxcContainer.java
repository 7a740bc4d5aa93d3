package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.lxc.binding.ffi.NativeApi.GetItemFn;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import jnr.ffi.Pointer;
import org.apiguardian.api.API;

/**
 * A handle on one container ({@code lxc_container_new}), released with {@link #close()} ({@code lxc_container_put}).
 *
 * <p>Calls go straight to liblxc's function-pointer slots. None of them forks the JVM: starting is left to
 * {@link LxcTool} and freezing to {@link Freezer}, because liblxc's own versions damage a calling JVM. A handle must not
 * be used after (or concurrently with) {@link #close()}.
 */
@API(status = INTERNAL)
public final class LxcContainer implements AutoCloseable {
    /** Offsets of the data members read here (LP64, stable since 4.0.5). */
    private static final int ERROR_STRING = 56;
    private static final int ERROR_NUM = 64;

    /** {@code struct lxc_console_log}: bool clear, bool read, uint64_t *read_max, char *data; then our read_max. */
    private static final int LOG_CLEAR = 0;
    private static final int LOG_READ = 1;
    private static final int LOG_READ_MAX = 8;
    private static final int LOG_DATA = 16;
    private static final int LOG_SIZE_VALUE = 24;
    private static final int LOG_ALLOCATION = 32;
    /** Linux's ENODATA (the same on every architecture liblxc's LP64 layout covers). */
    private static final int ENODATA = 61;

    private final Liblxc lxc;
    private final long address;
    private final Pointer struct;
    private final String name;
    private final String lxcpath;
    private final AtomicBoolean closed = new AtomicBoolean();

    LxcContainer(Liblxc lxc, long address, String name, String lxcpath) {
        this.lxc = lxc;
        this.address = address;
        this.struct = lxc.pointer(address);
        this.name = name;
        this.lxcpath = lxcpath;
    }

    /** The container's name. */
    public String name() {
        return name;
    }

    /** The lxcpath the container lives under. */
    public String lxcpath() {
        return lxcpath;
    }

    /** Whether the container has a configuration on disk. */
    public boolean isDefined() {
        return lxc.slot(struct(), Slot.IS_DEFINED).call(address) != 0;
    }

    /** liblxc's state name: {@code STOPPED}, {@code STARTING}, {@code RUNNING}, {@code STOPPING}, {@code ABORTING}... */
    public String state() {
        return lxc.slot(struct(), Slot.STATE).call(address);
    }

    /** Whether the container is running (any state but {@code STOPPED}). */
    public boolean isRunning() {
        return lxc.slot(struct(), Slot.IS_RUNNING).call(address) != 0;
    }

    /** The host pid of the container's init, or -1 when it is not running. */
    public int initPid() {
        return lxc.slot(struct(), Slot.INIT_PID).call(address);
    }

    /** A configuration value; empty when liblxc has none (unknown or unset key). */
    public Optional<String> getConfigItem(String key) {
        return readItem(Slot.GET_CONFIG_ITEM, key);
    }

    /**
     * Sets a configuration value in memory ({@link #saveConfig(String)} writes it).
     *
     * @throws InvalidArgumentException naming the key and value when liblxc refuses them
     */
    public void setConfigItem(String key, String value) {
        if (lxc.slot(struct(), Slot.SET_CONFIG_ITEM).call(address, key, value) == 0) {
            throw new InvalidArgumentException("Failed to set config item \"" + key + "\" to \"" + value + "\""
                    + lastError().describe());
        }
    }

    /**
     * Writes the in-memory configuration to {@code path}, or to the container's own config file when null.
     *
     * @throws IncusException when liblxc cannot write it
     */
    public void saveConfig(String path) {
        if (lxc.slot(struct(), Slot.SAVE_CONFIG).call(address, path) == 0) {
            throw new IncusException("Failed to save the configuration of container \"" + name + "\""
                    + (path == null ? "" : " to \"" + path + "\"") + lastError().describe());
        }
    }

    /** A configuration value as the running container's monitor has it; empty when not running or unknown. */
    public Optional<String> getRunningConfigItem(String key) {
        long value = lxc.slot(struct(), Slot.GET_RUNNING_CONFIG_ITEM).call(address, key);
        try {
            return Optional.ofNullable(lxc.string(value));
        } finally {
            lxc.free(value);
        }
    }

    /**
     * A cgroup file of the running container, e.g. {@code memory.limit_in_bytes} or {@code pids.max}, without the
     * trailing newline; empty when not running or when the file does not exist.
     */
    public Optional<String> getCgroupItem(String key) {
        return readItem(Slot.GET_CGROUP_ITEM, key).map(String::stripTrailing);
    }

    /**
     * Writes a cgroup file of the running container.
     *
     * @throws InvalidArgumentException naming the key and value when the write fails
     */
    public void setCgroupItem(String key, String value) {
        if (lxc.slot(struct(), Slot.SET_CGROUP_ITEM).call(address, key, value) == 0) {
            throw new InvalidArgumentException("Failed to set cgroup item \"" + key + "\" to \"" + value
                    + "\" on container \"" + name + "\"" + lastError().describe());
        }
    }

    /**
     * liblxc's {@code freeze()}: writes the freezer state, polls it with one-second sleeps until it holds, then tells
     * the monitor, whose state {@code lxc-info}/{@code lxc-ls} report. Called once {@link Freezer} has frozen the
     * cgroup, it finds the state at once and only does the telling.
     */
    public boolean freeze() {
        return lxc.slot(struct(), Slot.FREEZE).call(address) != 0;
    }

    /** liblxc's {@code unfreeze()}, the counterpart of {@link #freeze()} (thawing is immediate on both cgroup versions). */
    public boolean unfreeze() {
        return lxc.slot(struct(), Slot.UNFREEZE).call(address) != 0;
    }

    /** Kills the container (no clean halt); true when it is stopped afterwards. */
    public boolean stop() {
        return lxc.slot(struct(), Slot.STOP).call(address) != 0;
    }

    /**
     * Asks init to halt ({@code lxc.signal.halt}) and waits up to {@code timeoutSeconds} (-1: forever, 0: do not wait).
     *
     * @return true when the container stopped within the timeout
     */
    public boolean shutdown(int timeoutSeconds) {
        return lxc.slot(struct(), Slot.SHUTDOWN).call(address, timeoutSeconds) != 0;
    }

    /**
     * Waits until the container reaches {@code state} (e.g. {@code RUNNING}, {@code STOPPED}) for up to
     * {@code timeoutSeconds} (-1: forever).
     *
     * @return true when the state was reached
     */
    public boolean wait(String state, int timeoutSeconds) {
        if (state == null || state.isEmpty()) {
            throw new InvalidArgumentException("Invalid container state \"" + state + "\"");
        }
        return lxc.slot(struct(), Slot.WAIT).call(address, state, timeoutSeconds) != 0;
    }

    /**
     * Deletes the stopped container's configuration and rootfs.
     *
     * @throws IncusException when liblxc cannot (running container, busy files...)
     */
    public void destroy() {
        if (lxc.slot(struct(), Slot.DESTROY).call(address) == 0) {
            throw new IncusException("Failed to destroy container \"" + name + "\"" + lastError().describe());
        }
    }

    /** Whether this liblxc can read the console ring buffer ({@link #consoleLog(boolean, boolean, long)}). */
    public boolean supportsConsoleLog() {
        return lxc.supports(Slot.CONSOLE_LOG);
    }

    /**
     * Reads and/or clears the running container's console ring buffer (needs {@code lxc.console.buffer.size}).
     *
     * @param clear clear the buffer
     * @param read read it
     * @param readMax the most bytes to read
     * @return what was read ({@code ""} when {@code read} is false or the buffer is empty)
     * @throws io.github.incus4j.api.NotSupportedException when liblxc lacks the {@code console_log} extension
     * @throws IncusException when liblxc fails (no buffer configured, not running)
     */
    public String consoleLog(boolean clear, boolean read, long readMax) {
        if (readMax < 0) {
            throw new InvalidArgumentException("Invalid console log size " + readMax);
        }
        var fn = lxc.slot(struct(), Slot.CONSOLE_LOG);
        long log = lxc.malloc(LOG_ALLOCATION);
        try {
            Pointer p = lxc.pointer(log);
            p.setMemory(0, LOG_ALLOCATION, (byte) 0);
            p.putByte(LOG_CLEAR, (byte) (clear ? 1 : 0));
            p.putByte(LOG_READ, (byte) (read ? 1 : 0));
            p.putLong(LOG_SIZE_VALUE, readMax);
            p.putAddress(LOG_READ_MAX, log + LOG_SIZE_VALUE);
            int ret = fn.call(address, log);
            long data = p.getAddress(LOG_DATA);
            try {
                if (ret == -ENODATA) {
                    return ""; // liblxc's answer for an empty ring buffer
                }
                if (ret < 0) {
                    throw new IncusException("Failed to read the console log of container \"" + name + "\": error "
                            + -ret + lastError().describe());
                }
                long size = p.getLong(LOG_SIZE_VALUE);
                return read && data != 0 ? lxc.string(data, (int) Math.min(size, Integer.MAX_VALUE)) : "";
            } finally {
                lxc.free(data);
            }
        } finally {
            lxc.free(log);
        }
    }

    /**
     * A pidfd of the running container's init (liblxc's {@code init_pidfd}, passed by the monitor, which holds it
     * since it started init: it cannot name a process that reused the pid), or -1 when liblxc lacks the {@code pidfd}
     * extension or the container is not running. The caller closes it.
     */
    public int initPidfd() {
        if (!lxc.supports(Slot.INIT_PIDFD)) {
            return -1;
        }
        int fd = lxc.slot(struct(), Slot.INIT_PIDFD).call(address);
        return fd < 0 ? -1 : fd;
    }

    /**
     * A descriptor on the running container's {@code /dev/pts} (liblxc's {@code devpts_fd}, passed by the monitor
     * over its command socket: no fork); the caller closes it.
     *
     * @throws io.github.incus4j.api.NotSupportedException when liblxc lacks the {@code devpts_fd} extension
     * @throws IncusException when the monitor has none (not running, or started without a devpts of its own)
     */
    public int devptsFd() {
        int fd = lxc.slot(struct(), Slot.DEVPTS_FD).call(address);
        if (fd < 0) {
            throw new IncusException("Failed to get the devpts file descriptor of container \"" + name + "\": error "
                    + -fd + lastError().describe());
        }
        return fd;
    }

    /** The last error liblxc recorded on this handle. */
    public LxcError lastError() {
        Pointer s = struct();
        return new LxcError(lxc.string(s.getAddress(ERROR_STRING)), s.getInt(ERROR_NUM));
    }

    /** Releases liblxc's reference; idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            lxc.put(address);
        }
    }

    /** Calls a get_config_item-like slot: once with (NULL, 0) for the length, then with a buffer of that size. */
    private Optional<String> readItem(Slot<GetItemFn> slot, String key) {
        if (key == null || key.isEmpty()) {
            throw new InvalidArgumentException("Invalid config key \"" + key + "\"");
        }
        GetItemFn fn = lxc.slot(struct(), slot);
        while (true) {
            int length = fn.call(address, key, 0, 0);
            if (length <= 0) {
                return length < 0 ? Optional.empty() : Optional.of("");
            }
            long buffer = lxc.malloc(length + 1L);
            try {
                int filled = fn.call(address, key, buffer, length + 1);
                if (filled < 0) {
                    return Optional.empty();
                }
                if (filled <= length) {
                    return Optional.of(lxc.string(buffer, filled));
                }
                // The value grew between the two calls: ask again.
            } finally {
                lxc.free(buffer);
            }
        }
    }

    private Pointer struct() {
        if (closed.get()) {
            throw new IllegalStateException("Container handle \"" + name + "\" is closed");
        }
        return struct;
    }

    @Override
    public String toString() {
        return "LxcContainer[" + name + " in " + lxcpath + "]";
    }
}
