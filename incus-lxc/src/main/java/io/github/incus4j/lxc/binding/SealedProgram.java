package io.github.incus4j.lxc.binding;

import io.github.incus4j.lxc.binding.ffi.NativeApi.LibC;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.LastError;
import jnr.ffi.Runtime;

/**
 * A tool binary copied once into a sealed memfd that the JVM keeps open, and spawned as
 * {@code /proc/<jvm pid>/fd/<n>}.
 *
 * <p>Why: {@code lxc-attach} protects the host binary against CVE-2019-5736 (a container's root writing it through
 * {@code /proc/<pid>/exe} of the attaching process) by re-executing itself, at every start, from a copy in a memfd
 * sealed against writes (liblxc's {@code lxc_rexec}): a 1.1 MB copy, a second {@code execve} and a second dynamic link,
 * about half of what an attach costs. It skips that when it already runs from a memfd carrying exactly those seals
 * ({@code F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE}), so running it from such a copy made once keeps
 * the protection (the running image is the sealed copy, not writable) and drops the per-attach cost. The copy is of
 * the binary found when it was made; the kernel keeps it (1.1 MB) until the JVM exits.
 */
final class SealedProgram {
    private static final System.Logger LOG = System.getLogger(SealedProgram.class.getName());
    private static final int MFD_CLOEXEC = 1;
    private static final int MFD_ALLOW_SEALING = 2;
    private static final int F_ADD_SEALS = 1033;
    private static final int F_GET_SEALS = 1034;
    /** F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE, the set lxc_rexec checks for. */
    private static final int SEALS = 1 | 2 | 4 | 8;

    private SealedProgram() {
    }

    /**
     * The path of a sealed copy of {@code tool} (looked up on {@code PATH}), or {@code tool} itself when the copy
     * cannot be made (logged): callers spawn whichever this returns.
     */
    static String copy(LibC libc, Runtime runtime, String tool) {
        Path binary = onPath(tool);
        if (binary == null) {
            return tool; // spawning it reports the missing tool
        }
        int fd = -1;
        try {
            byte[] image = Files.readAllBytes(binary);
            fd = libc.memfd_create(tool, MFD_CLOEXEC | MFD_ALLOW_SEALING);
            if (fd < 0) {
                throw new IOException("memfd_create failed, errno " + LastError.getLastError(runtime));
            }
            for (int done = 0; done < image.length; ) {
                byte[] rest = done == 0 ? image : java.util.Arrays.copyOfRange(image, done, image.length);
                long n = libc.write(fd, rest, rest.length);
                if (n <= 0) {
                    throw new IOException("write to the memfd failed, errno " + LastError.getLastError(runtime));
                }
                done += (int) n;
            }
            if (libc.fcntl(fd, F_ADD_SEALS, SEALS) != 0 || libc.fcntl(fd, F_GET_SEALS, 0) != SEALS) {
                throw new IOException("sealing the memfd failed, errno " + LastError.getLastError(runtime));
            }
            // The children open it through this process's /proc entry: check that /proc shows this pid namespace.
            String path = "/proc/" + ProcessHandle.current().pid() + "/fd/" + fd;
            if (!Files.isExecutable(Path.of(path))) {
                throw new IOException(path + " is not reachable (is /proc another pid namespace's?)");
            }
            return path;
        } catch (IOException | RuntimeException e) {
            if (fd >= 0) {
                libc.close(fd);
            }
            LOG.log(System.Logger.Level.WARNING, "Spawning " + binary + " itself (it re-executes from its own"
                    + " memfd copy each time): cannot make a sealed copy", e);
            return tool;
        }
    }

    private static Path onPath(String tool) {
        String path = System.getenv("PATH");
        for (String dir : (path == null ? "/usr/bin:/bin" : path).split(File.pathSeparator)) {
            if (!dir.isEmpty()) {
                Path p = Path.of(dir, tool);
                if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        return null;
    }
}
