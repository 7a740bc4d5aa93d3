package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.Profile;
import java.math.BigInteger;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apiguardian.api.API;

/**
 * Instance configuration keys as Incus validates, expands and live-updates them.
 *
 * <p>The key tables mirror {@code internal/instance/config.go}: {@code InstanceConfigKeysAny} (containers and VMs),
 * {@code InstanceConfigKeysContainer}, {@code InstanceConfigKeysVM} and the prefix rules of {@code ConfigKeyChecker}
 * ({@code volatile.<device>.*}, {@code environment.*}, {@code user.*}, {@code image.*}, {@code limits.kernel.*},
 * {@code linux.sysctl.*}...). Each key maps to a check ported from {@code shared/validate}; the extra rules of
 * {@code ValidConfig} ({@code internal/server/instance/instance_utils.go}) are in {@link #validateConfig}.
 *
 * <p>Error texts are Incus's. Incus returns a validator's text bare (only the caller adds {@code "Invalid config: "});
 * here a bad value is reported as {@code Invalid value for config key "<key>": <Incus text>}, and when Incus's text
 * does not already quote the value, {@code (value "<value>")} is appended so that the message always names both.
 * Quoting follows Go's {@code %q}.
 */
@API(status = INTERNAL)
public final class ConfigKeys {
    /** One value check: {@code null} when the value is accepted, else Incus's error text. */
    @FunctionalInterface
    private interface Check {
        String test(String value);
    }

    /** A prefix rule of {@code ConfigKeyChecker}: for keys under {@code prefix} on these types, a check or null. */
    private record PrefixRule(String prefix, Set<InstanceType> types, Function<String, Check> resolve) {
    }

    private static final Set<InstanceType> ALL_TYPES = EnumSet.allOf(InstanceType.class);
    private static final Set<InstanceType> CONTAINER_TYPES = EnumSet.of(InstanceType.ANY, InstanceType.CONTAINER);
    private static final Set<InstanceType> VM_TYPES = EnumSet.of(InstanceType.ANY, InstanceType.VM);

    private static final Set<String> TRUE_WORDS = Set.of("true", "1", "yes", "on");
    private static final Set<String> FALSE_WORDS = Set.of("false", "0", "no", "off");

    private static final String VOLATILE_PREFIX = "volatile.";
    private static final String KERNEL_LIMITS_PREFIX = "limits.kernel.";
    private static final String CREDENTIAL_PREFIX = "systemd.credential.";
    private static final String CREDENTIAL_BINARY_PREFIX = "systemd.credential-binary.";

    // ---------------------------------------------------------------- checks (shared/validate)

    private static final Check ANY_VALUE = v -> null;

    private static final Check BOOL = v -> isBool(v) ? null : "Invalid value for a boolean " + quote(v);

    private static final Check INT64 = v -> GoInt.parse(v, true, 64) == null ? null
            : "Invalid value for an integer " + quote(v);

    private static final Check UINT32 = v -> {
        String err = GoInt.parse(v, false, 32);
        return err == null ? null : "Invalid value for uint32 " + quote(v) + ": " + GoInt.error("ParseUint", v, err);
    };

    /** {@code validate.IsPriority}: 0 to 10. */
    private static final Check PRIORITY = intRange(0, 10, "Invalid value for a limit %s. Must be between 0 and 10");

    /** {@code validate.IsOOMPriority}: -1000 to 1000. */
    private static final Check OOM_PRIORITY =
            intRange(-1000, 1000, "Invalid value for a limit %s. Must be between -1000 and 1000");

    private static final Check SIZE = ConfigKeys::byteSizeError;

    private static final Check UUID = v -> isUuid(v) ? null : "Invalid UUID";

    private static final Check CPU_SET = ConfigKeys::cpuSetError;

    private static final Check NETWORK_ADDRESS = v -> IpAddress.isValid(v) ? null : "Not an IP address " + quote(v);

    /** {@code validate.IsAbsFilePath} (Go's {@code filepath.IsAbs} on Linux). */
    private static final Check ABS_PATH = v -> v.startsWith("/") ? null : "Must be absolute file path";

    private static final Check BASE64 = ConfigKeys::base64Error;

    private static final Check EXPIRY = v -> Expiry.parse(v).error();

    /** {@code environment.*}: only {@code \n} is refused, as in Incus. */
    private static final Check ENVIRONMENT =
            v -> v.contains("\n") ? "Environment variables cannot contain line breaks" : null;

    /** {@code nvidia.*} values are written into the LXC config, so line breaks would inject directives. */
    private static final Check NVIDIA_VALUE = v -> v.indexOf('\n') >= 0 || v.indexOf('\r') >= 0
            ? "NVIDIA configuration values cannot contain line breaks" : null;

    private static final Check SNAPSHOT_SCHEDULE = Cron.check(List.of(
            "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@annually", "@yearly", "@startup", "@never"));

    /** The smallest {@code limits.memory} accepted (an incus4j bound: Incus fails at start instead). */
    public static final long MIN_MEMORY = 4L << 20;

    /** The most CPUs a Linux kernel can have ({@code CONFIG_NR_CPUS} at most 8192): CPU ids and counts stay below. */
    public static final int MAX_CPUS = 8192;

    /** {@code limits.memory}: a byte size or a percentage of the host's memory, never zero. */
    private static final Check MEMORY_LIMIT = v -> {
        if (v.isEmpty()) {
            return null;
        }
        if (v.endsWith("%")) {
            String number = v.substring(0, v.length() - 1);
            String err = GoInt.parse(number, true, 64);
            if (err != null) {
                return GoInt.error("ParseInt", number, err);
            }
            int sign = new BigInteger(number).signum();
            if (sign == 0) {
                return "Memory limit can't be 0%";
            }
            // Incus lets a negative percentage through to the cgroup write at start; refuse it here.
            return sign < 0 ? "Memory limit can't be negative" : null;
        }
        String err = byteSizeError(v);
        if (err != null) {
            return err;
        }
        long bytes = parseByteSizeOrNull(v);
        if (bytes == 0) {
            return "Memory limit can't be 0";
        }
        // Below this not even the init process fits: liblxc and QEMU would only fail at start.
        return bytes < MIN_MEMORY ? "Memory limit must be at least 4MiB" : null;
    };

    /**
     * {@code limits.cpu.allowance}: {@code N%} (soft) or {@code Xms/Yms} (hard), parsed as Incus does; beyond Incus
     * (which fails at start, or overflows into "unlimited"), a percentage must not be negative, the period 1-1000ms (the
     * kernel's range) and the quota at least 1ms and at most {@link #MAX_CPUS} periods.
     */
    private static final Check CPU_ALLOWANCE = v -> {
        if (v.isEmpty()) {
            return null;
        }
        if (v.endsWith("%")) {
            String number = v.substring(0, v.length() - 1);
            String err = atoiError(number);
            if (err != null) {
                return err;
            }
            long percent = Long.parseLong(number);
            return percent < 0 ? "CPU allowance percentage can't be negative" : null;
        }
        int slash = v.indexOf('/');
        if (slash < 0) {
            return "Invalid allowance: " + v;
        }
        String quota = trimSuffix(v.substring(0, slash), "ms");
        String period = trimSuffix(v.substring(slash + 1), "ms");
        String err = atoiError(quota);
        if (err == null) {
            err = atoiError(period);
        }
        if (err != null) {
            return err;
        }
        long q = Long.parseLong(quota);
        long p = Long.parseLong(period);
        if (p < 1 || p > 1000) {
            return "CPU allowance period must be between 1ms and 1000ms";
        }
        if (q < 1 || q > (long) MAX_CPUS * p) {
            return "CPU allowance quota must be between 1ms and " + MAX_CPUS + " periods";
        }
        return null;
    };

    /** {@code limits.processes}: an int64 (Incus) that the kernel takes: -1 (no limit) or at least 1. */
    private static final Check PROCESSES = optional(v -> {
        if (GoInt.parse(v, true, 64) != null) {
            return "Invalid value for an integer " + quote(v);
        }
        long n = Long.parseLong(v);
        return n == -1 || n >= 1 ? null : "Process limit must be -1 (no limit) or at least 1";
    });

    /** {@code limits.cpu}: a CPU set or count, or (VMs) a {@code sockets=,cores=,threads=} topology. */
    private static final Check LIMITS_CPU = optional(v -> v.contains("=") ? cpuTopologyError(v) : cpuSetError(v));

    private static final Pattern TOPOLOGY_PART = Pattern.compile("(sockets|cores|threads)=([0-9]+)");

    // ---------------------------------------------------------------- key tables (internal/instance/config.go)

    /** {@code InstanceConfigKeysAny}. */
    private static final Map<String, Check> ANY_KEYS = table(
            "boot.autorestart", optional(BOOL),
            "boot.autostart", optional(or(BOOL, oneOf("last-state"))),
            "boot.autostart.delay", optional(INT64),
            "boot.autostart.priority", optional(INT64),
            "boot.stop.priority", optional(INT64),
            "boot.host_shutdown_action", optional(oneOf("stop", "force-stop", "stateful-stop")),
            "boot.host_shutdown_timeout", optional(INT64),
            // Incus also parses these as YAML; any string is accepted here.
            "cloud-init.network-config", ANY_VALUE,
            "cloud-init.user-data", ANY_VALUE,
            "cloud-init.vendor-data", ANY_VALUE,
            "cluster.evacuate", optional(oneOf(
                    "auto", "migrate", "live-migrate", "refresh-migrate", "stop", "stateful-stop", "force-stop")),
            "limits.cpu", LIMITS_CPU,
            "limits.cpu.nodes", optional(or(CPU_SET, oneOf("0", "balanced"))),
            "limits.disk.priority", optional(PRIORITY),
            "limits.memory", MEMORY_LIMIT,
            "limits.memory.oom_priority", optional(OOM_PRIORITY),
            "migration.stateful", optional(BOOL),
            // Callers are responsible for the full validation of raw.* values.
            "raw.apparmor", ANY_VALUE,
            "raw.idmap", ANY_VALUE,
            "security.guestapi", optional(BOOL),
            "security.nesting", optional(BOOL),
            "security.protection.delete", optional(BOOL),
            "security.protection.start", optional(BOOL),
            "snapshots.schedule", optional(SNAPSHOT_SCHEDULE),
            "snapshots.schedule.stopped", optional(BOOL),
            "snapshots.pattern", ANY_VALUE,
            "snapshots.expiry", EXPIRY,
            "snapshots.expiry.manual", EXPIRY,
            "volatile.apply_template", ANY_VALUE,
            "volatile.base_image", ANY_VALUE,
            "volatile.cloud-init.instance-id", optional(UUID),
            "volatile.cluster.group", ANY_VALUE,
            "volatile.cpu.nodes", optional(or(CPU_SET, oneOf("0", "balanced"))),
            "volatile.evacuate.origin", ANY_VALUE,
            "volatile.last_state.agent", ANY_VALUE,
            "volatile.last_state.power", ANY_VALUE,
            "volatile.last_state.ready", BOOL,
            "volatile.rebalance.last_move", optional(INT64),
            "volatile.uuid", optional(UUID),
            "volatile.uuid.generation", optional(UUID));

    /** {@code InstanceConfigKeysContainer}. */
    private static final Map<String, Check> CONTAINER_KEYS = table(
            "limits.cpu.allowance", CPU_ALLOWANCE,
            "limits.cpu.priority", optional(PRIORITY),
            "limits.hugepages.64KB", optional(SIZE),
            "limits.hugepages.1MB", optional(SIZE),
            "limits.hugepages.2MB", optional(SIZE),
            "limits.hugepages.1GB", optional(SIZE),
            "limits.memory.enforce", optional(oneOf("soft", "hard")),
            "limits.memory.swap", optional(or(BOOL, SIZE)),
            "limits.memory.swap.priority", optional(PRIORITY),
            "limits.processes", PROCESSES,
            "linux.kernel_modules", ANY_VALUE,
            "migration.incremental.memory", optional(BOOL),
            "migration.incremental.memory.iterations", optional(UINT32),
            "migration.incremental.memory.goal", optional(UINT32),
            "nvidia.runtime", optional(BOOL),
            "nvidia.driver.capabilities", NVIDIA_VALUE,
            "nvidia.require.cuda", NVIDIA_VALUE,
            "nvidia.require.driver", NVIDIA_VALUE,
            "oci.entrypoint", ANY_VALUE,
            "oci.cwd", optional(ABS_PATH),
            "oci.gid", optional(UINT32),
            "oci.uid", optional(UINT32),
            // raw.lxc is further parsed line by line in validateKey (lxcValidConfig).
            "raw.lxc", ANY_VALUE,
            "raw.seccomp", ANY_VALUE,
            "security.bpffs.delegate_attachs", ANY_VALUE,
            "security.bpffs.delegate_cmds", ANY_VALUE,
            "security.bpffs.delegate_maps", ANY_VALUE,
            "security.bpffs.delegate_progs", ANY_VALUE,
            "security.bpffs.path", optional(ABS_PATH),
            "security.guestapi.images", optional(BOOL),
            "security.idmap.base", optional(UINT32),
            "security.idmap.isolated", optional(BOOL),
            "security.idmap.size", optional(UINT32),
            "security.privileged", optional(BOOL),
            "security.protection.shift", optional(BOOL),
            "security.syscalls.allow", ANY_VALUE,
            "security.syscalls.blacklist", ANY_VALUE,
            "security.syscalls.blacklist_compat", optional(BOOL),
            "security.syscalls.blacklist_default", optional(BOOL),
            "security.syscalls.deny", ANY_VALUE,
            "security.syscalls.deny_compat", optional(BOOL),
            "security.syscalls.deny_default", optional(BOOL),
            "security.syscalls.intercept.bpf", optional(BOOL),
            "security.syscalls.intercept.bpf.devices", optional(BOOL),
            "security.syscalls.intercept.mknod", optional(BOOL),
            "security.syscalls.intercept.mount", optional(BOOL),
            "security.syscalls.intercept.mount.allowed", ANY_VALUE,
            "security.syscalls.intercept.mount.fuse", ANY_VALUE,
            "security.syscalls.intercept.mount.shift", optional(BOOL),
            "security.syscalls.intercept.sched_setscheduler", optional(BOOL),
            "security.syscalls.intercept.setxattr", optional(BOOL),
            "security.syscalls.intercept.sysinfo", optional(BOOL),
            "security.syscalls.whitelist", ANY_VALUE,
            "volatile.container.oci", BOOL,
            "volatile.idmap.base", ANY_VALUE,
            "volatile.idmap.current", ANY_VALUE,
            "volatile.idmap.next", ANY_VALUE,
            "volatile.last_state.idmap", ANY_VALUE);

    /** {@code InstanceConfigKeysVM}. */
    private static final Map<String, Check> VM_KEYS = table(
            "agent.nic_config", optional(BOOL),
            "limits.memory.hotplug", optional(or(BOOL, SIZE)),
            "limits.memory.hugepages", optional(BOOL),
            "raw.qemu", ANY_VALUE,
            "raw.qemu.conf", ANY_VALUE,
            "raw.qemu.qmp.early", ANY_VALUE,
            "raw.qemu.qmp.post-start", ANY_VALUE,
            "raw.qemu.qmp.pre-start", ANY_VALUE,
            // Incus compiles the scriptlet; any string is accepted here.
            "raw.qemu.scriptlet", ANY_VALUE,
            "security.agent.metrics", optional(BOOL),
            "security.csm", optional(BOOL),
            "security.iommu", optional(BOOL),
            "security.secureboot", optional(BOOL),
            "security.sev", optional(BOOL),
            "security.sev.policy.es", optional(BOOL),
            "security.sev.session.data", ANY_VALUE,
            "security.sev.session.dh", ANY_VALUE,
            "volatile.apply_nvram", optional(BOOL),
            "volatile.vm.boot_state", ANY_VALUE,
            "volatile.vm.definition", ANY_VALUE,
            "volatile.vm.hotplug.memory", ANY_VALUE,
            "volatile.vm.needs_reset", optional(BOOL),
            "volatile.vm.rtc_adjustment", optional(INT64),
            "volatile.vm.rtc_offset", optional(INT64),
            "volatile.vsock_id", optional(INT64));

    /** Per-device volatile keys ({@code volatile.<device>.<suffix>}), all free-form except the IP list. */
    private static final List<String> VOLATILE_DEVICE_SUFFIXES = List.of(
            ".apply_quota", ".ceph_rbd", ".host_name", ".hwaddr", ".io.bus", ".mig.uuid", ".name", ".vgpu.uuid",
            ".last_state.created", ".last_state.hwaddr", ".last_state.mtu", ".last_state.pci.driver",
            ".last_state.pci.parent", ".last_state.pci.slot.name", ".last_state.usb.bus", ".last_state.usb.device",
            ".last_state.vdpa.name", ".last_state.vf.hwaddr", ".last_state.vf.id", ".last_state.vf.parent",
            ".last_state.vf.spoofcheck", ".last_state.vf.trusted", ".last_state.vf.vlan");

    /**
     * {@code ConfigKeyChecker}'s prefix rules, tried in Incus's order after the three tables. Incus writes the
     * {@code smbios11.*} test as {@code HasPrefix && type == Any || type == VM}, which makes every unknown key valid
     * on a VM; the intended rule (the prefix, on VMs) is kept here so that unknown keys stay unknown.
     */
    private static final List<PrefixRule> PREFIX_RULES = List.of(
            new PrefixRule(VOLATILE_PREFIX, ALL_TYPES, ConfigKeys::volatileDeviceCheck),
            new PrefixRule("environment.", ALL_TYPES, k -> ENVIRONMENT),
            new PrefixRule("user.", ALL_TYPES, k -> ANY_VALUE),
            new PrefixRule("image.", ALL_TYPES, k -> ANY_VALUE),
            new PrefixRule("smbios11.", VM_TYPES, k -> ANY_VALUE),
            new PrefixRule(KERNEL_LIMITS_PREFIX, ALL_TYPES,
                    k -> k.length() > KERNEL_LIMITS_PREFIX.length() ? ANY_VALUE : null),
            new PrefixRule("linux.sysctl.", CONTAINER_TYPES, k -> ANY_VALUE),
            new PrefixRule(CREDENTIAL_PREFIX, ALL_TYPES, k -> ANY_VALUE),
            new PrefixRule(CREDENTIAL_BINARY_PREFIX, ALL_TYPES, k -> BASE64));

    /** Keys a running VM accepts changes to (besides container-only keys and {@link #VM_LIVE_PREFIXES}). */
    private static final Set<String> VM_LIVE_KEYS = Set.of(
            "cluster.evacuate", "limits.cpu", "limits.memory", "limits.memory.oom_priority",
            "security.agent.metrics", "security.csm", "security.guestapi", "security.protection.delete",
            "security.protection.start", "security.secureboot");

    private static final List<String> VM_LIVE_PREFIXES = List.of(
            "boot.", "cloud-init.", "environment.", "image.", "snapshots.", "user.", VOLATILE_PREFIX);

    private ConfigKeys() {
    }

    // ---------------------------------------------------------------- validation

    /**
     * Validates one key and value for an instance type, as Incus's {@code validConfigKey}: the key is looked up in
     * the keys of any instance, then (containers or {@link InstanceType#ANY}) the container keys, then (VMs or ANY)
     * the VM keys, then the prefix rules; otherwise {@code Unknown configuration key: <key>} (so a container-only key
     * on a VM, or the reverse, is unknown). Then the value is checked, then the type-specific rules:
     * {@code <key> isn't supported for VMs} for {@code limits.kernel.*} and
     * {@code CPU topology syntax for limits.cpu is only supported for virtual machines} for a topology on a container;
     * {@code raw.lxc} is parsed as Incus does. A {@code null} value is treated as unset ({@code ""}).
     *
     * @throws InvalidArgumentException when the key is unknown or the value invalid
     */
    public static void validateKey(InstanceType type, String key, String value) {
        requireType(type);
        String v = value == null ? "" : value;
        Check check = checker(type, key);
        String err = check.test(v);
        if (err != null) {
            throw invalidValue(key, v, err);
        }
        if (type == InstanceType.VM && key.startsWith(KERNEL_LIMITS_PREFIX)) {
            throw new InvalidArgumentException(key + " isn't supported for VMs");
        }
        if (type == InstanceType.CONTAINER && key.equals("limits.cpu") && v.contains("=")) {
            throw new InvalidArgumentException(
                    "CPU topology syntax for limits.cpu is only supported for virtual machines");
        }
        if (key.equals("raw.lxc")) {
            err = rawLxcError(v);
            if (err != null) {
                throw invalidValue(key, v, err);
            }
        }
    }

    /**
     * Validates a whole config map as Incus's {@code ValidConfig}: each key (in sorted order, so that the first error
     * is deterministic) through {@link #validateKey}; on a profile ({@code profile}) {@code volatile.*} and
     * {@code image.*} keys are refused ({@code Volatile keys can only be set on instances},
     * {@code Image keys can only be set on instances}); then the combination rules: {@code systemd.credential.<n>}
     * excludes {@code systemd.credential-binary.<n>}, {@code security.syscalls.allow}/{@code .whitelist},
     * {@code .deny}/{@code .blacklist} and their {@code _default}/{@code _compat} forms exclude one another,
     * {@code raw.seccomp is mutually exclusive with security.syscalls*},
     * {@code security.syscalls.allow is mutually exclusive with security.syscalls.deny*} and
     * {@code nvidia.runtime is incompatible with privileged containers}. Incus validates profiles with type
     * {@link InstanceType#ANY}; pass that to accept keys of both types. {@code null} config is valid.
     *
     * @throws InvalidArgumentException on the first rule broken
     */
    public static void validateConfig(InstanceType type, Map<String, String> config, boolean profile) {
        requireType(type);
        if (config == null) {
            return;
        }
        List<Map.Entry<String, String>> entries = new ArrayList<>(config.entrySet());
        entries.sort(Map.Entry.comparingByKey(Comparator.nullsFirst(Comparator.naturalOrder())));
        for (Map.Entry<String, String> e : entries) {
            String key = e.getKey();
            if (key == null) {
                throw unknownKey(null);
            }
            requireEncodable(key, e.getValue());
            if (profile && key.startsWith(VOLATILE_PREFIX)) {
                throw new InvalidArgumentException("Volatile keys can only be set on instances");
            }
            if (profile && key.startsWith("image.")) {
                throw new InvalidArgumentException("Image keys can only be set on instances");
            }
            validateKey(type, key, e.getValue());
            if (key.startsWith(CREDENTIAL_PREFIX)) {
                String name = key.substring(CREDENTIAL_PREFIX.length());
                if (!valueOf(config, CREDENTIAL_BINARY_PREFIX + name).isEmpty()) {
                    throw new InvalidArgumentException(
                            "Mutually exclusive keys " + key + " and " + CREDENTIAL_BINARY_PREFIX + name + " are set");
                }
            }
        }

        // Presence, not truth, counts for raw.seccomp and the allow/deny lists (Incus tests map membership).
        boolean rawSeccomp = config.containsKey("raw.seccomp");
        boolean isAllow = exclusiveKeys("security.syscalls.allow", "security.syscalls.whitelist", config) != null;
        boolean isDeny = exclusiveKeys("security.syscalls.deny", "security.syscalls.blacklist", config) != null;
        boolean isDenyDefault = isTrue(
                exclusiveKeys("security.syscalls.deny_default", "security.syscalls.blacklist_default", config));
        boolean isDenyCompat = isTrue(
                exclusiveKeys("security.syscalls.deny_compat", "security.syscalls.blacklist_compat", config));
        if (rawSeccomp && (isAllow || isDeny || isDenyDefault || isDenyCompat)) {
            throw new InvalidArgumentException("raw.seccomp is mutually exclusive with security.syscalls*");
        }
        if (isAllow && (isDeny || isDenyDefault || isDenyCompat)) {
            throw new InvalidArgumentException(
                    "security.syscalls.allow is mutually exclusive with security.syscalls.deny*");
        }
        if (isTrue(config.get("security.privileged")) && isTrue(config.get("nvidia.runtime"))) {
            throw new InvalidArgumentException("nvidia.runtime is incompatible with privileged containers");
        }
    }

    /**
     * Refuses a key or value holding an unpaired UTF-16 surrogate: it has no UTF-8 form, so the record could not
     * hold it (Incus's Go strings cannot even carry one).
     */
    private static void requireEncodable(String key, String value) {
        if (ErrorTexts.hasUnpairedSurrogate(key)) {
            throw new InvalidArgumentException("Invalid config key " + quote(key)
                    + ": unpaired UTF-16 surrogates cannot be stored");
        }
        if (value != null && ErrorTexts.hasUnpairedSurrogate(value)) {
            throw new InvalidArgumentException("Invalid value for config key " + quote(key) + ": unpaired UTF-16 "
                    + "surrogates cannot be stored (value " + quote(value) + ")");
        }
    }

    // ---------------------------------------------------------------- booleans (shared/util)

    /** Incus's {@code util.IsTrue}: {@code true}, {@code 1}, {@code yes} or {@code on}, any case. */
    public static boolean isTrue(String v) {
        return v != null && TRUE_WORDS.contains(v.toLowerCase(Locale.ROOT));
    }

    /** Incus's {@code util.IsFalseOrEmpty}: unset, empty, or {@code false}, {@code 0}, {@code no}, {@code off}. */
    public static boolean isFalseOrEmpty(String v) {
        return v == null || v.isEmpty() || FALSE_WORDS.contains(v.toLowerCase(Locale.ROOT));
    }

    /** Incus's {@code validate.IsBool}: one of {@code true false yes no 1 0 on off}, any case. */
    public static boolean isBool(String v) {
        return v != null && (isTrue(v) || FALSE_WORDS.contains(v.toLowerCase(Locale.ROOT)));
    }

    // ---------------------------------------------------------------- byte sizes (shared/units)

    /**
     * Incus's {@code units.ParseByteSizeString}: digits followed by a suffix: none, {@code B} or {@code " bytes"}
     * (bytes), {@code kB MB GB TB PB EB} (powers of 1000) or {@code KiB MiB GiB TiB PiB EiB} (powers of 1024). The
     * empty string is 0. {@code KB}, decimals and signs are refused.
     *
     * @throws InvalidArgumentException naming the value, e.g. {@code Invalid value: 5XB}
     */
    public static long parseByteSize(String s) {
        if (s == null) {
            throw new InvalidArgumentException("Invalid value: null");
        }
        String err = byteSizeError(s);
        if (err != null) {
            throw new InvalidArgumentException(named(err, s));
        }
        return parseByteSizeOrNull(s);
    }

    // ---------------------------------------------------------------- snapshot expiry (internal/instance GetExpiry)

    /**
     * The expiry a {@code snapshots.expiry} expression gives from {@code from}, as Incus's {@code GetExpiry}: tokens
     * {@code <n><unit>} separated by single spaces, units {@code S} (seconds), {@code M} (minutes), {@code H}
     * (hours), {@code d} (days), {@code w} (weeks), {@code m} (months), {@code y} (years), each at most once. Years,
     * months and days are added together as calendar fields in UTC with Go's {@code AddDate} normalisation (31 January
     * plus one month is 2 or 3 March), then the hours, minutes and seconds. An empty (or {@code null}) expression means
     * no expiry.
     *
     * @throws InvalidArgumentException {@code Invalid expiry expression (value "...")}
     */
    public static Optional<Instant> expiry(String expression, Instant from) {
        if (from == null) {
            throw new InvalidArgumentException("A reference time is required to compute a snapshot expiry");
        }
        String expr = expression == null ? "" : expression;
        Expiry parsed = Expiry.parse(expr);
        if (parsed.error() != null) {
            throw new InvalidArgumentException(named(parsed.error(), expr));
        }
        if (parsed.fields() == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(parsed.addTo(from));
        } catch (ArithmeticException | DateTimeException e) {
            throw new InvalidArgumentException(named("Invalid expiry expression", expr), e);
        }
    }

    // ---------------------------------------------------------------- live update (driver_qemu.go Update)

    /**
     * Whether Incus lets {@code key} change while the instance runs. Containers apply every key live. A running VM
     * accepts only {@code cluster.evacuate}, {@code limits.cpu} (CPU hotplug), {@code limits.memory},
     * {@code limits.memory.oom_priority}, {@code security.agent.metrics}, {@code security.csm},
     * {@code security.guestapi}, {@code security.protection.delete}, {@code security.protection.start},
     * {@code security.secureboot}, keys under {@code boot. cloud-init. environment. image. snapshots. user. volatile.},
     * and container-only keys (which do not affect a VM); anything else fails with {@link #liveUpdateError}.
     * {@link InstanceType#ANY} gets the VM rule, the one both types accept.
     */
    public static boolean canUpdateLive(InstanceType type, String key) {
        requireType(type);
        if (type == InstanceType.CONTAINER) {
            return true;
        }
        if (key == null) {
            return false;
        }
        return VM_LIVE_KEYS.contains(key)
                || CONTAINER_KEYS.containsKey(key)
                || VM_LIVE_PREFIXES.stream().anyMatch(key::startsWith);
    }

    /** Incus's refusal of a change on a running VM: {@code Key "<key>" cannot be updated when VM is running}. */
    public static String liveUpdateError(String key) {
        return "Key " + quote(String.valueOf(key)) + " cannot be updated when VM is running";
    }

    // ---------------------------------------------------------------- expansion (instancetype.ExpandInstanceConfig)

    /**
     * The expanded config: each profile's config in order, later profiles overriding earlier ones, then the local
     * config on top. Returns an unmodifiable map sorted by key.
     */
    public static Map<String, String> expandConfig(List<Profile> profiles, Map<String, String> local) {
        TreeMap<String, String> out = new TreeMap<>();
        if (profiles != null) {
            for (Profile p : profiles) {
                out.putAll(p.config());
            }
        }
        if (local != null) {
            out.putAll(local);
        }
        return Collections.unmodifiableSortedMap(out);
    }

    /**
     * The expanded devices: each profile's devices in order, then the local devices, a device of a given name replacing
     * the earlier one as a whole (devices are not merged key by key).
     */
    public static Devices expandDevices(List<Profile> profiles, Devices local) {
        Devices out = Devices.EMPTY;
        if (profiles != null) {
            for (Profile p : profiles) {
                out = out.overlay(p.devices());
            }
        }
        return local == null ? out : out.overlay(local);
    }

    // ================================================================ internals

    private static void requireType(InstanceType type) {
        if (type == null) {
            throw new InvalidArgumentException("Invalid instance type: null");
        }
    }

    /** {@code ConfigKeyChecker}: the check for a key on an instance type, or {@code Unknown configuration key}. */
    private static Check checker(InstanceType type, String key) {
        if (key == null) {
            throw unknownKey(null);
        }
        Check check = ANY_KEYS.get(key);
        if (check == null && CONTAINER_TYPES.contains(type)) {
            check = CONTAINER_KEYS.get(key);
        }
        if (check == null && VM_TYPES.contains(type)) {
            check = VM_KEYS.get(key);
        }
        for (int i = 0; check == null && i < PREFIX_RULES.size(); i++) {
            PrefixRule rule = PREFIX_RULES.get(i);
            if (key.startsWith(rule.prefix()) && rule.types().contains(type)) {
                check = rule.resolve().apply(key);
            }
        }
        if (check == null) {
            throw unknownKey(key);
        }
        return check;
    }

    private static Check volatileDeviceCheck(String key) {
        if (key.endsWith(".last_state.ip_addresses")) {
            // Not optional in Incus: an empty list is one empty item, which is not an address.
            return listOf(NETWORK_ADDRESS);
        }
        return VOLATILE_DEVICE_SUFFIXES.stream().anyMatch(key::endsWith) ? ANY_VALUE : null;
    }

    private static InvalidArgumentException unknownKey(String key) {
        return new InvalidArgumentException("Unknown configuration key: " + key);
    }

    private static InvalidArgumentException invalidValue(String key, String value, String err) {
        return new InvalidArgumentException("Invalid value for config key " + quote(key) + ": " + named(err, value));
    }

    /** Incus's text, with {@code (value "...")} appended when the text does not already show the value. */
    private static String named(String err, String value) {
        if (err.contains(quote(value)) || (!value.isEmpty() && err.endsWith(": " + value))) {
            return err;
        }
        return err + " (value " + quote(value) + ")";
    }

    private static String valueOf(Map<String, String> config, String key) {
        String v = config.get(key);
        return v == null ? "" : v;
    }

    /** Incus's {@code exclusiveConfigKeys}: the value of whichever key is present ({@code null} if neither). */
    private static String exclusiveKeys(String key1, String key2, Map<String, String> config) {
        if (!valueOf(config, key1).isEmpty() && !valueOf(config, key2).isEmpty()) {
            throw new InvalidArgumentException("Mutually exclusive keys " + key1 + " and " + key2 + " are set");
        }
        if (config.containsKey(key1)) {
            return valueOf(config, key1);
        }
        return config.containsKey(key2) ? valueOf(config, key2) : null;
    }

    /** A key table from alternating keys and checks; duplicates are a programming error. */
    private static Map<String, Check> table(Object... keysAndChecks) {
        Map<String, Check> m = new LinkedHashMap<>();
        for (int i = 0; i < keysAndChecks.length; i += 2) {
            String key = (String) keysAndChecks[i];
            if (m.put(key, (Check) keysAndChecks[i + 1]) != null) {
                throw new IllegalStateException("Duplicate config key " + key);
            }
        }
        return Collections.unmodifiableMap(m);
    }

    // ---------------------------------------------------------------- check combinators

    /** {@code validate.Optional}: the empty string is accepted. */
    private static Check optional(Check check) {
        return v -> v.isEmpty() ? null : check.test(v);
    }

    /** {@code validate.Or}: accepted if any check accepts; Incus then drops the individual reasons. */
    private static Check or(Check... checks) {
        return v -> {
            for (Check c : checks) {
                if (c.test(v) == null) {
                    return null;
                }
            }
            return quote(v) + " isn't a valid value";
        };
    }

    /** {@code validate.IsOneOf}; Go prints the list as {@code [a b c]}. */
    private static Check oneOf(String... valid) {
        List<String> list = List.of(valid);
        String shown = "[" + String.join(" ", list) + "]";
        return v -> list.contains(v) ? null : "Invalid value " + quote(v) + " (not one of " + shown + ")";
    }

    /** {@code validate.IsListOf}: a comma-separated list, each item trimmed. */
    private static Check listOf(Check item) {
        return v -> {
            for (String part : v.split(",", -1)) {
                String trimmed = goTrimSpace(part);
                String err = item.test(trimmed);
                if (err != null) {
                    return "Item " + quote(trimmed) + ": " + err;
                }
            }
            return null;
        };
    }

    /** An int64 within bounds; {@code format} receives the quoted value. */
    private static Check intRange(long min, long max, String format) {
        return v -> {
            if (GoInt.parse(v, true, 64) != null) {
                return "Invalid value for an integer " + quote(v);
            }
            long n = Long.parseLong(v);
            return n < min || n > max ? String.format(Locale.ROOT, format, quote(v)) : null;
        };
    }

    private static String atoiError(String s) {
        String err = GoInt.parse(s, true, 64);
        return err == null ? null : GoInt.error("Atoi", s, err);
    }

    private static String trimSuffix(String s, String suffix) {
        return s.endsWith(suffix) ? s.substring(0, s.length() - suffix.length()) : s;
    }

    // ---------------------------------------------------------------- individual validators

    private static final Map<String, Long> BYTE_MULTIPLIERS = byteMultipliers();

    private static Map<String, Long> byteMultipliers() {
        Map<String, Long> m = new HashMap<>();
        m.put("", 1L);
        m.put("B", 1L);
        m.put(" bytes", 1L);
        String[] decimal = {"kB", "MB", "GB", "TB", "PB", "EB"};
        String[] binary = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        long d = 1;
        long b = 1;
        for (int i = 0; i < decimal.length; i++) {
            d *= 1000;
            b *= 1024;
            m.put(decimal[i], d);
            m.put(binary[i], b);
        }
        return Map.copyOf(m);
    }

    /** {@code units.ParseByteSizeString}'s error text, or {@code null}. */
    private static String byteSizeError(String input) {
        if (input.isEmpty()) {
            return null;
        }
        int split = firstNonDigit(input);
        if (split == 0) {
            return "Invalid value: " + input;
        }
        String number = input.substring(0, split);
        Long multiplier = BYTE_MULTIPLIERS.get(input.substring(split));
        if (GoInt.parse(number, true, 64) != null) {
            return "Invalid integer: " + input;
        }
        if (multiplier == null) {
            return "Invalid value: " + input;
        }
        long value = Long.parseLong(number);
        try {
            Math.multiplyExact(value, multiplier.longValue());
            return null;
        } catch (ArithmeticException e) {
            return "Overflow multiplying " + value + " with " + multiplier;
        }
    }

    /** The size of an input {@link #byteSizeError} accepted. */
    private static long parseByteSizeOrNull(String input) {
        if (input.isEmpty()) {
            return 0;
        }
        int split = firstNonDigit(input);
        return Long.parseLong(input.substring(0, split)) * BYTE_MULTIPLIERS.get(input.substring(split));
    }

    private static int firstNonDigit(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return i;
            }
        }
        return s.length();
    }

    private static final Pattern CPU_SET_SYNTAX =
            Pattern.compile("(?:[0-9]+(?:[,-][0-9]+)?)(?:,[0-9]+(?:[,-][0-9]+)*)?");

    /**
     * {@code validate.IsValidCPUSet}: a count ({@code 4}, at least 1) or a list of CPUs and ranges, none twice. Beyond
     * Incus (whose start then fails), a range must not be reversed and CPU ids and counts stay below
     * {@link #MAX_CPUS}.
     */
    private static String cpuSetError(String value) {
        if (!CPU_SET_SYNTAX.matcher(value).matches()) {
            return "Invalid CPU limit syntax";
        }
        String invalid = "Invalid cpuset value: " + value;
        if (GoInt.parse(value, true, 64) == null) {
            long count = Long.parseLong(value);
            if (count > MAX_CPUS) {
                return "CPU count must be at most " + MAX_CPUS;
            }
            return count < 1 ? invalid : null;
        }
        List<long[]> ranges = new ArrayList<>();
        for (String chunk : value.split(",", -1)) {
            int dash = chunk.indexOf('-');
            String low = dash < 0 ? chunk : chunk.substring(0, dash);
            String high = dash < 0 ? chunk : chunk.substring(dash + 1);
            if (GoInt.parse(low, true, 64) != null || GoInt.parse(high, true, 64) != null) {
                return invalid;
            }
            long lo = Long.parseLong(low);
            long hi = Long.parseLong(high);
            if (lo > hi) {
                return "Invalid CPU range " + quote(chunk) + ": the first CPU is after the last";
            }
            if (hi >= MAX_CPUS) {
                return "CPU ids must be below " + MAX_CPUS;
            }
            ranges.add(new long[] {lo, hi});
        }
        ranges.sort(Comparator.comparingLong(r -> r[0]));
        for (int i = 1; i < ranges.size(); i++) {
            if (ranges.get(i)[0] <= ranges.get(i - 1)[1]) {
                return "Cannot define CPU multiple times";
            }
        }
        return null;
    }

    /** A VM CPU topology: {@code sockets=N,cores=N,threads=N}, each once, each at least 1. */
    private static String cpuTopologyError(String value) {
        String err = "Invalid CPU topology " + quote(value) + ", expected sockets=N,cores=N,threads=N";
        Set<String> seen = new HashSet<>();
        long product = 1;
        for (String part : value.split(",", -1)) {
            Matcher m = TOPOLOGY_PART.matcher(part);
            if (!m.matches() || !seen.add(m.group(1)) || GoInt.parse(m.group(2), true, 64) != null
                    || Long.parseLong(m.group(2)) < 1 || Long.parseLong(m.group(2)) > MAX_CPUS) {
                return err;
            }
            product *= Long.parseLong(m.group(2));
        }
        if (product > MAX_CPUS) {
            return "CPU topology " + quote(value) + " has more than " + MAX_CPUS + " CPUs";
        }
        return seen.size() == 3 ? null : err;
    }

    private static final Pattern UUID_HEX = Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            + "[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
    private static final Pattern UUID_PLAIN = Pattern.compile("[0-9a-fA-F]{32}");

    /** {@code uuid.Parse}: canonical, {@code {...}}, {@code urn:uuid:...} or 32 bare hex digits. */
    private static boolean isUuid(String v) {
        switch (v.length()) {
            case 36:
                return UUID_HEX.matcher(v).matches();
            case 38:
                return v.startsWith("{") && v.endsWith("}") && UUID_HEX.matcher(v.substring(1, 37)).matches();
            case 45:
                return v.regionMatches(true, 0, "urn:uuid:", 0, 9) && UUID_HEX.matcher(v.substring(9)).matches();
            case 32:
                return UUID_PLAIN.matcher(v).matches();
            default:
                return false;
        }
    }

    /**
     * {@code validate.IsBase64}: Go's raw standard decoder after trimming {@code =}. Like Go's decoder it skips
     * {@code \r} and {@code \n}; the reported offset is that of the first bad character.
     */
    private static String base64Error(String value) {
        String trimmed = value.replaceAll("=+$", "");
        int count = 0;
        for (int i = 0; i < trimmed.length(); i++) {
            char c = trimmed.charAt(i);
            if (c == '\r' || c == '\n') {
                continue;
            }
            boolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '+' || c == '/';
            if (!ok) {
                return "Invalid value for a base64 string " + quote(value) + ": illegal base64 data at input byte " + i;
            }
            count++;
        }
        if (count % 4 == 1) {
            return "Invalid value for a base64 string " + quote(value) + ": illegal base64 data at input byte "
                    + (trimmed.length() - 1);
        }
        return null;
    }

    /** Incus's {@code lxcValidConfig} for {@code raw.lxc}: {@code key = value} lines, some keys reserved. */
    private static String rawLxcError(String rawLxc) {
        for (String original : rawLxc.split("\n", -1)) {
            if (original.isEmpty()) {
                continue;
            }
            String line = original.replaceFirst("^[\t ]+", "");
            if (line.startsWith("#")) {
                continue;
            }
            int eq = line.indexOf('=');
            if (eq < 0) {
                return "Invalid raw.lxc line: " + line;
            }
            String key = line.substring(0, eq).replaceAll("^[ \t]+|[ \t]+$", "").toLowerCase(Locale.ROOT);
            if (key.isEmpty()) {
                continue;
            }
            if (key.equals("lxc.logfile") || key.equals("lxc.log.file")) {
                return "Setting lxc.logfile is not allowed";
            }
            if (key.equals("lxc.syslog") || key.equals("lxc.log.syslog")) {
                return "Setting lxc.log.syslog is not allowed";
            }
            if (key.equals("lxc.ephemeral")) {
                return "Setting lxc.ephemeral is not allowed";
            }
            if (key.startsWith("lxc.prlimit.")) {
                return "Process limits should be set via \"limits.kernel.[limit name]\" and not directly via "
                        + "\"lxc.prlimit.[limit name]\"";
            }
            // Incus 6.0.0-6.0.4: the network is Incus's own, only addresses and gateways may be added.
            if (key.startsWith("lxc.net.") || key.startsWith("lxc.network.")) {
                String[] fields = key.split("\\.", -1);
                boolean ipField = fields.length == 5 && (fields[3].equals("ipv4") || fields[3].equals("ipv6"))
                        && (fields[4].equals("address") || fields[4].equals("gateway"));
                if (!key.startsWith("lxc.net.") || !ipField) {
                    return "Only interface-specific ipv4/ipv6 lxc.net. keys are allowed";
                }
            }
            // liblxc reads its configuration as C strings: a NUL would cut the line short.
            if (line.indexOf('\0') >= 0) {
                return "raw.lxc lines cannot contain NUL characters";
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- Go formatting helpers

    /** Go's {@code %q} / {@code strconv.Quote}. */
    public static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        s.codePoints().forEach(cp -> {
            switch (cp) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case 0x07 -> sb.append("\\a");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case 0x0B -> sb.append("\\v");
                default -> {
                    if (isGoPrintable(cp)) {
                        sb.appendCodePoint(cp);
                    } else if (cp < 0x80) {
                        sb.append(String.format(Locale.ROOT, "\\x%02x", cp));
                    } else if (cp < 0x10000) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", cp));
                    } else {
                        sb.append(String.format(Locale.ROOT, "\\U%08x", cp));
                    }
                }
            }
        });
        return sb.append('"').toString();
    }

    /** Go's {@code strconv.IsPrint}: graphic characters and the ASCII space. */
    private static boolean isGoPrintable(int cp) {
        if (cp == ' ') {
            return true;
        }
        switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
                    Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                    Character.SPACE_SEPARATOR:
                return false;
            default:
                return true;
        }
    }

    /** Go's {@code strings.TrimSpace} (Unicode white space as {@code unicode.IsSpace} defines it). */
    private static String goTrimSpace(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && isGoSpace(s.charAt(start))) {
            start++;
        }
        while (end > start && isGoSpace(s.charAt(end - 1))) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean isGoSpace(char c) {
        switch (c) {
            case '\t', '\n', 0x0B, '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
                return true;
            default:
                return c >= 0x2000 && c <= 0x200A;
        }
    }

    /** Go's {@code strconv} integer parsing (base 10, ASCII digits, optional sign for signed types). */
    private static final class GoInt {
        private static final String SYNTAX = "invalid syntax";
        private static final String RANGE = "value out of range";
        private static final BigInteger TEN = BigInteger.TEN;

        private GoInt() {
        }

        /** {@code null} if {@code s} parses, else {@code "invalid syntax"} or {@code "value out of range"}. */
        static String parse(String s, boolean signed, int bits) {
            String digits = s;
            boolean negative = false;
            if (signed && !s.isEmpty() && (s.charAt(0) == '+' || s.charAt(0) == '-')) {
                negative = s.charAt(0) == '-';
                digits = s.substring(1);
            }
            if (digits.isEmpty()) {
                return SYNTAX;
            }
            // The magnitude is scanned as Go's ParseUint does: a range error as soon as it overflows, a syntax error
            // at the first non-digit before that.
            BigInteger scanMax = BigInteger.ONE.shiftLeft(signed ? 64 : bits).subtract(BigInteger.ONE);
            BigInteger n = BigInteger.ZERO;
            for (int i = 0; i < digits.length(); i++) {
                char c = digits.charAt(i);
                if (c < '0' || c > '9') {
                    return SYNTAX;
                }
                n = n.multiply(TEN).add(BigInteger.valueOf(c - '0'));
                if (n.compareTo(scanMax) > 0) {
                    return RANGE;
                }
            }
            if (signed) {
                BigInteger limit = BigInteger.ONE.shiftLeft(bits - 1);
                if (negative ? n.compareTo(limit) > 0 : n.compareTo(limit) >= 0) {
                    return RANGE;
                }
            }
            return null;
        }

        /** Go's {@code *strconv.NumError} text. */
        static String error(String func, String s, String reason) {
            return "strconv." + func + ": parsing " + quote(s) + ": " + reason;
        }
    }

    /** Go's {@code net.ParseIP}: dotted IPv4 (no leading zeros) or IPv6 (no zone). */
    private static final class IpAddress {
        private static final Pattern V4_PART = Pattern.compile("0|[1-9][0-9]{0,2}");
        private static final Pattern V6_GROUP = Pattern.compile("[0-9a-fA-F]{1,4}");

        private IpAddress() {
        }

        static boolean isValid(String s) {
            return isV4(s) || isV6(s);
        }

        private static boolean isV4(String s) {
            String[] parts = s.split("\\.", -1);
            if (parts.length != 4) {
                return false;
            }
            for (String p : parts) {
                if (!V4_PART.matcher(p).matches() || Integer.parseInt(p) > 255) {
                    return false;
                }
            }
            return true;
        }

        private static boolean isV6(String s) {
            int gap = s.indexOf("::");
            if (gap >= 0 && s.indexOf("::", gap + 1) >= 0) {
                return false;
            }
            if (gap < 0) {
                return groups(s, true) == 8;
            }
            String head = s.substring(0, gap);
            String tail = s.substring(gap + 2);
            int h = head.isEmpty() ? 0 : groups(head, false);
            int t = tail.isEmpty() ? 0 : groups(tail, true);
            return h >= 0 && t >= 0 && h + t <= 7;
        }

        /**
         * Number of 16-bit groups in a colon-separated run, or -1. Only the last run of an address may end with
         * an embedded IPv4 address, which counts as two groups.
         */
        private static int groups(String run, boolean last) {
            String[] parts = run.split(":", -1);
            int count = 0;
            for (int i = 0; i < parts.length; i++) {
                if (last && i == parts.length - 1 && parts[i].contains(".")) {
                    if (!isV4(parts[i])) {
                        return -1;
                    }
                    count += 2;
                } else if (V6_GROUP.matcher(parts[i]).matches()) {
                    count++;
                } else {
                    return -1;
                }
            }
            return count;
        }
    }

    /** Incus's {@code IsCron} (gronx since v7): comma-and-space separated aliases or five-field cron expressions. */
    private static final class Cron {
        private static final Pattern WHITESPACE = Pattern.compile("\\s+");
        private static final List<String> MONTHS =
                List.of("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec");
        private static final List<String> DAYS = List.of("sun", "mon", "tue", "wed", "thu", "fri", "sat");
        private static final Pattern DOM_SPECIAL = Pattern.compile("l|lw|[0-9]{1,2}w");
        private static final Pattern DOW_SPECIAL = Pattern.compile("[0-7](l|#[1-5])");

        private Cron() {
        }

        static Check check(List<String> aliases) {
            return value -> {
                // Triggers are separated by ", " because a bare comma is part of cron syntax.
                for (String trigger : value.toLowerCase(Locale.ROOT).split(", ", -1)) {
                    if (!aliases.contains(trigger) && !isValid(trigger)) {
                        return "Error parsing cron expr: " + trigger;
                    }
                }
                return null;
            };
        }

        private static boolean isValid(String expr) {
            String trimmed = expr.strip();
            if (trimmed.isEmpty()) {
                return false;
            }
            String[] f = WHITESPACE.split(trimmed);
            return f.length == 5
                    && field(f[0], 0, 59, List.of(), null)
                    && field(f[1], 0, 23, List.of(), null)
                    && field(f[2], 1, 31, List.of(), DOM_SPECIAL)
                    && field(f[3], 1, 12, MONTHS, null)
                    && field(f[4], 0, 7, DAYS, DOW_SPECIAL);
        }

        /** One field: a list of {@code *}, {@code ?}, values, names, ranges, each optionally {@code /step}. */
        private static boolean field(String field, int min, int max, List<String> names, Pattern special) {
            for (String item : field.split(",", -1)) {
                if (special != null && special.matcher(item).matches()) {
                    continue;
                }
                String base = item;
                int slash = item.indexOf('/');
                if (slash >= 0) {
                    String step = item.substring(slash + 1);
                    if (GoInt.parse(step, false, 32) != null || Long.parseLong(step) < 1) {
                        return false;
                    }
                    base = item.substring(0, slash);
                }
                if (base.equals("*") || base.equals("?")) {
                    continue;
                }
                int dash = base.indexOf('-');
                String[] ends = dash < 0 ? new String[] {base} : new String[] {base.substring(0, dash),
                        base.substring(dash + 1)};
                int[] values = new int[ends.length];
                for (int i = 0; i < ends.length; i++) {
                    values[i] = value(ends[i], min, max, names);
                    if (values[i] < 0) {
                        return false;
                    }
                }
                if (values.length == 2 && values[0] > values[1]) {
                    return false;
                }
            }
            return true;
        }

        private static int value(String s, int min, int max, List<String> names) {
            int named = names.indexOf(s);
            if (named >= 0) {
                return named + (names.size() == 12 ? 1 : 0);
            }
            if (s.isEmpty() || s.length() > 2 || GoInt.parse(s, false, 32) != null) {
                return -1;
            }
            int v = Integer.parseInt(s);
            return v < min || v > max ? -1 : v;
        }
    }

    /** A parsed {@code snapshots.expiry} expression: its fields (y, m, d, w, H, M, S) or Incus's error text. */
    private record Expiry(Map<Character, Long> fields, String error) {
        private static final Pattern TOKEN = Pattern.compile("([0-9]+)([SMHdwmy])");

        static Expiry parse(String s) {
            String expr = goTrimSpace(s);
            if (expr.isEmpty()) {
                return new Expiry(null, null);
            }
            Map<Character, Long> fields = new HashMap<>();
            for (String token : expr.split(" ", -1)) {
                Matcher m = TOKEN.matcher(token);
                if (!m.matches()) {
                    return new Expiry(null, "Invalid expiry expression");
                }
                char unit = m.group(2).charAt(0);
                // Incus only refuses a repeated unit when the earlier value was positive ("0d 1d" is accepted).
                if (fields.getOrDefault(unit, 0L) > 0) {
                    return new Expiry(null, "Invalid expiry expression");
                }
                String err = GoInt.parse(m.group(1), true, 64);
                if (err != null) {
                    return new Expiry(null, GoInt.error("Atoi", m.group(1), err));
                }
                fields.put(unit, Long.parseLong(m.group(1)));
            }
            return new Expiry(fields, null);
        }

        /**
         * Go's {@code refDate.AddDate(y, m, d+7w).Add(H, M, S)} in UTC. Values too large for a date throw
         * {@link ArithmeticException} or {@link DateTimeException} (Go would silently wrap).
         */
        Instant addTo(Instant from) {
            ZonedDateTime z = from.atZone(ZoneOffset.UTC);
            long months = Math.addExact(z.getYear() * 12L + (z.getMonthValue() - 1),
                    Math.addExact(Math.multiplyExact(12L, get('y')), get('m')));
            LocalDate firstOfMonth = LocalDate.of(Math.toIntExact(Math.floorDiv(months, 12L)),
                    (int) Math.floorMod(months, 12L) + 1, 1);
            // Go normalises day overflow into the following months, which plusDays from the 1st reproduces.
            long days = Math.addExact(z.getDayOfMonth() - 1L,
                    Math.addExact(get('d'), Math.multiplyExact(7L, get('w'))));
            Instant base = LocalDateTime.of(firstOfMonth.plusDays(days), z.toLocalTime()).toInstant(ZoneOffset.UTC);
            long seconds = Math.addExact(Math.multiplyExact(3600L, get('H')),
                    Math.addExact(Math.multiplyExact(60L, get('M')), get('S')));
            return base.plusSeconds(seconds);
        }

        private long get(char unit) {
            return fields.getOrDefault(unit, 0L);
        }
    }
}
