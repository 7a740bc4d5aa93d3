package io.github.incus4j.api;

import static org.apiguardian.api.API.Status.STABLE;

import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.io.Connection;
import io.github.incus4j.api.exec.ConsoleSession;
import io.github.incus4j.api.migration.MigrateReceiveArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.operation.InstanceOperation;
import io.github.incus4j.api.operation.Operation;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.InstanceBackup;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.model.RunConfig;
import io.github.incus4j.api.rest.ApiInstanceFull;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.rest.ApiRenderable;
import io.github.incus4j.api.rest.Render;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.NetworkInterface;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apiguardian.api.API;

/**
 * An Incus instance, container or virtual machine ({@code instance.Instance}), with Incus's semantics: the same
 * preconditions, state codes, error texts and JSON. Every method may throw an {@link IncusException}; the subtype
 * says what to do about it. Handles are cheap and thread-safe; state-changing actions take the instance's operation
 * lock, so a conflicting concurrent action fails with {@link BusyException} instead of interleaving.
 */
@API(status = STABLE)
public interface Instance extends ConfigReader {

    // ---- Instance actions -------------------------------------------------------------------------------------

    /** Pauses every process of the instance. */
    void freeze();

    /**
     * Asks the instance to shut down cleanly and waits at most {@code timeout} for it to stop.
     *
     * @throws OperationTimeoutException if it is still running after {@code timeout}; the caller then decides
     *     (usually {@link #stop(boolean) stop(false)})
     */
    void shutdown(Duration timeout);

    /** Starts the instance; {@code stateful} restores a state saved by {@code stop(true)} (needs {@code migration.stateful}). */
    void start(boolean stateful);

    /** Stops the instance at once; {@code stateful} saves its running state first (needs {@code migration.stateful}). */
    void stop(boolean stateful);

    /** Stops (cleanly within {@code timeout}, or at once for {@link Duration#ZERO}) and starts again. */
    void restart(Duration timeout);

    /** Recreates the root filesystem from {@code image} (or empty when {@code null}), keeping the config. */
    void rebuild(Image image, Operation op);

    /** Resumes a frozen instance. */
    void unfreeze();

    /** Re-applies a device's config to the running instance. */
    void reloadDevice(String devName);

    /** Registers the instance's devices with their host-side handlers. */
    void registerDevices();

    /** The driver that runs this instance. */
    Info info();

    /** Whether the instance runs without an id map ({@code security.privileged}); always false for VMs. */
    boolean isPrivileged();

    // ---- Snapshots, migration, backups ------------------------------------------------------------------------

    /** Restores this instance to the snapshot {@code source} (one of {@link #snapshots()}). */
    void restore(Instance source, boolean stateful);

    /**
     * Takes a snapshot named {@code name} (stored as {@code <instance>/<name>}).
     *
     * @param expiry when the snapshot expires, or {@code null} for never
     * @param stateful also save the running state (needs {@code migration.stateful} and a running instance)
     */
    void snapshot(String name, Instant expiry, boolean stateful);

    /** The snapshots, oldest first (by creation date, then id); empty for a snapshot. */
    List<Instance> snapshots();

    /** The backups of the instance. */
    List<InstanceBackup> backups();

    /** Rewrites the instance's durable record ({@code backup.yaml}). */
    void updateBackupFile();

    /** Whether the instance can move while running ({@code migration.stateful}). */
    boolean canLiveMigrate();

    // ---- Config handling --------------------------------------------------------------------------------------

    /** Renames a stopped instance; {@code applyTemplateTrigger} defers the {@code rename} templates to next start. */
    void rename(String newName, boolean applyTemplateTrigger);

    /**
     * Replaces the instance's definition (config, devices, profiles, description, ephemeral). Running instances get
     * the live-updatable keys applied at once; the rest is refused as Incus refuses it.
     */
    void update(InstanceArgs args, boolean userRequested);

    /** Deletes a stopped instance and its snapshots; {@code force} overrides {@code security.protection.delete}. */
    void delete(boolean force);

    /**
     * Writes the stopped instance as an Incus image: a unified tarball to {@code meta} when {@code rootfs} is
     * {@code null}, else a split image (metadata tarball to {@code meta}, root filesystem to {@code rootfs}).
     *
     * @param properties merged into the image's {@code properties}
     * @param expiration the image's expiry, or {@code null} for none
     * @param tracker progress, or {@code null}
     * @return the {@code metadata.yaml} written
     */
    ImageMetadata export(OutputStream meta, OutputStream rootfs, Map<String, String> properties, Instant expiration,
            ProgressTracker tracker);

    /**
     * {@link #export(OutputStream, OutputStream, Map, Instant, ProgressTracker)} with the tarballs compressed as
     * {@code incus publish --compression} does: the unified tarball, or a split image's metadata tarball and
     * root filesystem tarball (a VM's root filesystem, its qcow2 disk, is written as it is); with
     * {@link ImageCompression#SQUASHFS}, each becomes a squashfs image instead, as Incus makes it. Nothing is written
     * when the export is refused; when it fails part way, the compressed stream is left unfinished (a squashfs image
     * is not written at all), so that it cannot be taken for a complete image. The caller's streams stay open.
     *
     * @param compression the compression; {@code null} for Incus's default, {@link ImageCompression#GZIP}
     */
    default ImageMetadata export(OutputStream meta, OutputStream rootfs, ImageCompression compression,
            Map<String, String> properties, Instant expiration, ProgressTracker tracker) {
        ImageCompression c = compression == null ? ImageCompression.GZIP : compression;
        if (meta == null) {
            throw new InvalidArgumentException("No output stream for the image");
        }
        OutputStream m = io.github.incus4j.api.internal.image.ImageTar.compressing(meta, c);
        OutputStream r = rootfs == null ? null : type() == InstanceType.VM ? rootfs
                : io.github.incus4j.api.internal.image.ImageTar.compressing(rootfs, c);
        try {
            ImageMetadata written = export(m, r, properties, expiration, tracker);
            m.close();
            if (r != null && r != rootfs) {
                r.close();
            }
            return written;
        } catch (java.io.IOException e) {
            abandonExport(m, r);
            throw new IncusException("Cannot finish the " + c.value() + " compression of the image: "
                    + e.getMessage(), e);
        } catch (RuntimeException e) {
            abandonExport(m, r); // a squashfs export's temporary files go too
            throw e;
        }
    }

    private static void abandonExport(OutputStream meta, OutputStream rootfs) {
        io.github.incus4j.api.internal.image.ImageTar.abandon(meta);
        if (rootfs != null) {
            io.github.incus4j.api.internal.image.ImageTar.abandon(rootfs);
        }
    }

    // ---- Live configuration -----------------------------------------------------------------------------------

    /** The instance's cgroup ({@link NotSupportedException} for VMs, as Incus). */
    CGroup cgroup();

    /** Sets or (with an empty value) removes {@code volatile.*} keys, without the usual validation. */
    void volatileSet(Map<String, String> changes);

    // ---- File handling ----------------------------------------------------------------------------------------

    /** A raw connection speaking the SFTP protocol to a server confined to the instance's filesystem. */
    Connection fileSftpConn();

    /** An SFTP client on {@link #fileSftpConn()}; close it when done. */
    SftpClient fileSftp();

    // ---- Console and exec -------------------------------------------------------------------------------------

    /** Attaches to the console: {@link ConsoleTypes#CONSOLE}, or {@link ConsoleTypes#VGA} for VMs with SPICE. */
    ConsoleSession console(String protocol);

    /**
     * Starts a command in the running instance. The streams are pumped by driver-owned daemon threads until the
     * command ends; {@code stdin} may be {@code null} (empty input), output streams may be {@code null} (discarded).
     */
    Cmd exec(ExecRequest request, InputStream stdin, OutputStream stdout, OutputStream stderr);

    // ---- Status -----------------------------------------------------------------------------------------------

    /** The REST representation ({@code ApiInstance}, or {@code ApiInstanceSnapshot} for a snapshot) and its ETag. */
    Render<ApiRenderable> render();

    /** As {@link #render()}, with snapshot sizes filled in. */
    Render<ApiRenderable> renderWithUsage();

    /** The instance with its state, snapshots and backups. */
    Render<ApiInstanceFull> renderFull(List<NetworkInterface> hostInterfaces);

    /** The live state: status, CPU, memory, network, disks, PID, processes. */
    ApiInstanceState renderState(List<NetworkInterface> hostInterfaces);

    /** Anything but Stopped or Error. */
    default boolean isRunning() {
        return statusCode().isRunning();
    }

    /** Whether the instance is frozen (paused). */
    default boolean isFrozen() {
        return statusCode() == StatusCode.FROZEN;
    }

    boolean isEphemeral();

    boolean isSnapshot();

    /** Whether a saved running state waits to be restored by {@code start(true)}. */
    boolean isStateful();

    /**
     * Takes the instance's operation lock for exclusive work ({@code create}) on a stopped instance; close it to
     * release.
     *
     * @throws InstanceStateException {@code Instance is running}
     * @throws BusyException another operation holds the instance
     */
    InstanceOperation lockExclusive();

    // ---- Hooks ------------------------------------------------------------------------------------------------

    /** Applies run-time device changes. */
    void deviceEventHandler(RunConfig runConfig);

    /** Handles a liblxc hook ({@link Hooks}); VMs answer {@link NotSupportedException}. */
    void onHook(String hookName, Map<String, String> args);

    // ---- Properties -------------------------------------------------------------------------------------------

    /** The cluster member the instance lives on (empty outside a cluster). */
    String location();

    /** {@code volatile.cloud-init.instance-id}, else the instance name. */
    String cloudInitId();

    String description();

    Instant creationDate();

    /** When the instance last started ({@link Instant#EPOCH} if never). */
    Instant lastUsedDate();

    List<Profile> profiles();

    /** The PID of the instance's init (or of QEMU) on the host, -1 when not running. */
    int initPid();

    /** The upper-case status text: {@code RUNNING}, {@code STOPPED}, {@code FROZEN}, {@code READY}, {@code ERROR}. */
    String state();

    /** The status code behind {@link #state()}. */
    StatusCode statusCode();

    /** A snapshot's expiry; empty for instances and for snapshots that never expire. */
    Optional<Instant> expiryDate();

    /** Fills a NIC's generated keys ({@code hwaddr}, and {@code name} for containers) from or into volatile config. */
    Device fillNetworkDevice(String name, Device device);

    /** What Incus hashes for {@code If-Match}: architecture, ephemeral, profiles, sorted devices, sorted config. */
    List<Object> etag();

    // ---- Paths ------------------------------------------------------------------------------------------------

    /** The instance's directory. */
    Path path();

    Path execOutputPath();

    Path rootfsPath();

    Path templatesPath();

    Path statePath();

    Path logFilePath();

    Path consoleBufferLogPath();

    Path logPath();

    Path runPath();

    Path devicesPath();

    // ---- Storage and migration --------------------------------------------------------------------------------

    /** The storage pool of the root disk. */
    String storagePool();

    /** How the instance moves: {@code migrate}, {@code live-migrate}, {@code stop}, or {@code cluster.evacuate}. */
    String canMigrate();

    /** Sends the instance (and snapshots when asked) to a receiver over {@code args}' connections. */
    void migrateSend(MigrateSendArgs args);

    /** Receives an instance sent by {@link #migrateSend}; this handle is the (new) target. */
    void migrateReceive(MigrateReceiveArgs args);

    // ---- Progress ---------------------------------------------------------------------------------------------

    /** The user-visible operation progress is reported into, or {@code null} to detach. */
    void setOperation(Operation op);

    Optional<Operation> operation();

    /** Records {@code trigger} in {@code volatile.apply_template} (unless one is pending) for the next start. */
    void deferTemplateApply(TemplateTrigger trigger);

    /** Current metrics, labelled {@code project}, {@code name}, {@code type}. */
    MetricSet metrics(List<NetworkInterface> hostInterfaces);
}
