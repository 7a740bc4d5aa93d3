package io.github.incus4j.api.internal.config;

import static org.apiguardian.api.API.Status.INTERNAL;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.internal.text.ErrorTexts;
import io.github.incus4j.api.internal.text.GoStrings;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
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

    private static final String VOLATILE_PREFIX = "volatile.";
    private static final String KERNEL_LIMITS_PREFIX = "limits.kernel.";
    private static final String CREDENTIAL_PREFIX = "systemd.credential.";
    private static final String CREDENTIAL_BINARY_PREFIX = "systemd.credential-binary.";

    // ---------------------------------------------------------------- checks (shared/validate)

    private static final Check ANY_VALUE = v -> null;

    private static final Check BOOL = v -> ConfigValues.isBool(v) ? null : "Invalid value for a boolean " + GoStrings.quote(v);

    private static final Check INT64 = v -> GoInt.parse(v, true, 64) == null ? null
            : "Invalid value for an integer " + GoStrings.quote(v);

    private static final Check UINT32 = v -> {
        String err = GoInt.parse(v, false, 32);
        return err == null ? null : "Invalid value for uint32 " + GoStrings.quote(v) + ": " + GoInt.error("ParseUint", v, err);
    };

    /** {@code validate.IsPriority}: 0 to 10. */
    private static final Check PRIORITY = intRange(0, 10, "Invalid value for a limit %s. Must be between 0 and 10");

    /** {@code validate.IsOOMPriority}: -1000 to 1000. */
    private static final Check OOM_PRIORITY =
            intRange(-1000, 1000, "Invalid value for a limit %s. Must be between -1000 and 1000");

    private static final Check SIZE = ConfigValues::byteSizeError;

    private static final Check UUID = v -> isUuid(v) ? null : "Invalid UUID";

    private static final Check CPU_SET = ConfigKeys::cpuSetError;

    private static final Check NETWORK_ADDRESS = v -> IpAddress.isValid(v) ? null : "Not an IP address " + GoStrings.quote(v);

    /** {@code validate.IsAbsFilePath} (Go's {@code filepath.IsAbs} on Linux). */
    private static final Check ABS_PATH = v -> v.startsWith("/") ? null : "Must be absolute file path";

    private static final Check BASE64 = ConfigKeys::base64Error;

    private static final Check EXPIRY = SnapshotExpiry::error;

    /** {@code environment.*}: only {@code \n} is refused, as in Incus. */
    private static final Check ENVIRONMENT =
            v -> v.contains("\n") ? "Environment variables cannot contain line breaks" : null;

    /** {@code nvidia.*} values are written into the LXC config, so line breaks would inject directives. */
    private static final Check NVIDIA_VALUE = v -> v.indexOf('\n') >= 0 || v.indexOf('\r') >= 0
            ? "NVIDIA configuration values cannot contain line breaks" : null;

    private static final List<String> SCHEDULE_ALIASES = List.of(
            "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@annually", "@yearly", "@startup", "@never");

    private static final Check SNAPSHOT_SCHEDULE = v -> Cron.error(v, SCHEDULE_ALIASES);

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
        String err = ConfigValues.byteSizeError(v);
        if (err != null) {
            return err;
        }
        long bytes = ConfigValues.parseByteSizeOrNull(v);
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
            return "Invalid value for an integer " + GoStrings.quote(v);
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

    private ConfigKeys() {
    }

    /** Whether {@code key} is a container-only key ({@code InstanceConfigKeysContainer}). */
    static boolean isContainerKey(String key) {
        return CONTAINER_KEYS.containsKey(key);
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
        boolean isDenyDefault = ConfigValues.isTrue(
                exclusiveKeys("security.syscalls.deny_default", "security.syscalls.blacklist_default", config));
        boolean isDenyCompat = ConfigValues.isTrue(
                exclusiveKeys("security.syscalls.deny_compat", "security.syscalls.blacklist_compat", config));
        if (rawSeccomp && (isAllow || isDeny || isDenyDefault || isDenyCompat)) {
            throw new InvalidArgumentException("raw.seccomp is mutually exclusive with security.syscalls*");
        }
        if (isAllow && (isDeny || isDenyDefault || isDenyCompat)) {
            throw new InvalidArgumentException(
                    "security.syscalls.allow is mutually exclusive with security.syscalls.deny*");
        }
        if (ConfigValues.isTrue(config.get("security.privileged")) && ConfigValues.isTrue(config.get("nvidia.runtime"))) {
            throw new InvalidArgumentException("nvidia.runtime is incompatible with privileged containers");
        }
    }

    /**
     * Refuses a key or value holding an unpaired UTF-16 surrogate: it has no UTF-8 form, so the record could not
     * hold it (Incus's Go strings cannot even carry one).
     */
    private static void requireEncodable(String key, String value) {
        if (ErrorTexts.hasUnpairedSurrogate(key)) {
            throw new InvalidArgumentException("Invalid config key " + GoStrings.quote(key)
                    + ": unpaired UTF-16 surrogates cannot be stored");
        }
        if (value != null && ErrorTexts.hasUnpairedSurrogate(value)) {
            throw new InvalidArgumentException("Invalid value for config key " + GoStrings.quote(key) + ": unpaired UTF-16 "
                    + "surrogates cannot be stored (value " + GoStrings.quote(value) + ")");
        }
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
        return new InvalidArgumentException("Invalid value for config key " + GoStrings.quote(key) + ": " + named(err, value));
    }

    /** Incus's text, with {@code (value "...")} appended when the text does not already show the value. */
    static String named(String err, String value) {
        if (err.contains(GoStrings.quote(value)) || (!value.isEmpty() && err.endsWith(": " + value))) {
            return err;
        }
        return err + " (value " + GoStrings.quote(value) + ")";
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
            return GoStrings.quote(v) + " isn't a valid value";
        };
    }

    /** {@code validate.IsOneOf}; Go prints the list as {@code [a b c]}. */
    private static Check oneOf(String... valid) {
        List<String> list = List.of(valid);
        String shown = "[" + String.join(" ", list) + "]";
        return v -> list.contains(v) ? null : "Invalid value " + GoStrings.quote(v) + " (not one of " + shown + ")";
    }

    /** {@code validate.IsListOf}: a comma-separated list, each item trimmed. */
    private static Check listOf(Check item) {
        return v -> {
            for (String part : v.split(",", -1)) {
                String trimmed = GoStrings.trimSpace(part);
                String err = item.test(trimmed);
                if (err != null) {
                    return "Item " + GoStrings.quote(trimmed) + ": " + err;
                }
            }
            return null;
        };
    }

    /** An int64 within bounds; {@code format} receives the quoted value. */
    private static Check intRange(long min, long max, String format) {
        return v -> {
            if (GoInt.parse(v, true, 64) != null) {
                return "Invalid value for an integer " + GoStrings.quote(v);
            }
            long n = Long.parseLong(v);
            return n < min || n > max ? String.format(Locale.ROOT, format, GoStrings.quote(v)) : null;
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
                return "Invalid CPU range " + GoStrings.quote(chunk) + ": the first CPU is after the last";
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
        String err = "Invalid CPU topology " + GoStrings.quote(value) + ", expected sockets=N,cores=N,threads=N";
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
            return "CPU topology " + GoStrings.quote(value) + " has more than " + MAX_CPUS + " CPUs";
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
                return "Invalid value for a base64 string " + GoStrings.quote(value) + ": illegal base64 data at input byte " + i;
            }
            count++;
        }
        if (count % 4 == 1) {
            return "Invalid value for a base64 string " + GoStrings.quote(value) + ": illegal base64 data at input byte "
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


}
