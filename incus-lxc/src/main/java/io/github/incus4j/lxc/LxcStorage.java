package io.github.incus4j.lxc;

import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.internal.config.ConfigValues;
import io.github.incus4j.api.internal.config.VolatileIdmaps;
import io.github.incus4j.api.internal.image.ImageFiles;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.Image;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Project;
import io.github.incus4j.api.operation.ProgressTracker;
import io.github.incus4j.api.spi.AbstractInstances;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One container's storage: the root filesystem made from a template, an image or a directory (host ids, shifted by
 * the id map of an unprivileged container) with its {@code base.conf}, the image's metadata and templates kept beside
 * it, the snapshots' copies, restore, rebuild from another image (all or nothing), and export as an image. It
 * returns what the definition must record (the id map, the image's keys) instead of recording it, except the one
 * volatile key a rebuild sets.
 */
final class LxcStorage {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstance.class.getName());
    private static final String METADATA = ImageFiles.METADATA;

    private final LxcContainerInstance instance;
    private final LxcInstances driver;

    LxcStorage(LxcContainerInstance instance, LxcInstances driver) {
        this.instance = instance;
        this.driver = driver;
    }

    /**
     * What a creation made: the id map the root filesystem is shifted by (null: none, privileged) and the config the
     * image brings ({@code image.*}, {@code volatile.base_image}, {@code volatile.apply_template}).
     */
    record Created(IdmapSet diskMap, Map<String, String> imageConfig) {
    }

    /** Makes the root filesystem from {@code source}, shifted to the id map, and {@code base.conf}. */
    Created create(InstanceSource source) {
        Path rootfs = instance.rootfsPath();
        Optional<IdmapSet> map = Optional.empty();
        if (!ConfigValues.isTrue(instance.expandedConfig().get("security.privileged"))) {
            map = Optional.of(driver.allocation().orElseThrow(
                    () -> new InvalidArgumentException(LxcContainerInstance.NO_ALLOCATION)));
        }
        List<String> base;
        Map<String, String> imageConfig = Map.of();
        if (source instanceof InstanceSource.Template) {
            BusyboxTemplate template = BusyboxTemplate.get();
            Trees.copy(template.rootfs(), rootfs);
            base = template.config();
        } else if (source instanceof InstanceSource.RootfsDirectory d) {
            Trees.copy(d.directory().toAbsolutePath(), rootfs);
            base = LxcConfigFile.GENERIC_BASE;
        } else if (ImageSources.isImage(source)) {
            imageConfig = unpackImage(source, map.orElse(null));
            base = LxcConfigFile.GENERIC_BASE;
        } else if (source instanceof InstanceSource.None) {
            // An empty container, e.g. the target of a migration, which brings the root filesystem.
            try {
                Files.createDirectories(rootfs);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot create " + rootfs, e);
            }
            base = LxcConfigFile.GENERIC_BASE;
        } else {
            throw new IllegalStateException("Unchecked source " + source);
        }
        if (!ImageSources.isImage(source)) {
            map.ifPresent(m -> Trees.shift(rootfs, m, true)); // an image's entries are shifted as unpacked
        }
        try {
            Files.createDirectories(instance.lxcDir());
            Files.write(instance.lxcDir().resolve("base.conf"), base, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write the lxc configuration of " + instance.lxcName(), e);
        }
        return new Created(map.orElse(null), imageConfig);
    }

    /**
     * Unpacks an image (unified or split, checked by {@link ImageSources#checkBeforeUnpack} before, validated as it is
     * read: the caller removes what was written when this throws) into the root filesystem
     * (owners shifted by {@code map}), keeps its {@code metadata.yaml} in the instance's path and its templates in
     * its templates path, and returns the config Incus sets from it: {@code image.*} from the properties,
     * {@code volatile.base_image} (the fingerprint), and {@code volatile.apply_template=create} so that the create
     * templates apply at first start. A squashfs image is unpacked in a scratch directory under the instance's path.
     */
    private Map<String, String> unpackImage(InstanceSource source, IdmapSet map) {
        try {
            Files.createDirectories(instance.rootfsPath());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create " + instance.rootfsPath(), e);
        }
        ImageSources.Image image = ImageSources.unpackRootfs(source,
                ImageRootfs.unpacker(instance.rootfsPath(), map), instance.path());
        ImageFiles.keep(instance.path(), instance.templatesPath(), image.metadata(), image.templates());
        Map<String, String> config = new HashMap<>();
        image.metadata().properties().forEach((k, v) -> config.put("image." + k, v));
        config.put("volatile.base_image", image.fingerprint());
        config.put("volatile.apply_template", TemplateTrigger.CREATE.value());
        return config;
    }

    /** The metadata of the image {@code c} came from, null when it did not come from one. */
    static ImageMetadata imageMetadata(LxcContainerInstance c) {
        return ImageFiles.metadata(c.path());
    }

    /** The image's template files by name, as kept in {@code c}'s templates path. */
    static Map<String, byte[]> templateFiles(LxcContainerInstance c) {
        return ImageFiles.templates(c.templatesPath());
    }

    /** The root filesystem of {@code snapshot}, a snapshot of the instance. */
    Path snapshotRootfs(InstanceArgs snapshot) {
        return driver.paths().path(instance.type(), Project.storageName(snapshot.project(), snapshot.name()))
                .resolve("rootfs");
    }

    /**
     * Copies the root filesystem for {@code snapshot}, with the running container's state dumped by {@code power}
     * unless null (a stateless snapshot).
     */
    void snapshot(InstanceArgs snapshot, LxcPower power) {
        Path target = snapshotRootfs(snapshot);
        try {
            if (power != null) {
                power.dump(target.resolveSibling("state"), false);
            }
            Trees.copy(instance.rootfsPath(), target);
        } catch (RuntimeException e) {
            AbstractInstances.deleteTree(target.getParent());
            throw e;
        }
    }

    /** Puts the root filesystem (and saved state) of {@code snapshot} in place of the instance's. */
    void restore(InstanceArgs snapshot) {
        Path source = snapshotRootfs(snapshot);
        Path rootfs = instance.rootfsPath();
        AbstractInstances.deleteTree(instance.statePath());
        if (snapshot.stateful() && Files.isDirectory(source.resolveSibling("state"))) {
            driver.criu().require("Failed to restore container state");
            Trees.copy(source.resolveSibling("state"), instance.statePath());
        }
        Path staging = rootfs.resolveSibling("rootfs.restoring");
        AbstractInstances.deleteTree(staging);
        Trees.copy(source, staging);
        AbstractInstances.deleteTree(rootfs);
        try {
            Files.move(staging, rootfs);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot put the restored root filesystem in place", e);
        }
    }

    void deleteSnapshot(InstanceArgs snapshot) {
        AbstractInstances.deleteTree(snapshotRootfs(snapshot).getParent());
    }

    /**
     * Incus's export of {@code source} (the instance or one of its snapshots), whose image files are its owner's:
     * {@code metadata.yaml} (the source image's, when the container came from one, updated), its templates, and the
     * root filesystem with ids as inside the container (unshifted by the disk id map).
     */
    static ImageMetadata export(LxcContainerInstance source, LxcContainerInstance owner, OutputStream meta,
            OutputStream rootfs, Map<String, String> properties, Instant expiration, ProgressTracker tracker,
            Clock clock) {
        ImageMetadata md = ImageLayout.exportMetadata(imageMetadata(owner),
                io.github.incus4j.api.Architectures.name(source.architecture()), properties, expiration, clock);
        Map<String, byte[]> templates = templateFiles(owner);
        ImageLayout.RootfsWriter writer = ImageRootfs.writer(source.rootfsPath(), owner.diskIdmap().orElse(null));
        if (rootfs == null) {
            ImageLayout.writeUnified(meta, md, templates, writer, tracker);
        } else {
            ImageLayout.writeSplit(meta, rootfs, md, templates, writer, tracker);
        }
        return md;
    }

    /** Replaces the root filesystem and image files with {@code image}'s (an empty one for null), all or nothing. */
    void rebuild(Image image) {
        if (image != null && image.source() == null) {
            throw new InvalidArgumentException("Image " + ErrorTexts.quote(image.fingerprint())
                    + " has no tarball to unpack");
        }
        Path rootfs = instance.rootfsPath();
        // The old root filesystem and image files stay aside until the new ones are complete, and come back if
        // unpacking fails: a rebuild either happens whole or not at all.
        Path aside = instance.path().resolve("rebuild-old");
        AbstractInstances.deleteTree(aside);
        try {
            Files.createDirectories(aside);
            for (Path p : List.of(rootfs, instance.path().resolve(METADATA), instance.templatesPath())) {
                if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.move(p, aside.resolve(p.getFileName()));
                }
            }
        } catch (IOException e) {
            restoreAside(aside);
            throw new UncheckedIOException("Cannot set the old root filesystem of " + instance.name() + " aside", e);
        }
        IdmapSet map = instance.diskIdmap().orElse(null);
        try {
            if (image == null) {
                Files.createDirectories(rootfs);
                if (map != null) {
                    Trees.shift(rootfs, map, true);
                }
            } else {
                InstanceSource source = InstanceSource.image(image.source());
                // Read once: a bad image fails the unpacking, and the old root filesystem comes back.
                ImageSources.checkBeforeUnpack(source);
                Map<String, String> config = unpackImage(source, map);
                instance.recordVolatiles(Map.of("volatile.apply_template", config.get("volatile.apply_template")),
                        false);
            }
        } catch (IOException | RuntimeException e) {
            restoreAside(aside);
            throw e instanceof IOException io ? new UncheckedIOException("Cannot rebuild " + instance.name(), io)
                    : (RuntimeException) e;
        }
        AbstractInstances.deleteTree(aside);
    }

    /** Puts back what {@link #rebuild} set aside, dropping whatever the failed rebuild wrote. */
    private void restoreAside(Path aside) {
        for (Path p : List.of(instance.rootfsPath(), instance.path().resolve(METADATA), instance.templatesPath())) {
            Path old = aside.resolve(p.getFileName());
            if (Files.exists(old, LinkOption.NOFOLLOW_LINKS)) {
                AbstractInstances.deleteTree(p);
                try {
                    Files.move(old, p);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.ERROR, "Cannot restore " + p + " from " + old, e);
                }
            }
        }
        AbstractInstances.deleteTree(aside);
    }

    /** {@code a} with the volatile id map keys of a stopped container whose disk is shifted by {@code map}. */
    static InstanceArgs withIdmap(InstanceArgs a, IdmapSet map) {
        Map<String, String> c = new HashMap<>(a.config());
        String json = VolatileIdmaps.toJson(map == null ? new IdmapSet(List.of()) : map);
        c.put("volatile.idmap.base", map == null ? "0" : Long.toString(map.entries().get(0).hostId()));
        c.put(VolatileIdmaps.NEXT, json);
        c.put(VolatileIdmaps.DISK, json);
        c.remove(VolatileIdmaps.CURRENT);
        return a.toBuilder().config(c).build();
    }
}
