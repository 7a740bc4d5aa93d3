package io.github.incus4j.qemu;

import static io.github.incus4j.qemu.QemuHost.deleteQuietly;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.OperationTimeoutException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.qemu.qmp.MonitorDisconnectedException;
import io.github.incus4j.qemu.qmp.QmpClient;
import io.github.incus4j.qemu.qmp.QmpException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A VM's running state as a file, as Incus keeps it in {@code StatePath()}: QEMU's migration stream, gzip-compressed.
 * QEMU 7.2 has no {@code file:} URI, so the stream goes through {@code exec:} (QEMU runs the command with
 * {@code /bin/sh -c}): {@code migrate} to {@code gzip > file} saves, {@code migrate-incoming} from
 * {@code gzip -d < file} into a QEMU started with {@link #INCOMING} loads. Both follow {@code query-migrate}.
 */
final class QemuState {
    private static final System.Logger LOG = System.getLogger(QemuState.class.getName());
    /** The arguments that make a QEMU wait for {@code migrate-incoming} instead of booting. */
    static final List<String> INCOMING = List.of("-incoming", "defer");
    /** How long a save or a load may take: a guest of several GiB under TCG on a busy host. */
    static final Duration TRANSFER_TIMEOUT = Duration.ofMinutes(10);
    private static final long POLL_MILLIS = 20;
    /** The state file's name in a snapshot's directory (as {@code StatePath()} is the instance's). */
    static final String FILE = "state";

    private QemuState() {
    }

    /**
     * Incus's {@code checkStateStorage}: when the root disk sets {@code size.state} (the room for the state file),
     * the memory must fit in it.
     *
     * @throws InvalidArgumentException with Incus's text otherwise
     */
    static void checkStorage(Map<String, Device> devices, long memoryBytes) {
        for (Device d : devices.values()) {
            if ("disk".equals(d.type()) && "/".equals(d.get("path"))) {
                String room = d.get("size.state");
                if (room != null && !room.isEmpty() && ConfigValues.parseByteSize(room) < memoryBytes) {
                    throw new InvalidArgumentException("Stateful stop and snapshots require the instance "
                            + "limits.memory be less than or equal to the root disk size.state property");
                }
            }
        }
    }

    /**
     * Saves the running state of the VM behind {@code qmp} to {@code file} (replaced). The VM ends paused
     * ({@code postmigrate}) with its disks handed over: {@code cont} takes them back, {@code quit} ends it.
     *
     * @return how long the save took
     */
    static Duration save(QmpClient qmp, Path file) {
        long start = System.nanoTime();
        Path partial = file.resolveSibling(file.getFileName() + ".partial");
        try {
            PrivateFiles.createDirectories(file.getParent());
            Files.deleteIfExists(partial);
            // umask 077: the guest's memory is private, and a daemonized QEMU's own umask is 027.
            run(qmp, "migrate", Map.of("uri", "exec:umask 077 && gzip -1 -c > " + quote(partial)),
                    "Failed saving the VM state");
            Files.move(partial, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw HostIo.failure("Failed saving the VM state", e);
        } finally {
            deleteQuietly(partial);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        LOG.log(System.Logger.Level.DEBUG, "Saved VM state to {0} ({1} bytes) in {2} ms", file, size(file),
                took.toMillis());
        return took;
    }

    /**
     * Loads {@code file} into the QEMU behind {@code qmp}, which was started with {@link #INCOMING}. The VM ends
     * paused: the caller resumes it with {@code cont}. QEMU 7.2 exits when a load fails; the error then says so.
     *
     * @return how long the load took
     */
    static Duration load(QmpClient qmp, Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IncusException("Failed restoring the VM state: no saved state at " + file);
        }
        long start = System.nanoTime();
        run(qmp, "migrate-incoming", Map.of("uri", "exec:gzip -d -c < " + quote(file)),
                "Failed restoring the VM state");
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        LOG.log(System.Logger.Level.DEBUG, "Loaded VM state from {0} in {1} ms", file, took.toMillis());
        return took;
    }

    /**
     * Incus's stateful snapshot of a running VM: paused, the disk snapshot taken by {@code disk}, the state saved to
     * {@code file}, both of the same instant; the VM runs again after (unless it was frozen before).
     */
    static void snapshot(QmpClient qmp, Runnable disk, Path file) {
        boolean wasRunning = "running".equals(qmp.execute("query-status").path("status").asText());
        if (wasRunning) {
            qmp.execute("stop");
        }
        try {
            // The disk first: once the state is saved, QEMU has handed its disks over until the next cont.
            disk.run();
            save(qmp, file);
        } finally {
            if (wasRunning) {
                qmp.execute("cont");
            }
        }
    }

    /**
     * What a restore does with the state of snapshot directory {@code snapshotDir}: a stateful snapshot's state goes
     * to {@code statePath} for the start that follows; otherwise no saved state is left to load.
     */
    static void restoreFrom(Path snapshotDir, Path statePath, boolean stateful) {
        Path saved = snapshotDir.resolve(FILE);
        try {
            if (stateful && Files.isRegularFile(saved)) {
                Files.copy(saved, statePath, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } else {
                Files.deleteIfExists(statePath);
            }
        } catch (IOException e) {
            throw HostIo.failure("Cannot restore the VM state of " + snapshotDir, e);
        }
    }

    /**
     * Runs a migration command ({@code migrate} with {@code uri}, or {@code migrate-incoming}) and follows
     * {@code query-migrate} until it completes, fails or {@link #TRANSFER_TIMEOUT} passes (the migration is then
     * cancelled).
     */
    static void run(QmpClient qmp, String command, Map<String, Object> args, String failure) {
        try {
            qmp.execute(command, args);
            long deadline = System.nanoTime() + TRANSFER_TIMEOUT.toNanos();
            while (true) {
                JsonNode info = qmp.execute("query-migrate");
                String status = info.path("status").asText("none");
                switch (status) {
                    case "completed":
                        return;
                    case "failed":
                    case "cancelled":
                        throw new IncusException(failure + ": " + info.path("error-desc").asText(status));
                    default:
                        break;
                }
                if (System.nanoTime() > deadline) {
                    cancel(qmp);
                    throw new OperationTimeoutException(failure + ": not completed within "
                            + TRANSFER_TIMEOUT.toMinutes() + " minutes (status " + status + ")");
                }
                Thread.sleep(POLL_MILLIS);
            }
        } catch (MonitorDisconnectedException e) {
            throw new IncusException(failure + ": QEMU exited (see qemu.log)", e);
        } catch (QmpException e) {
            throw new IncusException(failure + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cancel(qmp);
            throw new IncusException(failure + ": interrupted", e);
        }
    }

    private static void cancel(QmpClient qmp) {
        try {
            qmp.execute("migrate_cancel");
        } catch (QmpException e) {
            LOG.log(System.Logger.Level.DEBUG, "migrate_cancel: {0}", e.getMessage());
        }
    }

    /** {@code p} quoted for {@code /bin/sh}. */
    static String quote(Path p) {
        return "'" + p.toAbsolutePath().toString().replace("'", "'\\''") + "'";
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return -1;
        }
    }
}
