package io.github.incus4j.lxc.binding;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.incus4j.api.InvalidArgumentException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LiblxcTest {
    @Test
    void loadsOnceAndReportsVersionAndFeatures() {
        Liblxc lxc = TestLxc.requireLiblxc();
        assertSame(lxc, Liblxc.load());
        LxcVersion v = LxcVersion.parse(lxc.version());
        assertTrue(v.compareTo(LxcVersion.MINIMUM) >= 0, lxc.version());
        if (TestLxc.onPath("lxc-info")) {
            assertEquals(TestLxc.run("lxc-info", "--version").strip(), lxc.version());
        }
        // Both extensions predate 4.0.5, the oldest version the binding accepts.
        assertTrue(lxc.features().containsAll(java.util.Set.of("console_log", "pidfd")), lxc.features().toString());
        assertTrue(Liblxc.KNOWN_EXTENSIONS.containsAll(lxc.features()));
        assertFalse(lxc.hasApiExtension("no_such_extension_i4j"));
        System.out.println("liblxc " + lxc.version() + " features " + lxc.features());
    }

    @Test
    void configItemsAndGlobalConfig() {
        Liblxc lxc = TestLxc.requireLiblxc();
        // An exact lookup in liblxc's key table: indexed keys such as lxc.net.0.type are not in it.
        assertTrue(lxc.isConfigItemSupported("lxc.uts.name"));
        assertTrue(lxc.isConfigItemSupported("lxc.apparmor.profile"));
        assertFalse(lxc.isConfigItemSupported("lxc.no.such.key"));
        Optional<String> lxcpath = lxc.globalConfigItem("lxc.lxcpath");
        assertTrue(lxcpath.isPresent() && lxcpath.get().startsWith("/"), lxcpath.toString());
        var e = assertThrows(InvalidArgumentException.class, () -> lxc.isConfigItemSupported(""));
        assertTrue(e.getMessage().contains("\"\""), e.getMessage());
    }

    @Test
    void undefinedContainerHandle(@TempDir Path lxcpath) {
        // Unprivileged callers need a writable lock directory ($XDG_RUNTIME_DIR) that test hosts may lack.
        assumeTrue(TestLxc.isRoot(), "container handles are tested as root");
        Liblxc lxc = TestLxc.requireLiblxc();
        try (LxcContainer c = lxc.open(TestLxc.uniqueName(), lxcpath)) {
            assertFalse(c.isDefined());
            assertFalse(c.isRunning());
            assertEquals("STOPPED", c.state());
            assertEquals(-1, c.initPid());
            assertEquals(Optional.empty(), c.getCgroupItem("pids.max"));
            assertEquals(Optional.empty(), c.getRunningConfigItem("lxc.net.0.type"));
            assertEquals(Optional.empty(), c.getConfigItem("lxc.no.such.key"));
            var e = assertThrows(InvalidArgumentException.class, () -> c.setConfigItem("lxc.no.such.key", "1"));
            assertTrue(e.getMessage().contains("lxc.no.such.key"), e.getMessage());
            c.setConfigItem("lxc.uts.name", "hello");
            assertEquals(Optional.of("hello"), c.getConfigItem("lxc.uts.name"));
            c.close();
            assertThrows(IllegalStateException.class, c::state);
            c.close();
        }
        assertThrows(InvalidArgumentException.class, () -> lxc.open("a/b", lxcpath));
    }

    @Test
    void lxcAttachRunsFromASealedCopyThatCannotBeWritten() throws Exception {
        Liblxc lxc = TestLxc.requireLiblxc();
        assumeTrue(TestLxc.onPath("lxc-attach"), "lxc-attach is not installed (package lxc)");
        String program = lxc.attachProgram();
        assertSame(program, lxc.attachProgram(), "one copy per process");
        assertTrue(program.matches("/proc/" + ProcessHandle.current().pid() + "/fd/\\d+"), program);
        // The copy is the binary, byte for byte, and its seals refuse every write.
        Path lxcAttach = Path.of(TestLxc.run("sh", "-c", "command -v lxc-attach").strip());
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(lxcAttach), Files.readAllBytes(Path.of(program))));
        assertThrows(IOException.class, () -> {
            try (OutputStream out = Files.newOutputStream(Path.of(program), java.nio.file.StandardOpenOption.APPEND)) {
                out.write(0);
            }
        });
        // It runs: lxc-attach's version is liblxc's.
        assertEquals(lxc.version(), TestLxc.run(program, "--version").strip());
    }
}
