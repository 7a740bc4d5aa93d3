package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.ImageCompression;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.testkit.fake.FakeDriver;
import io.github.incus4j.testkit.fake.FakeInstances;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Images travel both ways between incus4j and a real Incus server: every compression {@code incus publish} writes
 * creates working containers in the lxc driver and the fake, and every export of ours (unified, and split) imports
 * into Incus and launches there. Needs the lxc driver and a reachable {@code incusd} with its {@code incus} client
 * ({@code .ci/incusd start}); skips naming what is missing elsewhere. Everything made on the server is named
 * {@code iit-...} and deleted afterwards.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IncusImageInteropTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String RUN = UUID.randomUUID().toString().substring(0, 6);

    @TempDir
    static Path dir;
    private LxcInstances lxc;
    private FakeInstances fake;
    private String source;
    private final List<String> serverImages = new ArrayList<>();
    private final List<String> serverInstances = new ArrayList<>();

    @BeforeAll
    void open() throws IOException {
        LxcHost.require();
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/incus")), "the incus client is not installed");
        Result info = incusQuietly("info");
        assumeTrue(info.exit == 0, () -> "no Incus server answers (incus info: " + info.output.strip() + ")");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/tar2sqfs")) && Files.isExecutable(Path.of("/usr/bin/unsquashfs")),
                "squashfs-tools and squashfs-tools-ng are not installed");
        lxc = new LxcDriver().open(LxcHost.searchable(dir.resolve("lxc")), WAIT);
        fake = new FakeDriver().open(dir.resolve("fake"));
        source = "iit-src-" + RUN;
        incus("init", "busybox", source);
        serverInstances.add(source);
    }

    @AfterAll
    void close() {
        LxcHost.deleteAll(lxc);
        if (fake != null) {
            fake.close();
        }
        List<String> failures = new ArrayList<>();
        for (String i : serverInstances) {
            Result r = incusQuietly("delete", "--force", i);
            if (r.exit != 0 && !r.output.contains("not found")) {
                failures.add("instance " + i + ": " + r.output.strip());
            }
        }
        for (String alias : serverImages) {
            Result r = incusQuietly("image", "delete", alias);
            if (r.exit != 0 && !r.output.contains("not found")) {
                failures.add("image " + alias + ": " + r.output.strip());
            }
        }
        assertEquals(List.of(), failures, "cleanup on the Incus server");
    }

    @ParameterizedTest
    @EnumSource(ImageCompression.class)
    void imagesIncusPublishesCreateWorkingContainers(ImageCompression c) throws IOException {
        String alias = "iit-pub-" + c.value() + "-" + RUN;
        incus("publish", source, "--alias", alias, "--compression", c.value());
        serverImages.add(alias);
        Path exported = Files.createDirectories(dir.resolve("published-" + c.value()));
        incus("image", "export", alias, exported.resolve("image").toString());
        List<Path> files = list(exported);
        assertEquals(1, files.size(), "Incus 6.0 publishes unified images: " + files);
        Path image = files.get(0);
        String fingerprint = incus("image", "info", alias).lines().filter(l -> l.startsWith("Fingerprint: "))
                .map(l -> l.substring("Fingerprint: ".length())).findFirst().orElseThrow();

        Instance container = lxc.create(InstanceArgs.builder("iit-" + c.value() + "-" + RUN).build(),
                InstanceSource.image(image));
        assertEquals(fingerprint, container.localConfig().get("volatile.base_image"), "Incus's fingerprint");
        container.start(false);
        assertEquals("hello from " + c.value() + "\n", exec(container, "echo", "hello from " + c.value()));
        container.stop(false);

        Instance inFake = fake.create(InstanceArgs.builder("iit-" + c.value()).build(), InstanceSource.image(image));
        assertEquals(fingerprint, inFake.localConfig().get("volatile.base_image"));
        inFake.start(false);
        assertEquals("hi\n", exec(inFake, "echo", "hi"));
        inFake.stop(false);
    }

    @ParameterizedTest
    @EnumSource(ImageCompression.class)
    void ourExportsImportIntoIncusAndLaunch(ImageCompression c) throws IOException {
        Instance container = lxc.create(InstanceArgs.builder("iit-exp-" + c.value() + "-" + RUN).build(),
                InstanceSource.template("busybox", Map.of()));
        Path unified = dir.resolve("unified-" + c.value());
        try (OutputStream out = Files.newOutputStream(unified)) {
            container.export(out, null, c, Map.of("description", "incus4j " + c.value()), null, null);
        }
        launchInIncus("iit-imp-" + c.value() + "-" + RUN, unified);

        Path meta = dir.resolve("meta-" + c.value());
        Path rootfs = dir.resolve("rootfs-" + c.value());
        try (OutputStream m = Files.newOutputStream(meta); OutputStream r = Files.newOutputStream(rootfs)) {
            container.export(m, r, c, Map.of(), null, null);
        }
        launchInIncus("iit-impsplit-" + c.value() + "-" + RUN, meta, rootfs);
    }

    /** Imports the image files under {@code alias}, launches a container from it and runs a command in it. */
    private void launchInIncus(String alias, Path... files) {
        List<String> cmd = new ArrayList<>(List.of("image", "import"));
        Arrays.stream(files).map(Path::toString).forEach(cmd::add);
        cmd.addAll(List.of("--alias", alias));
        incus(cmd.toArray(String[]::new));
        serverImages.add(alias);
        String name = alias.replace("imp", "run");
        serverInstances.add(name);
        incus("launch", alias, name);
        assertEquals("launched\n", incus("exec", name, "--", "echo", "launched"));
        incus("delete", "--force", name);
    }

    private static String exec(Instance i, String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd cmd = i.exec(ExecRequest.of(argv), null, out, null)) {
            assertEquals(0, cmd.waitFor(WAIT), String.join(" ", argv));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static List<Path> list(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.toList();
        }
    }

    private record Result(int exit, String output) {
    }

    /** Runs the {@code incus} client; its output, failing the test unless it exits 0. */
    private static String incus(String... args) {
        Result r = incusQuietly(args);
        assertEquals(0, r.exit, () -> "incus " + String.join(" ", args) + ": " + r.output);
        return r.output;
    }

    private static Result incusQuietly(String... args) {
        List<String> cmd = new ArrayList<>(List.of("incus", "-q"));
        cmd.addAll(List.of(args));
        try {
            Path log = Files.createTempFile("incus-cli", ".log");
            try {
                Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
                if (!p.waitFor(2, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    return new Result(-1, "timed out after 2 minutes");
                }
                return new Result(p.exitValue(), Files.readString(log));
            } finally {
                Files.deleteIfExists(log);
            }
        } catch (IOException e) {
            return new Result(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "interrupted");
        }
    }
}
