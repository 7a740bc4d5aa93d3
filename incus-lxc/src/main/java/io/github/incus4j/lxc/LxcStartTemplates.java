package io.github.incus4j.lxc;

import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.internal.image.ImageTemplates;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.spi.FileBackend;
import io.github.incus4j.lxc.binding.RootDirectory;
import java.util.EnumSet;
import java.util.Map;
import java.util.TreeMap;

/**
 * Applies the templates of the image a container came from at a (stateless) start: a pending trigger's
 * ({@code volatile.apply_template}), then the {@code start} ones, writing into the root filesystem through a
 * {@link RootDirectory} (confined by the kernel, ids shifted by the disk id map). Clearing the pending trigger is the
 * caller's.
 */
final class LxcStartTemplates {
    private LxcStartTemplates() {
    }

    /** Applies {@code pending}'s templates (none when null or empty), then the start ones, to {@code c}. */
    static void apply(LxcContainerInstance c, String pending) {
        ImageMetadata metadata = LxcStorage.imageMetadata(c);
        if (metadata == null || metadata.templates().isEmpty()) {
            return;
        }
        Map<String, byte[]> files = LxcStorage.templateFiles(c);
        RootDirectory fs = new RootDirectory(c.rootfsPath(), c.diskIdmap().orElse(null));
        ImageTemplates.Target target = new ImageTemplates.Target() {
            @Override
            public boolean exists(String absolutePath) {
                try {
                    fs.lstat(absolutePath);
                    return true;
                } catch (NotFoundException e) {
                    return false;
                }
            }

            @Override
            public void write(String absolutePath, byte[] content, int mode, long uid, long gid) {
                boolean created = !exists(absolutePath);
                String parent = absolutePath.substring(0, absolutePath.lastIndexOf('/'));
                if (created && !parent.isEmpty()) {
                    mkdirs(fs, parent);
                }
                try (FileBackend.Handle h = fs.open(absolutePath, EnumSet.of(FileBackend.OpenFlag.WRITE,
                        FileBackend.OpenFlag.CREATE, FileBackend.OpenFlag.TRUNCATE), mode)) {
                    h.write(0, content, 0, content.length);
                }
                if (created) {
                    fs.setattrs(absolutePath, new FileBackend.AttrChanges(mode, (int) uid, (int) gid, null,
                            null));
                }
            }
        };
        Map<String, Map<String, String>> devices = new TreeMap<>();
        c.expandedDevices().map().forEach((n, d) -> devices.put(n, d.config()));
        ImageTemplates.Context ctx = new ImageTemplates.Context(c.name(), c.type().apiName(),
                io.github.incus4j.api.Architectures.name(c.architecture()), c.isEphemeral(), c.privileged(),
                c.expandedConfig(), devices);
        if (pending != null && !pending.isEmpty()) {
            ImageTemplates.apply(metadata, files, TemplateTrigger.of(pending), ctx, target);
        }
        ImageTemplates.apply(metadata, files, TemplateTrigger.START, ctx, target);
    }

    private static void mkdirs(FileBackend fs, String dir) {
        StringBuilder sb = new StringBuilder();
        for (String part : dir.split("/")) {
            if (part.isEmpty()) {
                continue;
            }
            sb.append('/').append(part);
            try {
                fs.stat(sb.toString());
            } catch (NotFoundException missing) {
                fs.mkdir(sb.toString(), 0755);
            }
        }
    }
}
