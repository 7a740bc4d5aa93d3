package io.github.incus4j.lxc.binding;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.lxc.binding.ffi.NativeApi.LibC;
import io.github.incus4j.lxc.binding.ffi.NativeApi.LibLxc;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReferenceArray;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.mapper.FunctionMapper;
import org.apiguardian.api.API;

/**
 * liblxc ({@code liblxc.so.1}) bound with jnr-ffi, once per process.
 *
 * <p>Exported functions are bound directly. The container operations are function pointers inside
 * {@code struct lxc_container}, which jnr-ffi cannot call from a struct field; instead libc's {@code memset(fn, 0, 0)}
 * is bound with a delegate interface as its return type, so jnr-ffi turns the address it returns into a typed, JIT-fast
 * caller. The slots hold the same static functions for every container, so each slot's delegate is made once and
 * reused while the address read from a container stays the same.
 *
 * <p>Version-aware: the layout is chosen from {@code lxc_get_version()} (older than 4.0.5 is refused), late members are
 * used only when {@code lxc_has_api_extension()} announces them, and no slot past the running library's struct size is
 * ever read. A missing capability shows in {@link #features()} and as a {@link NotSupportedException}, never a crash.
 */
@API(status = INTERNAL)
public final class Liblxc {
    /** The soname loaded: the runtime package ships it without the unversioned development symlink. */
    static final String LIBRARY = "liblxc.so.1";

    /** API extensions the binding (and the driver above it) looks for; {@link #features()} reports those present. */
    static final List<String> KNOWN_EXTENSIONS = List.of("console_log", "reboot2", "mount_injection_file",
            "seccomp_notify_fd_active", "pidfd", "devpts_fd", "cgroup2", "cgroup2_devices", "idmapped_mounts_v2",
            "seccomp_allow_deny_syntax", "seccomp_notify", "network_veth_router", "network_phys_macvlan_mtu",
            "container_set_timeout", "core_scheduling");

    private static final Object LOCK = new Object();
    private static Liblxc instance;
    private static NotSupportedException failure;

    private final LibLxc lxc;
    private final LibC libc;
    private final Runtime runtime;
    private final LxcVersion version;
    private final Set<String> features;
    private final AtomicReferenceArray<Bound<?>> bound = new AtomicReferenceArray<>(Slot.VALUES.size());
    private volatile String attachProgram;

    /** A slot's delegate and the function address it calls. */
    private record Bound<T>(long address, T delegate) {
    }

    private Liblxc(LibLxc lxc, LibC libc, LxcVersion version) {
        this.lxc = lxc;
        this.libc = libc;
        this.runtime = Runtime.getRuntime(lxc);
        this.version = version;
        Set<String> found = new LinkedHashSet<>();
        for (String extension : KNOWN_EXTENSIONS) {
            if (lxc.lxc_has_api_extension(extension) != 0) {
                found.add(extension);
            }
        }
        this.features = Collections.unmodifiableSet(found);
    }

    /**
     * The process's liblxc binding, loaded on first use.
     *
     * @throws NotSupportedException naming why liblxc cannot be used here: not a 64-bit platform, {@code liblxc.so.1}
     *     absent or unloadable, or a version older than 4.0.5. The outcome is remembered: later calls answer the same.
     */
    public static Liblxc load() {
        synchronized (LOCK) {
            if (instance == null && failure == null) {
                try {
                    instance = bind();
                } catch (NotSupportedException e) {
                    failure = e;
                }
            }
            if (failure != null) {
                throw new NotSupportedException(failure.getMessage(), failure);
            }
            return instance;
        }
    }

    private static Liblxc bind() {
        Platform platform = Platform.getNativePlatform();
        if (platform.getOS() != Platform.OS.LINUX) {
            throw new NotSupportedException("liblxc needs Linux; this is " + platform.getOS());
        }
        LibLxc lxc;
        LibC libc;
        String text;
        try {
            lxc = LibraryLoader.create(LibLxc.class).failImmediately().load(LIBRARY);
            libc = LibraryLoader.create(LibC.class).failImmediately()
                    .mapper(new MemsetMapper())
                    .load(platform.getStandardCLibraryName());
            text = lxc.lxc_get_version();
        } catch (UnsatisfiedLinkError e) {
            throw new NotSupportedException("liblxc is not available: cannot load " + LIBRARY + " (" + e.getMessage()
                    + "); install the liblxc1 package", e);
        } catch (LinkageError e) {
            throw new NotSupportedException("jnr-ffi cannot bind " + LIBRARY + ": " + e, e);
        }
        Runtime runtime = Runtime.getRuntime(lxc);
        if (runtime.addressSize() != 8 || runtime.longSize() != 8) {
            throw new NotSupportedException("The liblxc binding knows the LP64 layout only; this platform has "
                    + runtime.addressSize() * 8 + "-bit pointers");
        }
        return new Liblxc(lxc, libc, LxcVersion.parse(text).requireSupported());
    }

    /** Binds every {@code memset*} method of {@link LibC} to libc's {@code memset}. */
    private static final class MemsetMapper implements FunctionMapper {
        @Override
        public String mapFunctionName(String functionName, Context context) {
            return functionName.startsWith("memset") ? "memset" : functionName;
        }
    }

    /**
     * The program to spawn for {@code lxc-attach}: a sealed in-memory copy made once per process (see
     * {@link SealedProgram}), or {@code "lxc-attach"} when the copy cannot be made.
     */
    public String attachProgram() {
        String p = attachProgram;
        if (p == null) {
            synchronized (LOCK) {
                if (attachProgram == null) {
                    attachProgram = SealedProgram.copy(libc, runtime, "lxc-attach");
                }
                p = attachProgram;
            }
        }
        return p;
    }

    /** The version {@code lxc_get_version()} reports, e.g. {@code "5.0.2"}. */
    public String version() {
        return version.text();
    }

    LxcVersion parsedVersion() {
        return version;
    }

    /** The known API extensions this liblxc announces (see {@code lxc_has_api_extension}). */
    public Set<String> features() {
        return features;
    }

    /** Whether liblxc announces an API extension, known to this binding or not. */
    public boolean hasApiExtension(String extension) {
        return lxc.lxc_has_api_extension(requireText(extension, "API extension")) != 0;
    }

    /** Whether liblxc accepts a configuration key such as {@code lxc.net.0.type}. */
    public boolean isConfigItemSupported(String key) {
        return lxc.lxc_config_item_is_supported(requireText(key, "config key")) != 0;
    }

    /** A global configuration value such as {@code lxc.lxcpath}; empty when liblxc has none for that key. */
    public Optional<String> globalConfigItem(String key) {
        return Optional.ofNullable(lxc.lxc_get_global_config_item(requireText(key, "config key")));
    }

    /** Allocates a pseudo-terminal in the JVM through libc (see {@link Pty}). */
    public Pty openPty() {
        return Pty.open(libc, Runtime.getRuntime(libc));
    }

    /**
     * A handle on the container {@code name} under {@code lxcpath} (defined or not: see
     * {@link LxcContainer#isDefined()}). Close it to release liblxc's reference.
     */
    public LxcContainer open(String name, Path lxcpath) {
        requireText(name, "container name");
        if (name.contains("/")) {
            throw new InvalidArgumentException("Invalid container name \"" + name + "\": it contains '/'");
        }
        String path = lxcpath.toAbsolutePath().toString();
        long address = lxc.lxc_container_new(name, path);
        if (address == 0) {
            throw new InvalidArgumentException("liblxc refused container \"" + name + "\" under \"" + path
                    + "\" (lxc_container_new failed: unusable name or path, or no writable lock directory)");
        }
        return new LxcContainer(this, address, name, path);
    }

    /** Whether the running liblxc has this slot: inside its struct and, for late members, announced. */
    boolean supports(Slot<?> slot) {
        return slot.offset() + Long.BYTES <= version.containerStructSize()
                && (slot.extension() == null || features.contains(slot.extension()));
    }

    /** The delegate calling {@code slot} of the container at {@code container} (read through {@code struct}). */
    <T> T slot(Pointer struct, Slot<T> slot) {
        if (!supports(slot)) {
            throw new NotSupportedException("liblxc " + version + " does not support " + slot.name()
                    + (slot.extension() == null ? "" : " (API extension \"" + slot.extension() + "\" missing)"));
        }
        long address = struct.getAddress(slot.offset());
        Bound<?> b = bound.get(slot.index());
        if (b == null || b.address() != address) {
            if (address == 0) {
                throw new NotSupportedException("liblxc " + version + " left " + slot.name() + " unset");
            }
            b = new Bound<>(address, slot.binder().bind(libc, address));
            bound.set(slot.index(), b);
        }
        return slot.type().cast(b.delegate());
    }

    int put(long container) {
        return lxc.lxc_container_put(container);
    }

    Pointer pointer(long address) {
        return Pointer.wrap(runtime, address);
    }

    /** The NUL-terminated string at {@code address}, or null for NULL; not freed. */
    String string(long address) {
        return address == 0 ? null : pointer(address).getString(0, Integer.MAX_VALUE, StandardCharsets.UTF_8);
    }

    /** The string at {@code address} of at most {@code length} bytes. */
    String string(long address, int length) {
        return length == 0 ? "" : pointer(address).getString(0, length, StandardCharsets.UTF_8);
    }

    /** Native memory the caller must {@link #free(long)}. */
    long malloc(long size) {
        long address = libc.malloc(size);
        if (address == 0) {
            throw new OutOfMemoryError("malloc(" + size + ") failed");
        }
        return address;
    }

    void free(long address) {
        if (address != 0) {
            libc.free(address);
        }
    }

    private static String requireText(String value, String what) {
        if (value == null || value.isEmpty() || value.indexOf('\0') >= 0) {
            throw new InvalidArgumentException("Invalid " + what + " \"" + value + "\"");
        }
        return value;
    }

    @Override
    public String toString() {
        return "liblxc " + version + " " + features;
    }
}
