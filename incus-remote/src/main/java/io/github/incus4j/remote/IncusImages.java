package io.github.incus4j.remote;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.incus4j.api.IncusException;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.internal.image.ImageSources;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.ImageMetadata;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Local image files made server images for one create: checked here first (the shared preconditions and texts of
 * {@link ImageSources#check}), uploaded with {@code POST /1.0/images} unless the server has that fingerprint already,
 * and deleted again afterwards when this create uploaded them, so that the server keeps nothing of it.
 */
final class IncusImages {
    private static final System.Logger LOG = System.getLogger(IncusImages.class.getName());

    private IncusImages() {
    }

    /** A server image an instance is created from; {@code uploaded} when this create put it there. */
    record Uploaded(String project, String fingerprint, boolean uploaded) {
    }

    /** Checks the image files and makes them a server image in {@code project}. */
    static Uploaded upload(IncusInstances session, String project, InstanceType type, InstanceSource source) {
        if (source instanceof InstanceSource.RootfsDirectory d) {
            return uploadDirectory(session, project, type, d.directory());
        }
        ImageSources.check(type == InstanceType.VM, source);
        List<Path> files;
        List<String> parts;
        if (source instanceof InstanceSource.ImageTarball t) {
            files = List.of(t.tarball());
            parts = List.of();
        } else {
            InstanceSource.SplitImage s = (InstanceSource.SplitImage) source;
            files = List.of(s.metadata(), s.rootfs());
            parts = List.of("metadata", type == InstanceType.VM ? "rootfs.img" : "rootfs");
        }
        // Incus's fingerprint: the SHA-256 of the file, or of the metadata file then the rootfs file.
        String fingerprint = sha256(files);
        String image = path(project, fingerprint);
        Transport t = session.transport();
        if (t.send("GET", image, null, Map.of(), session.timeout()).status() == 200) {
            return new Uploaded(project, fingerprint, false); // someone's image: used, never deleted by us
        }
        Transport.Reply r = t.upload("POST", "/1.0/images?" + IncusInstances.projectQuery(project), files, parts,
                Map.of("X-Incus-fingerprint", fingerprint), session.timeout());
        if (r.status() >= 400 || "error".equals(r.body().path("type").asText())) {
            throw Errors.map(r.body().path("error_code").asInt(r.status()), "Failed uploading image " + files
                    + ": " + r.body().path("error").asText("incusd answered " + r.status()));
        }
        String op = r.body().path("operation").asText("");
        try {
            if (!op.isEmpty()) {
                session.waitOperation(op.substring(op.lastIndexOf('/') + 1), session.timeout(), true);
            }
        } catch (IncusException e) {
            // An upload that failed late (or timed out) may still have left the image: take it away.
            delete(session, new Uploaded(project, fingerprint, true));
            throw e;
        }
        return new Uploaded(project, fingerprint, true);
    }

    /**
     * A root filesystem directory on this host (incus-migrate's source): packed as a unified image with a
     * {@code metadata.yaml} of the server's architecture, uploaded, and the local tarball removed again.
     */
    private static Uploaded uploadDirectory(IncusInstances session, String project, InstanceType type, Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new NotFoundException("Root filesystem directory " + ErrorTexts.quote(dir.toString())
                    + " not found");
        }
        if (type == InstanceType.VM) {
            throw new NotSupportedException("A root filesystem directory makes containers only, not "
                    + "virtual machines");
        }
        String arch = session.transport().call("GET", "/1.0", null).metadata().path("environment")
                .path("architectures").path(0).asText("");
        ImageMetadata metadata = new ImageMetadata(arch, Instant.now().getEpochSecond(), 0, Map.of(), Map.of());
        Path tarball = null;
        try {
            tarball = Files.createTempFile("incus4j-rootfs-", ".tar");
            try (OutputStream out = Files.newOutputStream(tarball)) {
                ImageLayout.writeUnified(out, metadata, Map.of(), (tar, prefix) -> {
                    Map<String, Object> a = Files.readAttributes(dir, "unix:mode,uid,gid,lastModifiedTime");
                    tar.add(new ImageTar.Entry(prefix, ImageTar.Kind.DIRECTORY, ((Number) a.get("mode")).intValue()
                            & 07777, 0, 0, ((java.nio.file.attribute.FileTime) a.get("lastModifiedTime"))
                            .toInstant(), 0, ""), null);
                    ImageSources.walk(dir, (e, content) -> tar.add(new ImageTar.Entry(prefix + e.name(), e.kind(),
                            e.mode(), e.uid(), e.gid(), e.modified(), e.size(), e.kind() == ImageTar.Kind.HARDLINK
                                    ? prefix + e.linkTarget() : e.linkTarget()), content));
                }, null);
            }
            return upload(session, project, type, InstanceSource.image(tarball));
        } catch (IOException e) {
            throw new IncusException("Cannot pack the root filesystem directory " + dir + ": "
                    + Transport.describe(e), e);
        } finally {
            if (tarball != null) {
                try {
                    Files.deleteIfExists(tarball);
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.DEBUG, "removing " + tarball, e);
                }
            }
        }
    }

    /** Deletes an image this driver uploaded (never another client's); failures are logged, not thrown. */
    static void delete(IncusInstances session, Uploaded u) {
        if (u == null || !u.uploaded()) {
            return;
        }
        try {
            Transport.Reply r = session.transport().send("DELETE", path(u.project(), u.fingerprint()), null,
                    Map.of(), session.timeout());
            String op = r.body().path("operation").asText("");
            if (r.status() < 400 && !op.isEmpty()) {
                session.waitOperation(op.substring(op.lastIndexOf('/') + 1), session.timeout(), true);
            } else if (r.status() >= 400 && r.status() != 404) {
                LOG.log(System.Logger.Level.WARNING, "could not delete uploaded image {0}: {1}", u.fingerprint(),
                        r.body().path("error").asText());
            }
        } catch (IncusException e) {
            LOG.log(System.Logger.Level.WARNING, "could not delete uploaded image {0}: {1}", u.fingerprint(),
                    e.getMessage());
        }
    }

    private static String path(String project, String fingerprint) {
        return "/1.0/images/" + IncusInstances.seg(fingerprint) + "?" + IncusInstances.projectQuery(project);
    }

    static String sha256(List<Path> files) {
        MessageDigest d;
        try {
            d = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
        for (Path f : files) {
            try (InputStream in = new DigestInputStream(Files.newInputStream(f), d)) {
                in.transferTo(java.io.OutputStream.nullOutputStream());
            } catch (IOException e) {
                throw new IncusException("Cannot read image file " + f + ": " + Transport.describe(e), e);
            }
        }
        return HexFormat.of().formatHex(d.digest());
    }

    /** The fingerprint Incus names in a finished image operation (publish, upload). */
    static String fingerprintOf(JsonNode op) {
        String fingerprint = op.path("metadata").path("fingerprint").asText("");
        if (fingerprint.isEmpty()) {
            String resource = op.path("resources").path("images").path(0).asText("");
            fingerprint = resource.substring(resource.lastIndexOf('/') + 1);
        }
        return fingerprint;
    }
}
