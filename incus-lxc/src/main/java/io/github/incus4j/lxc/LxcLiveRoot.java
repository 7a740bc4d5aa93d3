package io.github.incus4j.lxc;

import io.github.incus4j.lxc.binding.LxcContainer;
import io.github.incus4j.lxc.binding.ProcRoot;
import io.github.incus4j.lxc.binding.RootDirectory;
import java.nio.file.Files;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What one container's file API serves ({@link RootDirectory}, confined by the kernel, ids shown as the container
 * sees them): while the container runs, its init's root ({@code /proc/<pid>/root}) with every mount in it, disk
 * devices included, as Incus's {@code forkfile} sees them; else its root filesystem; decided per operation. The init
 * is pinned through the pidfd liblxc's monitor holds, kept while that init lives.
 */
final class LxcLiveRoot {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstance.class.getName());
    private static final AtomicBoolean LIVE_ROOT_WARNED = new AtomicBoolean();

    private final LxcContainerInstance instance;
    /** The pidfd of the init whose root the file API serves ({@link #openLiveRoot}); guards itself. */
    private final ProcRoot.Pinned[] liveRoot = new ProcRoot.Pinned[1];

    LxcLiveRoot(LxcContainerInstance instance) {
        this.instance = instance;
    }

    /** What the file API serves: the running container's root with its mounts, else the root filesystem. */
    RootDirectory fileBackend() {
        return new RootDirectory(instance.rootfsPath(), instance.diskIdmap().orElse(null), this::openLiveRoot);
    }

    /**
     * The running container's root directory for {@link RootDirectory}, pinned to its init through the pidfd
     * liblxc's monitor holds ({@code init_pidfd}), or -1 when the container is not running. The pidfd is kept while
     * its init lives (two syscalls per operation instead of a round trip to the monitor, about 1.3 ms) and dropped
     * once it exited, so that a restarted container is served from its new init. Without liblxc's {@code pidfd}
     * extension the root filesystem is served (without the container's mounts), and a warning logged once.
     */
    private int openLiveRoot() {
        synchronized (liveRoot) {
            if (liveRoot[0] != null) {
                int root = liveRoot[0].openRoot();
                if (root >= 0) {
                    return root;
                }
                drop();
            }
            if (instance.isSnapshot() || !Files.exists(instance.lxcDir().resolve("config"))
                    || !instance.driverStatus().isRunning()) {
                return -1; // the kept status: a start behind the driver's back is seen within a second
            }
            int pidfd;
            try (LxcContainer c = instance.open()) {
                pidfd = c.initPidfd();
                if (pidfd < 0) {
                    if (c.isRunning() && !LIVE_ROOT_WARNED.getAndSet(true)) {
                        LOG.log(System.Logger.Level.WARNING, "liblxc gives no pidfd of {0}''s init (API extension "
                                + "\"pidfd\"): its files are served from the root filesystem, without its mounts",
                                instance.name());
                    }
                    return -1;
                }
            }
            liveRoot[0] = ProcRoot.Pinned.of(pidfd);
            int root = liveRoot[0] == null ? -1 : liveRoot[0].openRoot();
            if (root < 0) {
                drop();
            }
            return root;
        }
    }

    /** Closes the kept pidfd of the init the file API serves, if any. */
    void drop() {
        synchronized (liveRoot) {
            if (liveRoot[0] != null) {
                liveRoot[0].close();
                liveRoot[0] = null;
            }
        }
    }
}
