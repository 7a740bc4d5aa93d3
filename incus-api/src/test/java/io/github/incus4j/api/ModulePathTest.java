package io.github.incus4j.api;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.lang.module.Configuration;
import java.lang.module.ModuleFinder;
import java.lang.module.ResolvedModule;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The tests run on the class path; this resolves incus-api and its runtime dependencies as a module graph, as a
 * module-path user's JVM does at start-up: a dependency with a descriptor the JVM refuses (zstd-jni 1.5.7-18 to -21
 * export a package that does not exist) or a missing {@code requires} fails here, not in a user's boot layer.
 */
class ModulePathTest {

    @Test
    void apiAndItsDependenciesResolveAsModules() {
        Path[] entries = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(Path::of)
                // The module's own classes, and the jars; test-classes and test-only jars are no part of the graph.
                .filter(p -> p.endsWith(Path.of("target", "classes")) || p.toString().endsWith(".jar"))
                .filter(p -> Files.exists(p))
                .toArray(Path[]::new);
        Configuration cf = ModuleLayer.boot().configuration()
                .resolve(ModuleFinder.of(entries), ModuleFinder.of(), Set.of("io.github.incus4j.api"));
        Set<String> resolved = cf.modules().stream().map(ResolvedModule::name).collect(Collectors.toSet());
        for (String m : Set.of("org.apache.commons.compress", "org.tukaani.xz", "com.github.luben.zstd_jni")) {
            assertTrue(resolved.contains(m), m + " in " + resolved);
        }
    }
}
