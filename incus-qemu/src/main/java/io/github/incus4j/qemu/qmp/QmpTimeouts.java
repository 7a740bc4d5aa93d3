package io.github.incus4j.qemu.qmp;

import static org.apiguardian.api.API.Status.INTERNAL;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apiguardian.api.API;

/**
 * The reply deadline of each QMP command, as Incus's QMP package sets them: 500 ms for queries and everything not
 * listed, 5 s for block-job commands, 30 s for commands that change the machine (devices, {@code stop}, {@code cont},
 * {@code system_reset}) or wait on migration, 10 s for {@code screendump}.
 */
@API(status = INTERNAL)
public final class QmpTimeouts {
    /** The default: a silent QEMU must not hang a state query. */
    public static final Duration DEFAULT = Duration.ofMillis(500);

    private static final Map<String, Duration> TIMEOUTS = new HashMap<>();

    static {
        put(Duration.ofSeconds(5), List.of("block-commit", "block-dirty-bitmap-remove", "block-export-add",
                "block-job-cancel", "block_resize", "block_set_io_throttle", "blockdev-mirror", "blockdev-snapshot",
                "change-backing-file", "job-complete", "job-dismiss", "query-block-jobs", "nbd-server-start",
                "nbd-server-stop", "transaction"));
        put(Duration.ofSeconds(30), List.of("blockdev-add", "blockdev-del", "cont", "device_add", "device_del",
                "netdev_add", "netdev_del", "object-add", "stop", "system_reset", "query-migrate"));
        put(Duration.ofSeconds(10), List.of("screendump"));
    }

    private QmpTimeouts() {
    }

    private static void put(Duration timeout, List<String> commands) {
        commands.forEach(c -> TIMEOUTS.put(c, timeout));
    }

    /** How long {@link QmpClient#execute(String, Object)} waits for the reply to {@code command}. */
    public static Duration forCommand(String command) {
        return TIMEOUTS.getOrDefault(command, DEFAULT);
    }
}
