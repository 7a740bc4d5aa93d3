package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.IncusException;
import java.nio.file.Path;
import jnr.ffi.LastError;
import jnr.ffi.Runtime;
import org.apiguardian.api.API;

/** Device nodes made on the host ({@code mknod(2)}), for the {@code unix-char}/{@code unix-block} devices. */
@API(status = INTERNAL)
public final class DeviceNodes {
    private static final int EEXIST = 17;

    private DeviceNodes() {
    }

    /** glibc's {@code makedev}: the minor's low 8 bits, the major's 12, then the rest of each. */
    static long makedev(long major, long minor) {
        return ((major & 0xfffL) << 8) | ((major & ~0xfffL) << 32) | (minor & 0xffL) | ((minor & ~0xffL) << 12);
    }

    /** Makes the node {@code path} ({@code mode}: type and permission bits); an existing file there is an error. */
    public static void mknod(Path path, int mode, int major, int minor) {
        var libc = NetNamespace.libc();
        if (libc.mknod(FdCalls.c(path.toString()), mode, makedev(major & 0xffffffffL, minor & 0xffffffffL)) != 0) {
            int errno = LastError.getLastError(Runtime.getRuntime(libc));
            throw new IncusException("Cannot create the device node " + path + " (" + major + ":" + minor
                    + "), errno " + errno + (errno == EEXIST ? " (file exists)" : ""));
        }
    }
}
