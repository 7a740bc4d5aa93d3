package io.github.incus4j.testkit.fake;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.internal.image.ImageTemplates;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.spi.AbstractInstances;
import io.github.incus4j.testkit.fake.FakeInstance.ImageFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The image a fake instance was made from: its metadata and templates, kept on disk as Incus keeps them
 * ({@code metadata.yaml} and {@code templates/} in the instance's directory, read back lazily after a reopen), and
 * the templates applied to the instance's tree at start: a pending trigger's ({@code volatile.apply_template}),
 * then the {@code start} ones.
 */
final class FakeImage {
    private final FakeInstance instance;
    private final Lazy<ImageFiles> files;

    FakeImage(FakeInstance instance) {
        this.instance = instance;
        this.files = new Lazy<>(instance, this::read);
    }

    /** The image's metadata and templates. */
    ImageFiles files() {
        return files.get();
    }

    /** Forgets the files without touching the disk (a new instance without image, a deleted one). */
    void clear() {
        files.set(ImageFiles.NONE);
    }

    private ImageFiles read() {
        Path md = instance.path().resolve("metadata.yaml");
        if (!Files.isRegularFile(md)) {
            return ImageFiles.NONE;
        }
        try {
            ImageMetadata metadata = RestJson.fromYaml(Files.readAllBytes(md), ImageMetadata.class);
            Map<String, byte[]> templates = new TreeMap<>();
            Path dir = instance.templatesPath();
            if (Files.isDirectory(dir)) {
                try (Stream<Path> list = Files.list(dir)) {
                    for (Path p : (Iterable<Path>) list::iterator) {
                        if (Files.isRegularFile(p)) {
                            templates.put(p.getFileName().toString(), Files.readAllBytes(p));
                        }
                    }
                }
            }
            return new ImageFiles(metadata, templates);
        } catch (IOException e) {
            throw new IncusException("Cannot read the image files of " + instance.name() + " in " + instance.path(),
                    e);
        }
    }

    /** Replaces the files, on disk and in memory. */
    void write(ImageFiles f) {
        Path path = instance.path();
        try {
            Path dir = instance.templatesPath();
            AbstractInstances.deleteTree(dir);
            Files.deleteIfExists(path.resolve("metadata.yaml"));
            if (f.metadata() != null) {
                Files.createDirectories(dir);
                Files.write(path.resolve("metadata.yaml"), RestJson.toYaml(f.metadata()));
                for (Map.Entry<String, byte[]> e : f.templates().entrySet()) {
                    Files.write(dir.resolve(e.getKey()), e.getValue());
                }
            }
        } catch (IOException e) {
            throw new IncusException("Cannot write the image files of " + instance.name() + " in " + path, e);
        }
        files.set(f);
    }

    /** Applies a pending trigger's templates ({@code volatile.apply_template}), then the {@code start} ones. */
    void applyAtStart() {
        String pending = instance.localConfig().get("volatile.apply_template");
        ImageFiles f = files();
        if (f.metadata() != null && !f.metadata().templates().isEmpty()) {
            MemSftp fs = new MemSftp(instance.fsView(), "/", 0, 0);
            ImageTemplates.Target target = new ImageTemplates.Target() {
                @Override
                public boolean exists(String absPath) {
                    return fs.node(absPath, false) != null;
                }

                @Override
                public void write(String absPath, byte[] content, int mode, long uid, long gid) {
                    fs.writeFile(absPath, content, mode, (int) uid, (int) gid);
                }
            };
            ImageTemplates.Context ctx = context();
            if (pending != null && !pending.isEmpty()) {
                apply(f, TemplateTrigger.of(pending), ctx, target);
            }
            apply(f, TemplateTrigger.START, ctx, target);
        }
        if (pending != null) {
            instance.setVolatile(Map.of("volatile.apply_template", ""));
        }
    }

    private static void apply(ImageFiles f, TemplateTrigger trigger, ImageTemplates.Context ctx,
            ImageTemplates.Target target) {
        try {
            applyChecked(f, trigger, ctx, target);
        } catch (IOException e) {
            throw new IncusException("Failed to apply the " + trigger + " templates", e);
        }
    }

    private static List<String> applyChecked(ImageFiles f, TemplateTrigger trigger, ImageTemplates.Context ctx,
            ImageTemplates.Target target) throws IOException {
        return ImageTemplates.apply(f.metadata(), f.templates(), trigger, ctx, target);
    }

    private ImageTemplates.Context context() {
        Map<String, Map<String, String>> devices = new TreeMap<>();
        instance.expandedDevices().map().forEach((n, d) -> devices.put(n, d.config()));
        return new ImageTemplates.Context(instance.name(), instance.type().apiName(),
                Architectures.name(instance.architecture()), instance.isEphemeral(), instance.isPrivileged(),
                instance.expandedConfig(), devices);
    }
}
