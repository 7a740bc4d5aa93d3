package io.github.incus4j.api.internal.config;

import static io.github.incus4j.api.InstanceType.ANY;
import static io.github.incus4j.api.InstanceType.CONTAINER;
import static io.github.incus4j.api.InstanceType.VM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.model.Device;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.Profile;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigKeysTest {

    private static void assertMessage(String expected, Runnable r) {
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class, r::run);
        assertEquals(expected, e.getMessage());
    }

    private static void assertInvalid(InstanceType type, String key, String value, String incusText) {
        assertMessage("Invalid value for config key \"" + key + "\": " + incusText,
                () -> ConfigKeys.validateKey(type, key, value));
    }

    private static void assertUnknown(InstanceType type, String key) {
        assertMessage("Unknown configuration key: " + key, () -> ConfigKeys.validateKey(type, key, ""));
    }

    private static void valid(InstanceType type, String key, String... values) {
        for (String v : values) {
            ConfigKeys.validateKey(type, key, v);
        }
    }

    // ================================================================ key lookup

    @Nested
    class KeyLookup {
        @ParameterizedTest
        @EnumSource(InstanceType.class)
        void unknownKeys(InstanceType type) {
            assertUnknown(type, "foo");
            assertUnknown(type, "limits.cpus");
            assertUnknown(type, "volatile.foo");
            assertUnknown(type, "volatile.eth0.foo");
            assertUnknown(type, "limits.kernel.");
            assertUnknown(type, "boot");
            assertUnknown(type, "");
        }

        @Test
        void nullKeyIsUnknown() {
            assertMessage("Unknown configuration key: null", () -> ConfigKeys.validateKey(CONTAINER, null, "x"));
        }

        @Test
        void nullTypeIsRefused() {
            assertMessage("Invalid instance type: null", () -> ConfigKeys.validateKey(null, "user.a", "x"));
        }

        @ParameterizedTest
        @ValueSource(strings = {"security.privileged", "security.idmap.isolated", "security.idmap.base",
                "security.syscalls.allow", "limits.cpu.allowance", "limits.cpu.priority", "limits.memory.enforce",
                "limits.memory.swap", "limits.processes", "limits.hugepages.2MB", "linux.kernel_modules", "raw.lxc",
                "raw.seccomp", "volatile.idmap.base", "volatile.idmap.current", "volatile.idmap.next",
                "volatile.last_state.idmap", "nvidia.runtime", "oci.entrypoint", "linux.sysctl.net.ipv4.ip_forward"})
        void containerOnlyKeysAreUnknownOnVms(String key) {
            assertUnknown(VM, key);
            ConfigKeys.validateKey(CONTAINER, key, "");
            ConfigKeys.validateKey(ANY, key, "");
        }

        @ParameterizedTest
        @ValueSource(strings = {"limits.memory.hotplug", "limits.memory.hugepages", "security.secureboot",
                "security.csm", "security.iommu", "security.sev", "security.agent.metrics", "raw.qemu",
                "raw.qemu.conf", "raw.qemu.qmp.early", "raw.qemu.qmp.pre-start", "raw.qemu.qmp.post-start",
                "agent.nic_config", "volatile.vsock_id", "volatile.vm.needs_reset", "volatile.vm.rtc_offset",
                "volatile.apply_nvram", "smbios11.io.systemd.credential"})
        void vmOnlyKeysAreUnknownOnContainers(String key) {
            assertUnknown(CONTAINER, key);
            ConfigKeys.validateKey(VM, key, "");
            ConfigKeys.validateKey(ANY, key, "");
        }

        @ParameterizedTest
        @EnumSource(InstanceType.class)
        void keysOfAnyInstance(InstanceType type) {
            valid(type, "boot.autostart", "true");
            valid(type, "limits.memory", "1GiB");
            valid(type, "security.nesting", "true");
            valid(type, "security.protection.start", "true");
            valid(type, "user.anything.at.all", "free\nform");
            valid(type, "image.os", "Debian");
            valid(type, "environment.HOME", "/root");
            valid(type, "volatile.eth0.hwaddr", "00:16:3e:00:00:01");
            valid(type, "volatile.eth0.host_name", "veth1234");
            valid(type, "volatile.eth0.name", "eth0");
            valid(type, "volatile.root.apply_quota", "10GiB");
            valid(type, "volatile.eth0.last_state.created", "true");
            valid(type, "volatile.eth0.last_state.vf.vlan", "3");
            valid(type, "systemd.credential.foo", "bar");
            valid(type, "systemd.credential-binary.foo", "YmFy");
        }

        @Test
        void kernelLimitsAreForContainers() {
            valid(CONTAINER, "limits.kernel.nofile", "1024");
            valid(CONTAINER, "limits.kernel.anything", "x");
            valid(ANY, "limits.kernel.nofile", "1024");
            assertMessage("limits.kernel.nofile isn't supported for VMs",
                    () -> ConfigKeys.validateKey(VM, "limits.kernel.nofile", "1024"));
        }

        @Test
        void nullValueIsUnset() {
            ConfigKeys.validateKey(CONTAINER, "limits.memory", null);
            assertInvalid(CONTAINER, "volatile.last_state.ready", null, "Invalid value for a boolean \"\"");
        }
    }

    // ================================================================ values: keys of any instance

    @Nested
    class AnyKeys {
        @ParameterizedTest
        @ValueSource(strings = {"true", "false", "yes", "no", "1", "0", "on", "off", "TRUE", "Off", ""})
        void booleans(String v) {
            for (String key : List.of("boot.autorestart", "migration.stateful", "security.nesting",
                    "security.protection.delete", "security.protection.start", "security.guestapi",
                    "snapshots.schedule.stopped")) {
                ConfigKeys.validateKey(ANY, key, v);
            }
        }

        @Test
        void badBooleans() {
            for (String key : List.of("boot.autorestart", "migration.stateful", "security.nesting",
                    "security.protection.delete", "security.protection.start", "security.guestapi",
                    "snapshots.schedule.stopped")) {
                assertInvalid(ANY, key, "maybe", "Invalid value for a boolean \"maybe\"");
            }
        }

        @Test
        void bootAutostart() {
            valid(VM, "boot.autostart", "true", "0", "last-state", "");
            assertInvalid(VM, "boot.autostart", "maybe", "\"maybe\" isn't a valid value");
            assertInvalid(VM, "boot.autostart", "Last-State", "\"Last-State\" isn't a valid value");
        }

        @Test
        void bootIntegers() {
            for (String key : List.of("boot.autostart.delay", "boot.autostart.priority", "boot.stop.priority",
                    "boot.host_shutdown_timeout")) {
                valid(CONTAINER, key, "0", "10", "-5", "+3", "9223372036854775807", "");
                assertInvalid(CONTAINER, key, "ten", "Invalid value for an integer \"ten\"");
                assertInvalid(CONTAINER, key, "1.5", "Invalid value for an integer \"1.5\"");
                assertInvalid(CONTAINER, key, "9223372036854775808",
                        "Invalid value for an integer \"9223372036854775808\"");
            }
        }

        @Test
        void hostShutdownAction() {
            valid(VM, "boot.host_shutdown_action", "stop", "force-stop", "stateful-stop", "");
            assertInvalid(VM, "boot.host_shutdown_action", "halt",
                    "Invalid value \"halt\" (not one of [stop force-stop stateful-stop])");
        }

        @Test
        void clusterEvacuate() {
            valid(VM, "cluster.evacuate", "auto", "migrate", "live-migrate", "refresh-migrate", "stop",
                    "stateful-stop", "force-stop", "");
            assertInvalid(VM, "cluster.evacuate", "Auto", "Invalid value \"Auto\" (not one of "
                    + "[auto migrate live-migrate refresh-migrate stop stateful-stop force-stop])");
        }

        @Test
        void cloudInitTakesAnyString() {
            valid(VM, "cloud-init.user-data", "#cloud-config\npackages: [vim]\n", "anything");
            valid(CONTAINER, "cloud-init.vendor-data", "#cloud-config");
            valid(CONTAINER, "cloud-init.network-config", "version: 2");
        }

        @Test
        void limitsCpu() {
            valid(CONTAINER, "limits.cpu", "1", "4", "0-3", "0,2,4", "0-1,4-5", "8192", "0-8191", "");
            // Beyond Incus, which lets these through to a failing start.
            assertInvalid(CONTAINER, "limits.cpu", "3-1",
                    "Invalid CPU range \"3-1\": the first CPU is after the last");
            assertInvalid(CONTAINER, "limits.cpu", "0-999999", "CPU ids must be below 8192 (value \"0-999999\")");
            assertInvalid(CONTAINER, "limits.cpu", "99999999999",
                    "CPU count must be at most 8192 (value \"99999999999\")");
            assertInvalid(CONTAINER, "limits.cpu", "99999999999999999999",
                    "Invalid cpuset value: 99999999999999999999");
            assertInvalid(CONTAINER, "limits.cpu", "0", "Invalid cpuset value: 0");
            assertInvalid(CONTAINER, "limits.cpu", "a", "Invalid CPU limit syntax (value \"a\")");
            assertInvalid(CONTAINER, "limits.cpu", "1,", "Invalid CPU limit syntax (value \"1,\")");
            assertInvalid(CONTAINER, "limits.cpu", "1-3,3", "Cannot define CPU multiple times (value \"1-3,3\")");
            assertInvalid(CONTAINER, "limits.cpu", "0,1-2-3", "Invalid cpuset value: 0,1-2-3");
        }

        @Test
        void limitsCpuTopologyIsForVms() {
            valid(VM, "limits.cpu", "sockets=1,cores=2,threads=2", "threads=1,sockets=2,cores=4");
            valid(ANY, "limits.cpu", "sockets=1,cores=2,threads=2");
            assertMessage("CPU topology syntax for limits.cpu is only supported for virtual machines",
                    () -> ConfigKeys.validateKey(CONTAINER, "limits.cpu", "sockets=1,cores=2,threads=2"));
            assertInvalid(VM, "limits.cpu", "sockets=1", "Invalid CPU topology \"sockets=1\", "
                    + "expected sockets=N,cores=N,threads=N");
            assertInvalid(VM, "limits.cpu", "sockets=0,cores=1,threads=1", "Invalid CPU topology "
                    + "\"sockets=0,cores=1,threads=1\", expected sockets=N,cores=N,threads=N");
            assertInvalid(VM, "limits.cpu", "sockets=1,sockets=1,cores=1", "Invalid CPU topology "
                    + "\"sockets=1,sockets=1,cores=1\", expected sockets=N,cores=N,threads=N");
        }

        @Test
        void limitsCpuNodes() {
            valid(CONTAINER, "limits.cpu.nodes", "0", "1", "0-1", "0,2", "balanced", "");
            assertInvalid(CONTAINER, "limits.cpu.nodes", "x", "\"x\" isn't a valid value");
            valid(VM, "volatile.cpu.nodes", "0", "1,3");
        }

        @Test
        void limitsMemory() {
            valid(VM, "limits.memory", "512MiB", "2GB", "1073741824", "1GiB", "50%", "100%", "4MiB", "");
            assertInvalid(VM, "limits.memory", "10 bytes", "Memory limit must be at least 4MiB (value \"10 bytes\")");
            assertInvalid(VM, "limits.memory", "1", "Memory limit must be at least 4MiB (value \"1\")");
            assertInvalid(VM, "limits.memory", "-50%", "Memory limit can't be negative (value \"-50%\")");
            assertInvalid(VM, "limits.memory", "0", "Memory limit can't be 0 (value \"0\")");
            assertInvalid(VM, "limits.memory", "0GiB", "Memory limit can't be 0 (value \"0GiB\")");
            assertInvalid(VM, "limits.memory", "0%", "Memory limit can't be 0% (value \"0%\")");
            assertInvalid(VM, "limits.memory", "abc", "Invalid value: abc");
            assertInvalid(VM, "limits.memory", "5XB", "Invalid value: 5XB");
            assertInvalid(VM, "limits.memory", "2KB", "Invalid value: 2KB");
            assertInvalid(VM, "limits.memory", "x%",
                    "strconv.ParseInt: parsing \"x\": invalid syntax (value \"x%\")");
        }

        @Test
        void oomPriority() {
            valid(CONTAINER, "limits.memory.oom_priority", "-1000", "0", "1000", "");
            assertInvalid(CONTAINER, "limits.memory.oom_priority", "1001",
                    "Invalid value for a limit \"1001\". Must be between -1000 and 1000");
            assertInvalid(CONTAINER, "limits.memory.oom_priority", "-1001",
                    "Invalid value for a limit \"-1001\". Must be between -1000 and 1000");
            assertInvalid(CONTAINER, "limits.memory.oom_priority", "high", "Invalid value for an integer \"high\"");
        }

        @Test
        void diskPriority() {
            valid(VM, "limits.disk.priority", "0", "5", "10", "");
            assertInvalid(VM, "limits.disk.priority", "11",
                    "Invalid value for a limit \"11\". Must be between 0 and 10");
            assertInvalid(VM, "limits.disk.priority", "-1",
                    "Invalid value for a limit \"-1\". Must be between 0 and 10");
            assertInvalid(VM, "limits.disk.priority", "low", "Invalid value for an integer \"low\"");
        }

        @Test
        void rawKeysAreFreeForm() {
            valid(CONTAINER, "raw.apparmor", "mount,\n");
            valid(CONTAINER, "raw.idmap", "both 1000 1000");
            valid(VM, "snapshots.pattern", "snap-{{ creation_date|date:'2006-01-02' }}");
        }

        @Test
        void snapshotSchedule() {
            valid(CONTAINER, "snapshots.schedule", "0 6 * * *", "@daily", "@DAILY", "@hourly, @startup",
                    "0 6 * * *, @startup", "*/15 * * * *", "0 0 1 jan mon", "0 0 1-15/2 * 1-5", "5,35 0-23/2 * * 7",
                    "@never", "@annually", "@yearly", "@midnight", "@weekly", "@monthly", "");
            assertInvalid(CONTAINER, "snapshots.schedule", "0 6 * *", "Error parsing cron expr: 0 6 * *");
            assertInvalid(CONTAINER, "snapshots.schedule", "@often", "Error parsing cron expr: @often");
            assertInvalid(CONTAINER, "snapshots.schedule", "61 * * * *", "Error parsing cron expr: 61 * * * *");
            assertInvalid(CONTAINER, "snapshots.schedule", "0 0 * 13 *", "Error parsing cron expr: 0 0 * 13 *");
            assertInvalid(CONTAINER, "snapshots.schedule", "@daily, nope",
                    "Error parsing cron expr: nope (value \"@daily, nope\")");
            // A bare comma is cron syntax, not a separator, so the aliases do not split there.
            assertInvalid(CONTAINER, "snapshots.schedule", "@daily,@hourly",
                    "Error parsing cron expr: @daily,@hourly");
        }

        @Test
        void snapshotExpiry() {
            for (String key : List.of("snapshots.expiry", "snapshots.expiry.manual")) {
                valid(VM, key, "1d", "1M 2H 3d 4w 5m 6y", "30S", "0d 1d", " 2w ", "");
                assertInvalid(VM, key, "1x", "Invalid expiry expression (value \"1x\")");
                assertInvalid(VM, key, "1d 2d", "Invalid expiry expression (value \"1d 2d\")");
                assertInvalid(VM, key, "1d  2H", "Invalid expiry expression (value \"1d  2H\")");
                assertInvalid(VM, key, "5", "Invalid expiry expression (value \"5\")");
                assertInvalid(VM, key, "-1d", "Invalid expiry expression (value \"-1d\")");
            }
        }

        @Test
        void environment() {
            valid(CONTAINER, "environment.PATH", "/usr/bin:/bin", "with\rcarriage", "");
            assertInvalid(CONTAINER, "environment.MOTD", "a\nb",
                    "Environment variables cannot contain line breaks (value \"a\\nb\")");
        }

        @Test
        void volatileKeys() {
            valid(CONTAINER, "volatile.apply_template", "copy");
            valid(CONTAINER, "volatile.base_image", "abcdef");
            valid(CONTAINER, "volatile.last_state.power", "RUNNING");
            valid(CONTAINER, "volatile.last_state.agent", "STARTED");
            valid(CONTAINER, "volatile.evacuate.origin", "node1");
            valid(CONTAINER, "volatile.cluster.group", "default");
            valid(CONTAINER, "volatile.rebalance.last_move", "1700000000");
            valid(CONTAINER, "volatile.last_state.ready", "true", "false");
            assertInvalid(CONTAINER, "volatile.last_state.ready", "", "Invalid value for a boolean \"\"");
        }

        @Test
        void uuids() {
            for (String key : List.of("volatile.uuid", "volatile.uuid.generation", "volatile.cloud-init.instance-id")) {
                valid(VM, key, "", "0d4e1c7a-3b1f-4c58-9e2b-5a1f0c3d9e7b", "0D4E1C7A-3B1F-4C58-9E2B-5A1F0C3D9E7B",
                        "{0d4e1c7a-3b1f-4c58-9e2b-5a1f0c3d9e7b}", "urn:uuid:0d4e1c7a-3b1f-4c58-9e2b-5a1f0c3d9e7b",
                        "0d4e1c7a3b1f4c589e2b5a1f0c3d9e7b");
                assertInvalid(VM, key, "abc", "Invalid UUID (value \"abc\")");
                assertInvalid(VM, key, "0d4e1c7a-3b1f-4c58-9e2b-5a1f0c3d9e7g",
                        "Invalid UUID (value \"0d4e1c7a-3b1f-4c58-9e2b-5a1f0c3d9e7g\")");
            }
        }

        @Test
        void deviceIpAddresses() {
            String key = "volatile.eth0.last_state.ip_addresses";
            valid(CONTAINER, key, "10.0.0.1", "10.0.0.1, fd00::1", "::1", "::", "fe80::1:2:3:4",
                    "::ffff:10.0.0.1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4");
            assertInvalid(CONTAINER, key, "1.2.3.4::", "Item \"1.2.3.4::\": Not an IP address \"1.2.3.4::\"");
            assertInvalid(CONTAINER, key, "1:2:3:4:5:6:7:8:9",
                    "Item \"1:2:3:4:5:6:7:8:9\": Not an IP address \"1:2:3:4:5:6:7:8:9\"");
            assertInvalid(CONTAINER, key, "bad", "Item \"bad\": Not an IP address \"bad\"");
            assertInvalid(CONTAINER, key, "10.0.0.1,10.0.0.256",
                    "Item \"10.0.0.256\": Not an IP address \"10.0.0.256\" (value \"10.0.0.1,10.0.0.256\")");
            assertInvalid(CONTAINER, key, "010.0.0.1", "Item \"010.0.0.1\": Not an IP address \"010.0.0.1\"");
            assertInvalid(CONTAINER, key, "1::2::3", "Item \"1::2::3\": Not an IP address \"1::2::3\"");
            // Not optional in Incus: the empty string is one empty item.
            assertInvalid(CONTAINER, key, "", "Item \"\": Not an IP address \"\"");
        }

        @Test
        void credentials() {
            valid(VM, "systemd.credential-binary.key", "aGVsbG8=", "aGVsbG8", "");
            assertInvalid(VM, "systemd.credential-binary.key", "not base64!",
                    "Invalid value for a base64 string \"not base64!\": illegal base64 data at input byte 3");
        }
    }

    // ================================================================ values: container-only keys

    @Nested
    class ContainerKeys {
        @Test
        void securityBooleans() {
            for (String key : List.of("security.privileged", "security.idmap.isolated", "security.protection.shift",
                    "security.syscalls.deny_default", "security.syscalls.intercept.mknod", "nvidia.runtime")) {
                valid(CONTAINER, key, "true", "OFF", "");
                assertInvalid(CONTAINER, key, "nope", "Invalid value for a boolean \"nope\"");
            }
        }

        @Test
        void idmapRange() {
            for (String key : List.of("security.idmap.base", "security.idmap.size")) {
                valid(CONTAINER, key, "0", "100000", "4294967295", "");
                assertInvalid(CONTAINER, key, "-1",
                        "Invalid value for uint32 \"-1\": strconv.ParseUint: parsing \"-1\": invalid syntax");
                assertInvalid(CONTAINER, key, "4294967296", "Invalid value for uint32 \"4294967296\": "
                        + "strconv.ParseUint: parsing \"4294967296\": value out of range");
            }
        }

        @Test
        void cpuAllowance() {
            valid(CONTAINER, "limits.cpu.allowance", "50%", "200%", "25ms/100ms", "25/100", "400ms/50ms", "");
            assertInvalid(CONTAINER, "limits.cpu.allowance", "9223372036854775807ms/1ms",
                    "CPU allowance quota must be between 1ms and 8192 periods (value \"9223372036854775807ms/1ms\")");
            assertInvalid(CONTAINER, "limits.cpu.allowance", "1ms/0ms",
                    "CPU allowance period must be between 1ms and 1000ms (value \"1ms/0ms\")");
            assertInvalid(CONTAINER, "limits.cpu.allowance", "-5%",
                    "CPU allowance percentage can't be negative (value \"-5%\")");
            valid(CONTAINER, "limits.processes", "1", "-1", "9223372036854775807", "");
            assertInvalid(CONTAINER, "limits.processes", "-2",
                    "Process limit must be -1 (no limit) or at least 1 (value \"-2\")");
            assertInvalid(CONTAINER, "limits.processes", "0",
                    "Process limit must be -1 (no limit) or at least 1 (value \"0\")");
            assertInvalid(CONTAINER, "limits.cpu.allowance", "fast", "Invalid allowance: fast");
            assertInvalid(CONTAINER, "limits.cpu.allowance", "x%",
                    "strconv.Atoi: parsing \"x\": invalid syntax (value \"x%\")");
            assertInvalid(CONTAINER, "limits.cpu.allowance", "25us/100ms",
                    "strconv.Atoi: parsing \"25us\": invalid syntax (value \"25us/100ms\")");
        }

        @Test
        void priorities() {
            for (String key : List.of("limits.cpu.priority", "limits.memory.swap.priority")) {
                valid(CONTAINER, key, "0", "10", "");
                assertInvalid(CONTAINER, key, "11", "Invalid value for a limit \"11\". Must be between 0 and 10");
            }
        }

        @Test
        void memory() {
            valid(CONTAINER, "limits.memory.enforce", "soft", "hard", "");
            assertInvalid(CONTAINER, "limits.memory.enforce", "medium",
                    "Invalid value \"medium\" (not one of [soft hard])");
            valid(CONTAINER, "limits.memory.swap", "true", "false", "1GiB", "");
            assertInvalid(CONTAINER, "limits.memory.swap", "lots", "\"lots\" isn't a valid value");
        }

        @Test
        void processes() {
            valid(CONTAINER, "limits.processes", "500", "");
            assertInvalid(CONTAINER, "limits.processes", "many", "Invalid value for an integer \"many\"");
        }

        @Test
        void hugepages() {
            for (String key : List.of("limits.hugepages.64KB", "limits.hugepages.1MB", "limits.hugepages.2MB",
                    "limits.hugepages.1GB")) {
                valid(CONTAINER, key, "1GiB", "2048", "");
                assertInvalid(CONTAINER, key, "1 GiB", "Invalid value: 1 GiB");
            }
            assertUnknown(CONTAINER, "limits.hugepages.4MB");
        }

        @Test
        void freeFormKeys() {
            valid(CONTAINER, "linux.kernel_modules", "overlay,nf_nat");
            valid(CONTAINER, "raw.seccomp", "2\ndenylist\n");
            valid(CONTAINER, "security.syscalls.allow", "read\nwrite");
            valid(CONTAINER, "volatile.idmap.base", "1000000");
            valid(CONTAINER, "volatile.idmap.current", "[]");
            valid(CONTAINER, "volatile.idmap.next", "[]");
            valid(CONTAINER, "volatile.last_state.idmap", "[]");
        }

        @Test
        void rawLxc() {
            valid(CONTAINER, "raw.lxc", "lxc.apparmor.profile = unconfined\n# comment\n\n  lxc.mount.auto = proc:rw");
            assertInvalid(CONTAINER, "raw.lxc", "lxc.logfile = /tmp/x",
                    "Setting lxc.logfile is not allowed (value \"lxc.logfile = /tmp/x\")");
            assertInvalid(CONTAINER, "raw.lxc", "LXC.Ephemeral=1",
                    "Setting lxc.ephemeral is not allowed (value \"LXC.Ephemeral=1\")");
            assertInvalid(CONTAINER, "raw.lxc", "lxc.prlimit.nofile = 10",
                    "Process limits should be set via \"limits.kernel.[limit name]\" and not directly via "
                            + "\"lxc.prlimit.[limit name]\" (value \"lxc.prlimit.nofile = 10\")");
            assertInvalid(CONTAINER, "raw.lxc", "garbage", "Invalid raw.lxc line: garbage");
        }

        @Test
        void ociPaths() {
            valid(CONTAINER, "oci.cwd", "/srv", "");
            assertInvalid(CONTAINER, "oci.cwd", "srv", "Must be absolute file path (value \"srv\")");
        }
    }

    // ================================================================ values: VM-only keys

    @Nested
    class VmKeys {
        @Test
        void booleans() {
            for (String key : List.of("limits.memory.hugepages", "security.secureboot", "security.csm",
                    "security.iommu", "security.sev", "security.sev.policy.es", "security.agent.metrics",
                    "agent.nic_config", "volatile.apply_nvram", "volatile.vm.needs_reset")) {
                valid(VM, key, "true", "no", "");
                assertInvalid(VM, key, "perhaps", "Invalid value for a boolean \"perhaps\"");
            }
        }

        @Test
        void memoryHotplug() {
            valid(VM, "limits.memory.hotplug", "false", "8GiB", "");
            assertInvalid(VM, "limits.memory.hotplug", "big", "\"big\" isn't a valid value");
        }

        @Test
        void rawQemu() {
            valid(VM, "raw.qemu", "-device virtio-rng-pci");
            valid(VM, "raw.qemu.conf", "[device \"qemu_gpu\"]\n");
            valid(VM, "raw.qemu.qmp.early", "[{\"execute\": \"query-status\"}]");
            valid(VM, "raw.qemu.qmp.pre-start", "[]");
            valid(VM, "raw.qemu.qmp.post-start", "[]");
        }

        @Test
        void volatileIntegers() {
            valid(VM, "volatile.vsock_id", "1234567", "");
            assertInvalid(VM, "volatile.vsock_id", "x", "Invalid value for an integer \"x\"");
            valid(VM, "volatile.vm.rtc_adjustment", "-3600");
            valid(VM, "volatile.vm.boot_state", "{}");
        }
    }

    // ================================================================ whole configs (ValidConfig)

    @Nested
    class WholeConfigs {
        @Test
        void nullAndEmptyConfigsAreValid() {
            ConfigKeys.validateConfig(VM, null, false);
            ConfigKeys.validateConfig(VM, Map.of(), true);
        }

        @Test
        void everyKeyIsChecked() {
            ConfigKeys.validateConfig(CONTAINER, Map.of("limits.cpu", "2", "security.nesting", "true"), false);
            assertMessage("Unknown configuration key: security.secureboot", () -> ConfigKeys.validateConfig(
                    CONTAINER, Map.of("limits.cpu", "2", "security.secureboot", "true"), false));
        }

        @Test
        void firstErrorInKeyOrder() {
            Map<String, String> config = Map.of("zzz.unknown", "1", "boot.autostart", "maybe", "limits.cpu", "x");
            assertMessage("Invalid value for config key \"boot.autostart\": \"maybe\" isn't a valid value",
                    () -> ConfigKeys.validateConfig(VM, config, false));
        }

        @Test
        void profilesCannotHoldVolatileOrImageKeys() {
            assertMessage("Volatile keys can only be set on instances", () -> ConfigKeys.validateConfig(
                    ANY, Map.of("volatile.uuid", "0d4e1c7a-3b1f-4c58-9e2b-5a1f0c3d9e7b"), true));
            assertMessage("Image keys can only be set on instances",
                    () -> ConfigKeys.validateConfig(ANY, Map.of("image.os", "Debian"), true));
            ConfigKeys.validateConfig(ANY, Map.of("volatile.uuid", "0d4e1c7a-3b1f-4c58-9e2b-5a1f0c3d9e7b",
                    "image.os", "Debian"), false);
        }

        @Test
        void profilesValidatedAsAnyAcceptBothKindsOfKeys() {
            ConfigKeys.validateConfig(ANY, Map.of("security.privileged", "true", "security.secureboot", "false"),
                    true);
        }

        @Test
        void rawSeccompExcludesSyscallLists() {
            assertMessage("raw.seccomp is mutually exclusive with security.syscalls*", () ->
                    ConfigKeys.validateConfig(CONTAINER, Map.of("raw.seccomp", "x", "security.syscalls.deny", ""),
                            false));
            assertMessage("raw.seccomp is mutually exclusive with security.syscalls*", () ->
                    ConfigKeys.validateConfig(CONTAINER,
                            Map.of("raw.seccomp", "x", "security.syscalls.deny_default", "true"), false));
            ConfigKeys.validateConfig(CONTAINER,
                    Map.of("raw.seccomp", "x", "security.syscalls.deny_default", "false"), false);
        }

        @Test
        void allowExcludesDeny() {
            assertMessage("security.syscalls.allow is mutually exclusive with security.syscalls.deny*", () ->
                    ConfigKeys.validateConfig(CONTAINER,
                            Map.of("security.syscalls.allow", "read", "security.syscalls.deny", "write"), false));
            assertMessage("security.syscalls.allow is mutually exclusive with security.syscalls.deny*", () ->
                    ConfigKeys.validateConfig(CONTAINER,
                            Map.of("security.syscalls.allow", "read", "security.syscalls.deny_compat", "yes"), false));
            ConfigKeys.validateConfig(CONTAINER,
                    Map.of("security.syscalls.allow", "read", "security.syscalls.deny_default", "0"), false);
        }

        @Test
        void legacyNamesExcludeNewNames() {
            assertMessage("Mutually exclusive keys security.syscalls.allow and security.syscalls.whitelist are set",
                    () -> ConfigKeys.validateConfig(CONTAINER,
                            Map.of("security.syscalls.allow", "a", "security.syscalls.whitelist", "b"), false));
        }

        @Test
        void credentialsExcludeBinaryCredentials() {
            assertMessage("Mutually exclusive keys systemd.credential.foo and systemd.credential-binary.foo are set",
                    () -> ConfigKeys.validateConfig(VM,
                            Map.of("systemd.credential.foo", "a", "systemd.credential-binary.foo", "YQ"), false));
        }

        @Test
        void nvidiaRuntimeNotPrivileged() {
            assertMessage("nvidia.runtime is incompatible with privileged containers", () ->
                    ConfigKeys.validateConfig(CONTAINER,
                            Map.of("security.privileged", "true", "nvidia.runtime", "true"), false));
        }

        @Test
        void nullKeyIsUnknown() {
            Map<String, String> config = new HashMap<>();
            config.put(null, "x");
            assertMessage("Unknown configuration key: null", () -> ConfigKeys.validateConfig(VM, config, false));
        }
    }

    // ================================================================ booleans

    @ParameterizedTest
    @CsvSource({"true,true,false,true", "TRUE,true,false,true", "1,true,false,true", "yes,true,false,true",
            "On,true,false,true", "false,false,true,true", "0,false,true,true", "no,false,true,true",
            "OFF,false,true,true", "'',false,true,false", "maybe,false,false,false", "2,false,false,false"})
    void booleanHelpers(String value, boolean isTrue, boolean isFalseOrEmpty, boolean isBool) {
        assertEquals(isTrue, ConfigValues.isTrue(value));
        assertEquals(isFalseOrEmpty, ConfigValues.isFalseOrEmpty(value));
        assertEquals(isBool, ConfigValues.isBool(value));
    }

    @Test
    void booleanHelpersOnNull() {
        assertFalse(ConfigValues.isTrue(null));
        assertTrue(ConfigValues.isFalseOrEmpty(null));
        assertFalse(ConfigValues.isBool(null));
    }

    // ================================================================ byte sizes

    @ParameterizedTest
    @CsvSource({"'',0", "0,0", "7,7", "7B,7", "10 bytes,10", "1kB,1000", "2MB,2000000", "2GB,2000000000",
            "3TB,3000000000000", "1PB,1000000000000000", "1EB,1000000000000000000", "1KiB,1024", "512MiB,536870912",
            "1GiB,1073741824", "1TiB,1099511627776", "1PiB,1125899906842624", "1EiB,1152921504606846976",
            "7EiB,8070450532247928832", "1073741824,1073741824"})
    void byteSizes(String input, long expected) {
        assertEquals(expected, ConfigValues.parseByteSize(input));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "1KB|Invalid value: 1KB",
        "1kb|Invalid value: 1kb",
        "1.5GB|Invalid value: 1.5GB",
        "-1|Invalid value: -1",
        "GB|Invalid value: GB",
        "1 GB|Invalid value: 1 GB",
        "99999999999999999999|Invalid integer: 99999999999999999999",
        "16EiB|Overflow multiplying 16 with 1152921504606846976 (value \"16EiB\")",
        "9223372036854775807kB|Overflow multiplying 9223372036854775807 with 1000 (value \"9223372036854775807kB\")",
    })
    void badByteSizes(String input, String message) {
        assertMessage(message, () -> ConfigValues.parseByteSize(input));
    }

    @Test
    void nullByteSize() {
        assertMessage("Invalid value: null", () -> ConfigValues.parseByteSize(null));
    }

    // ================================================================ expiry

    @ParameterizedTest
    @CsvSource({
        "2024-01-01T00:00:00Z,1d,2024-01-02T00:00:00Z",
        "2024-01-01T00:00:00Z,30S,2024-01-01T00:00:30Z",
        "2024-01-01T00:00:00Z,90M,2024-01-01T01:30:00Z",
        "2024-01-01T00:00:00Z,1d 3H,2024-01-02T03:00:00Z",
        "2024-01-01T00:00:00Z,2w,2024-01-15T00:00:00Z",
        "2024-01-15T12:34:56Z,1m,2024-02-15T12:34:56Z",
        // Go's AddDate normalises: 31 January + 1 month is "31 February", that is 2 March in a leap year.
        "2024-01-31T10:00:00Z,1m,2024-03-02T10:00:00Z",
        "2023-01-31T10:00:00Z,1m,2023-03-03T10:00:00Z",
        "2024-02-29T00:00:00Z,1y,2025-03-01T00:00:00Z",
        "2024-11-30T00:00:00Z,3m,2025-03-02T00:00:00Z",
        "2020-01-01T00:00:00Z,1M 2H 3d 4w 5m 6y,2026-07-02T02:01:00Z",
        "2024-01-01T00:00:00Z,0d 1d,2024-01-02T00:00:00Z",
        "2024-12-31T23:59:59Z,1S,2025-01-01T00:00:00Z",
    })
    void expiryArithmetic(String from, String expression, String expected) {
        assertEquals(Optional.of(Instant.parse(expected)), SnapshotExpiry.at(expression, Instant.parse(from)));
    }

    @Test
    void emptyExpiryMeansNone() {
        Instant now = Instant.parse("2024-01-01T00:00:00Z");
        assertEquals(Optional.empty(), SnapshotExpiry.at("", now));
        assertEquals(Optional.empty(), SnapshotExpiry.at("   ", now));
        assertEquals(Optional.empty(), SnapshotExpiry.at(null, now));
    }

    @ParameterizedTest
    @ValueSource(strings = {"1x", "1d 1d", "5", "d", "1D", "1d,2H", "1.5d"})
    void badExpiry(String expression) {
        Instant now = Instant.parse("2024-01-01T00:00:00Z");
        assertMessage("Invalid expiry expression (value \"" + expression + "\")",
                () -> SnapshotExpiry.at(expression, now));
    }

    @Test
    void expiryOutOfRangeIsInvalid() {
        Instant now = Instant.parse("2024-01-01T00:00:00Z");
        assertMessage("Invalid expiry expression (value \"999999999999y\")",
                () -> SnapshotExpiry.at("999999999999y", now));
        assertMessage("A reference time is required to compute a snapshot expiry",
                () -> SnapshotExpiry.at("1d", null));
    }

    // ================================================================ live update

    @ParameterizedTest
    @ValueSource(strings = {"raw.qemu", "limits.memory.hugepages", "security.privileged", "limits.cpu", "anything"})
    void containersUpdateEverythingLive(String key) {
        assertTrue(LiveUpdates.canUpdateLive(CONTAINER, key));
    }

    @ParameterizedTest
    @ValueSource(strings = {"cluster.evacuate", "limits.memory", "limits.cpu", "limits.memory.oom_priority",
            "security.agent.metrics", "security.csm", "security.protection.delete", "security.protection.start",
            "security.guestapi", "security.secureboot", "boot.autostart", "boot.host_shutdown_timeout",
            "cloud-init.user-data", "environment.FOO", "image.os", "snapshots.schedule", "user.note",
            "volatile.uuid", "security.privileged", "raw.lxc", "limits.cpu.allowance"})
    void runningVmsAcceptTheseKeys(String key) {
        assertTrue(LiveUpdates.canUpdateLive(VM, key));
        assertTrue(LiveUpdates.canUpdateLive(ANY, key));
    }

    @ParameterizedTest
    @ValueSource(strings = {"raw.qemu", "raw.qemu.conf", "limits.memory.hugepages", "limits.memory.hotplug",
            "security.sev", "security.iommu", "migration.stateful", "security.nesting", "limits.disk.priority",
            "raw.apparmor", "agent.nic_config", "limits.kernel.nofile", "linux.sysctl.x", "limits.cpu.nodes"})
    void runningVmsRefuseTheseKeys(String key) {
        assertFalse(LiveUpdates.canUpdateLive(VM, key));
    }

    @Test
    void liveUpdateErrorText() {
        assertEquals("Key \"raw.qemu\" cannot be updated when VM is running", LiveUpdates.liveUpdateError("raw.qemu"));
        assertEquals("Key \"user.a\\\"b\" cannot be updated when VM is running",
                LiveUpdates.liveUpdateError("user.a\"b"));
    }

    // ================================================================ expansion

    private static final Profile DEFAULT = Profile.of("default",
            Map.of("limits.cpu", "1", "user.a", "x"),
            new Devices(Map.of(
                    "root", Device.of("type", "disk", "path", "/", "pool", "default"),
                    "eth0", Device.of("type", "nic", "nictype", "bridged", "parent", "incusbr0"))));

    private static final Profile BIG = Profile.of("big",
            Map.of("limits.cpu", "4", "limits.memory", "2GiB"),
            new Devices(Map.of("eth0", Device.of("type", "nic", "nictype", "macvlan"))));

    @Test
    void laterProfilesOverrideEarlierAndLocalOverridesProfiles() {
        Map<String, String> expanded = ProfileExpansion.expandConfig(List.of(DEFAULT, BIG), Map.of("limits.memory", "4GiB"));
        assertEquals(Map.of("limits.cpu", "4", "limits.memory", "4GiB", "user.a", "x"), expanded);
        assertEquals(List.of("limits.cpu", "limits.memory", "user.a"), List.copyOf(expanded.keySet()));
        assertThrows(UnsupportedOperationException.class, () -> expanded.put("x", "y"));

        Map<String, String> reversed = ProfileExpansion.expandConfig(List.of(BIG, DEFAULT), Map.of());
        assertEquals("1", reversed.get("limits.cpu"));
    }

    @Test
    void expandConfigWithNothing() {
        assertEquals(Map.of(), ProfileExpansion.expandConfig(null, null));
        assertEquals(Map.of("a.b", "c"), ProfileExpansion.expandConfig(List.of(), Map.of("a.b", "c")));
    }

    @Test
    void devicesAreReplacedWholeByName() {
        Devices local = new Devices(Map.of("root", Device.of("type", "disk", "path", "/", "pool", "fast")));
        Devices expanded = ProfileExpansion.expandDevices(List.of(DEFAULT, BIG), local);
        assertEquals(Device.of("type", "nic", "nictype", "macvlan"), expanded.get("eth0"));
        assertEquals("fast", expanded.get("root").get("pool"));
        assertEquals(2, expanded.map().size());
        assertEquals(DEFAULT.devices(), ProfileExpansion.expandDevices(List.of(DEFAULT), null));
        assertTrue(ProfileExpansion.expandDevices(null, null).isEmpty());
    }
}
