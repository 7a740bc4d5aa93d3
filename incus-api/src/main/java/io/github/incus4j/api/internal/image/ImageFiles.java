package io.github.incus4j.api.internal.image;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.rest.RestJson;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.apiguardian.api.API;

/**
 * What an instance keeps of the image it was created from, as Incus does: {@code Path()/metadata.yaml} and the
 * template files in {@code TemplatesPath()}, read again by {@code export} (and by template application).
 */
@API(status = INTERNAL)
public final class ImageFiles {
    /** The name of the kept metadata file in an instance's directory. */
    public static final String METADATA = "metadata.yaml";

    private ImageFiles() {
    }

    /** Writes {@code metadata} to {@code instanceDir/metadata.yaml} and each template into {@code templatesDir}. */
    public static void keep(Path instanceDir, Path templatesDir, ImageMetadata metadata,
            Map<String, byte[]> templates) {
        try {
            Files.write(instanceDir.resolve(METADATA), RestJson.toYaml(metadata));
            if (!templates.isEmpty()) {
                Files.createDirectories(templatesDir);
                for (Map.Entry<String, byte[]> t : templates.entrySet()) {
                    Files.write(templatesDir.resolve(t.getKey()), t.getValue());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot keep the image files in " + instanceDir, e);
        }
    }

    /** The metadata kept in {@code instanceDir}, null when the instance did not come from an image. */
    public static ImageMetadata metadata(Path instanceDir) {
        Path md = instanceDir.resolve(METADATA);
        if (!Files.isRegularFile(md)) {
            return null;
        }
        try {
            return RestJson.fromYaml(Files.readAllBytes(md), ImageMetadata.class);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + md, e);
        }
    }

    /** The template files kept in {@code templatesDir}, by name (regular files only; empty when none). */
    public static Map<String, byte[]> templates(Path templatesDir) {
        Map<String, byte[]> out = new TreeMap<>();
        if (!Files.isDirectory(templatesDir)) {
            return out;
        }
        try (var list = Files.list(templatesDir)) {
            for (Path p : (Iterable<Path>) list::iterator) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    out.put(p.getFileName().toString(), Files.readAllBytes(p));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the templates in " + templatesDir, e);
        }
        return out;
    }
}
