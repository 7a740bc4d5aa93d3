package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import org.apiguardian.api.API;

/**
 * Options of a container console-log read ({@code liblxc.ConsoleLogOptions}): read up to {@code readMax} bytes of
 * the ring buffer, optionally clear it, optionally append what was read to the log file.
 */
@API(status = EXPERIMENTAL)
public record ConsoleLogOptions(boolean clearLog, boolean readLog, long readMax, boolean writeToLogFile) {
    /** Read what the buffer holds; as liblxc's ring buffer read, this consumes it (the next read gets what follows). */
    public static final ConsoleLogOptions READ = new ConsoleLogOptions(false, true, 0, false);
    /** Clear the buffer without reading it. */
    public static final ConsoleLogOptions CLEAR = new ConsoleLogOptions(true, false, 0, false);
}
