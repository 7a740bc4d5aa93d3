package io.github.incus4j.lxc;

import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.PowerState;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.config.NameRules;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.internal.migration.MigrationWire;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.migration.MigrateArgs;
import io.github.incus4j.api.migration.MigrateSendArgs;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.api.spi.InstanceRecord;
import io.github.incus4j.lxc.binding.LxcContainer;
import io.github.incus4j.lxc.binding.LxcTool;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Sends one container over {@link MigrationWire}: its record (with the snapshots when asked), its {@code base.conf}
 * in the header, then the root filesystem and the snapshots' with ids unshifted by the disk id map (as inside the
 * container), so that the target shifts them by its own map. A running container is sent live with CRIU pre-dumps
 * and a final dump ({@link CriuStream}), and restored from its own dump should the migration fail past it.
 */
final class LxcMigrationSend {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstance.class.getName());
    /** The migration header field carrying {@code base.conf}, the lxc settings the root filesystem came with. */
    static final String BASE_CONF_FIELD = "lxc.base.conf";

    private final LxcContainerInstance instance;
    private final LxcInstances driver;
    private final LxcStorage storage;
    private final LxcStatus status;
    private final LxcPower power;

    LxcMigrationSend(LxcContainerInstance instance, LxcInstances driver, LxcStorage storage, LxcStatus status,
            LxcPower power) {
        this.instance = instance;
        this.driver = driver;
        this.storage = storage;
        this.status = status;
        this.power = power;
    }

    /**
     * Sends the stopped container; a running one is sent live with CRIU ({@link #sendLive}), or as it is when
     * {@code allowInconsistent} (its files may change meanwhile).
     */
    void send(MigrateSendArgs sendArgs) {
        MigrateArgs m = sendArgs.common();
        boolean live = false;
        if (instance.isRunning()) {
            if (m.live()) {
                try {
                    driver.criu().require("Unable to perform container live migration");
                } catch (NotSupportedException noCriu) {
                    throw MigrationWire.abandon(m, noCriu);
                }
                live = true;
            } else if (!sendArgs.allowInconsistent()) {
                throw MigrationWire.abandon(m, new InstanceStateException("Instance is running: stop it before "
                        + "migrating it, migrate it live, or allow an inconsistent copy", instance.statusCode()));
            }
        }
        List<InstanceArgs> snaps = m.snapshots() ? instance.snapshotDefinitions() : List.of();
        IdmapSet map = instance.diskIdmap().orElse(null);
        Map<String, ImageLayout.RootfsWriter> snapTrees = new LinkedHashMap<>();
        for (InstanceArgs snap : snaps) {
            snapTrees.put(NameRules.snapshotPart(snap.name()), ImageRootfs.writer(storage.snapshotRootfs(snap), map));
        }
        String base;
        try {
            base = Files.readString(instance.lxcDir().resolve("base.conf"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw MigrationWire.abandon(m, new UncheckedIOException("Cannot read the lxc configuration of "
                    + instance.lxcName(), e));
        }
        Map<String, String> header = MigrationWire.header(LxcDriver.NAME, instance.type(),
                new InstanceRecord(instance.args(), snaps), live, CriuStream.FORMAT,
                live ? Map.of(BASE_CONF_FIELD, base, MigrationWire.READY, "true") : Map.of(BASE_CONF_FIELD, base));
        ImageMetadata metadata = LxcStorage.imageMetadata(instance);
        Map<String, byte[]> templates = LxcStorage.templateFiles(instance);
        String what = "Migration of " + ErrorTexts.quote(instance.name());
        if (live) {
            sendLive(m, header, map, metadata, templates, snapTrees, what);
            return;
        }
        MigrationWire.send(m, header, driver.migrationWait(), what,
                out -> MigrationWire.writeTree(out, metadata, templates,
                        ImageRootfs.writer(instance.rootfsPath(), map), snapTrees));
    }

    /**
     * A live migration, as Incus's {@code migrateSendLive}: the root filesystem while the container runs; then over
     * the state connection, when {@code migration.incremental.memory} is on, CRIU pre-dumps while it runs (each
     * writing only the pages changed since the previous one) until one skips more than
     * {@code migration.incremental.memory.goal} percent of the pages or
     * {@code migration.incremental.memory.iterations} is reached; then the final dump, which stops the container,
     * and the files changed since the first pass. The target restores the container from the final dump. The
     * downtime runs from the final dump to the target's restore. Should anything fail after the final dump, the
     * source is restored from its own dump, so it runs on.
     */
    private void sendLive(MigrateArgs m, Map<String, String> header, IdmapSet map, ImageMetadata metadata,
            Map<String, byte[]> templates, Map<String, ImageLayout.RootfsWriter> snapTrees, String what) {
        Path rootfs = instance.rootfsPath();
        String name = instance.name();
        Path work = instance.path().resolve(".migration-state");
        Instant since = Instant.now().minusSeconds(1); // timestamp granularity and clock steps
        boolean[] finalDumped = {false};
        long[] downtimeStart = {0};
        try {
            AbstractInstances.deleteTree(work);
            MigrationWire.send(m, header, driver.migrationWait(), what, new MigrationWire.Sender() {
                @Override
                public void filesystem(OutputStream out) throws IOException {
                    MigrationWire.writeTree(out, metadata, templates,
                            ImageRootfs.writer(rootfs, map, null, new HashSet<>()), snapTrees);
                }

                @Override
                public void state(OutputStream out) throws IOException {
                    DataOutputStream d = new DataOutputStream(new BufferedOutputStream(out, 1 << 16));
                    String prev = preDumps(work, d);
                    Path fin = work.resolve(CriuStream.FINAL);
                    Files.createDirectories(fin);
                    driver.unwatchForStop(instance);
                    downtimeStart[0] = System.nanoTime();
                    finalDumped[0] = true;
                    try {
                        LxcTool.checkpoint(driver.lxcpath(), instance.lxcName(), fin, false, true,
                                prev == null ? null : "../" + prev, LxcPower.CRIU_TIMEOUT,
                                driver.criu().options(fin));
                    } catch (IncusException e) {
                        throw Criu.failure(e, fin, "dump.log");
                    } finally {
                        status.changed(); // the final dump stopped it (or failed on the way)
                    }
                    long dumped = System.nanoTime();
                    CriuStream.writeDir(d, fin);
                    d.writeByte(CriuStream.TREE);
                    Set<String> names = new HashSet<>();
                    OutputStream chunks = CriuStream.chunked(d);
                    MigrationWire.writeTree(chunks, null, Map.of(),
                            ImageRootfs.writer(rootfs, map, since, names), Map.of());
                    chunks.close();
                    List<String> manifest = new ArrayList<>();
                    for (String n : names) {
                        if (n.startsWith("rootfs/")) {
                            manifest.add(n.substring("rootfs/".length()));
                        }
                    }
                    CriuStream.writeManifest(d, manifest);
                    d.writeByte(CriuStream.END);
                    d.flush();
                    LOG.log(System.Logger.Level.INFO, "{0}: final dump {1} ms, sent {2} ms after it", name,
                            (dumped - downtimeStart[0]) / 1_000_000, (System.nanoTime() - dumped) / 1_000_000);
                }
            });
            LOG.log(System.Logger.Level.INFO, "Live migration of {0}: down for {1} ms (final dump to restored)",
                    name, (System.nanoTime() - downtimeStart[0]) / 1_000_000);
            try (LxcContainer c = instance.open()) {
                c.wait("STOPPED", LxcPower.STOP_WAIT_SECONDS);
            }
            instance.recordVolatiles(Map.of("volatile.last_state.power", PowerState.STOPPED), false);
        } catch (RuntimeException e) {
            if (finalDumped[0]) {
                restoreAfterFailure(work.resolve(CriuStream.FINAL), e);
            }
            throw e;
        } finally {
            AbstractInstances.deleteTree(work);
        }
    }

    /**
     * The pre-dumps of a live migration into {@code work/000}, {@code work/001}, ..., each sent once written;
     * returns the last one's name (null: none, incremental memory is off).
     */
    private String preDumps(Path work, DataOutputStream d) throws IOException {
        Map<String, String> config = instance.expandedConfig();
        if (!ConfigValues.isTrue(config.get("migration.incremental.memory"))) {
            return null;
        }
        if (!driver.criu().dirtyTracking()) {
            // As Incus: without CRIU's memory tracking the migration goes on with the final dump alone.
            LOG.log(System.Logger.Level.WARNING, "{0}: no pre-dumps, CRIU cannot track dirty memory on this host"
                    + " (kernel without CONFIG_MEM_SOFT_DIRTY): the whole memory is dumped while stopped",
                    instance.name());
            return null;
        }
        // Validated as unsigned 32-bit numbers; Incus's defaults.
        long iterations = Long.parseLong(config.getOrDefault("migration.incremental.memory.iterations", "10"));
        long goal = Long.parseLong(config.getOrDefault("migration.incremental.memory.goal", "70"));
        String prev = null;
        for (int i = 0; i + 1 < Math.min(iterations, 1000); i++) { // three-digit directory names
            Path dir = work.resolve(CriuStream.predump(i));
            Files.createDirectories(dir);
            long t0 = System.nanoTime();
            try {
                LxcTool.checkpoint(driver.lxcpath(), instance.lxcName(), dir, true, false,
                        prev == null ? null : "../" + prev, LxcPower.CRIU_TIMEOUT, driver.criu().options(dir));
            } catch (IncusException e) {
                throw Criu.failure(e, dir, "pre-dump.log");
            }
            CriuStream.writeDir(d, dir);
            prev = dir.getFileName().toString();
            long[] pages = CriuStream.pagesWrittenSkipped(dir);
            LOG.log(System.Logger.Level.DEBUG, "{0}: pre-dump {1} in {2} ms, pages written/skipped {3}",
                    instance.name(), i, (System.nanoTime() - t0) / 1_000_000,
                    pages == null ? "?" : pages[0] + "/" + pages[1]);
            if (pages != null && pages[0] + pages[1] > 0 && 100 - (100 * pages[0]) / (pages[0] + pages[1]) > goal) {
                break; // converged: the final dump writes little more
            }
        }
        return prev;
    }

    /** Restores the source from its final dump after a live migration failed past it: it runs on, unchanged. */
    private void restoreAfterFailure(Path fin, RuntimeException failure) {
        try (LxcContainer c = instance.open()) {
            c.wait("STOPPED", LxcPower.STOP_WAIT_SECONDS);
        }
        status.changed();
        if (instance.isRunning()) {
            driver.watchForStop(instance);
            return;
        }
        try {
            power.restore(fin);
            status.changed();
            driver.watchForStop(instance);
        } catch (IncusException e) {
            status.changed();
            failure.addSuppressed(e);
            instance.recordVolatiles(Map.of("volatile.last_state.power", PowerState.STOPPED), false);
        }
    }
}
