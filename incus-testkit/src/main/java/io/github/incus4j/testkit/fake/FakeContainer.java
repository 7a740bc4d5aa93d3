package io.github.incus4j.testkit.fake;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.model.ConsoleLogOptions;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.StorageType;
import io.github.incus4j.api.spi.ContainerDefaults;
import io.github.incus4j.api.internal.config.VolatileIdmaps;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.spi.InstanceRecord;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Objects;
import org.apiguardian.api.API;

/**
 * A container of the fake driver. Unprivileged containers get Incus's default id map at creation (host ids from
 * {@value #IDMAP_BASE}, {@value #IDMAP_SIZE} of them), kept in {@code volatile.idmap.*} as Incus keeps it; files are
 * stored with the ids the container sees. The console log is the console's ring buffer. Not simulated:
 * {@link #insertSeccompUnixDevice} and {@link #devptsFd()} (no kernel), idmapped mounts
 * ({@link #idmappedStorage} is {@link StorageType#NONE}).
 */
@API(status = EXPERIMENTAL)
public final class FakeContainer extends FakeInstance implements ContainerDefaults {
    /** The first host id of the default unprivileged map. */
    public static final long IDMAP_BASE = 1_000_000;
    /** The size of the default unprivileged map. */
    public static final long IDMAP_SIZE = 1_000_000_000;
    /** The default map as Incus stores it in {@code volatile.idmap.*} (one string shared by every container). */
    static final String DEFAULT_IDMAP_JSON = VolatileIdmaps.toJson(IdmapSet.ofRange(IDMAP_BASE, IDMAP_SIZE));

    FakeContainer(FakeInstances owner, InstanceRecord record) {
        super(owner, record);
    }

    FakeContainer(FakeContainer parent, InstanceArgs snapshot) {
        super(parent, snapshot);
    }

    @Override
    Map<String, String> createConfig() {
        if (ConfigValues.isTrue(expandedConfig().get("security.privileged"))) {
            return Map.of("volatile.idmap.base", "0", "volatile.idmap.next", "[]", "volatile.last_state.idmap", "[]");
        }
        return Map.of("volatile.idmap.base", Long.toString(IDMAP_BASE), "volatile.idmap.next", DEFAULT_IDMAP_JSON,
                "volatile.last_state.idmap", DEFAULT_IDMAP_JSON);
    }

    /** Starting applies the next map: it becomes the current one and the one the files are shifted with. */
    @Override
    void onStarted() {
        String next = localConfig().get("volatile.idmap.next");
        if (next != null && !next.equals(localConfig().get("volatile.idmap.current"))) {
            volatileSetInternal(Map.of("volatile.idmap.current", next, "volatile.last_state.idmap", next), false);
        }
    }

    /**
     * Reads (and optionally clears) the console ring buffer as liblxc does for Incus: a read returns what was
     * written since the previous read (up to {@code readMax} bytes) and consumes it; with {@code writeToLogFile},
     * what was read is appended to {@link #consoleBufferLogPath()}.
     */
    @Override
    public String consoleLog(ConsoleLogOptions options) {
        Objects.requireNonNull(options, "options");
        String text = options.readLog() ? tty().take(options.readMax()) : "";
        if (options.clearLog()) {
            tty().text(0, true);
        }
        if (options.readLog() && options.writeToLogFile() && !text.isEmpty()) {
            try {
                Path file = consoleBufferLogPath();
                Files.createDirectories(file.getParent());
                Files.write(file, text.getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("Cannot write " + consoleBufferLogPath(), e);
            }
        }
        return text;
    }
}
