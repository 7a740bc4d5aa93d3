package io.github.incus4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoTest {
    private record Result(int status, String output) {
        List<String> numberedLines() {
            return output.lines().filter(l -> l.matches("\\d+\\. .*")).toList();
        }
    }

    private static Result run(String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int status = Demo.run(args, new PrintStream(bytes, true, StandardCharsets.UTF_8));
        return new Result(status, bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void runsEveryStepOnTheFake(@TempDir Path root) throws Exception {
        Result r = run("--root", root.toString());

        assertEquals(0, r.status(), r.output());
        List<String> steps = r.numberedLines();
        assertEquals(List.of("1. launch", "2. exec", "3. snapshot", "4. change a file", "5. restore", "6. stop",
                "7. export", "8. metrics", "9. delete"),
                steps.stream().map(l -> l.substring(0, l.indexOf(':'))).toList(), r.output());
        assertTrue(steps.get(0).endsWith("RUNNING"), steps.get(0));
        assertTrue(steps.get(1).contains("\"hello from demo\", exit code 0"), steps.get(1));
        assertTrue(steps.get(3).contains("\"written by the incus4j demo\""), steps.get(3));
        assertTrue(steps.get(4).contains("/root/demo.txt is gone"), steps.get(4));
        assertTrue(steps.get(5).endsWith("state STOPPED"), steps.get(5));
        assertTrue(steps.get(8).endsWith("instances left: 0"), steps.get(8));
        // Not a console: the progress is a few percentage lines, ending at 100%.
        assertFalse(r.output().contains("\r"), "no live bar off a console");
        List<String> progress = r.output().lines().filter(l -> l.startsWith("   export ")).toList();
        assertTrue(progress.size() >= 2 && progress.size() <= 6, progress.toString());
        assertTrue(progress.get(progress.size() - 1).startsWith("   export 100% "), progress.toString());
        assertTrue(r.output().contains("incus_"), "metrics text is printed");
        // The export went to the demo's own temporary directory, which is gone.
        String exportLine = steps.get(6);
        Path image = Path.of(exportLine.substring(exportLine.indexOf(" to ") + 4, exportLine.indexOf(" (")));
        assertFalse(Files.exists(image), image + " was left behind");
        // The given root is the user's: kept, with no instance left in it.
        assertTrue(Files.isDirectory(root));
        try (Stream<Path> files = Files.walk(root)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().equals("backup.yaml")));
        }
    }

    @Test
    void startsFromAnImageGivenWithImage(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("base.tar");
        try (io.github.incus4j.api.Instances fake = io.github.incus4j.api.InstanceDrivers.open("fake",
                dir.resolve("maker"))) {
            io.github.incus4j.api.Instance base = fake.create(
                    io.github.incus4j.api.model.InstanceArgs.builder("base").build(),
                    io.github.incus4j.api.InstanceSource.template("busybox", java.util.Map.of()));
            try (java.io.OutputStream out = Files.newOutputStream(image)) {
                base.export(out, null, java.util.Map.of("os", "busybox"), null, null);
            }
        }
        Result r = run("--root", dir.resolve("root").toString(), "--image", image.toString());

        assertEquals(0, r.status(), r.output());
        assertTrue(r.numberedLines().get(0).contains("from base.tar and started it"), r.output());
        assertEquals(2, run("--image").status(), "--image needs a value");
    }

    @Test
    void anUnknownDriverExitsWithTwoAndSaysWhy() {
        Result r = run("--driver", "no-such-driver");

        assertEquals(2, r.status());
        assertTrue(r.output().contains("No instance driver named \"no-such-driver\""), r.output());
        assertTrue(r.output().contains("fake: not the requested driver"), r.output());
    }

    @Test
    void badArgumentsExitWithTwo() {
        Result unknown = run("--frobnicate");
        assertEquals(2, unknown.status());
        assertTrue(unknown.output().contains("unknown argument: --frobnicate"), unknown.output());
        assertEquals(2, run("--root").status());
        assertEquals(0, run("--help").status());
    }
}
