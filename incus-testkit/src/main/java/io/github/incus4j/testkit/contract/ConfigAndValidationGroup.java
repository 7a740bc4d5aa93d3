package io.github.incus4j.testkit.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.TemplateTrigger;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.rest.ApiInstance;
import java.util.List;
import java.util.Map;

/**
 * The ConfigAndValidation group of {@link InstanceDriverContract} (its nested {@code ConfigAndValidation} runs these):
 * {@code update}, Incus's key validation, profiles, volatile keys and template deferral.
 */
abstract class ConfigAndValidationGroup extends ContractGroup {
    ConfigAndValidationGroup(ContractSupport contract) {
        super(contract);
    }

    @ForEachInstanceType
    void updateChangesConfig(InstanceType type) {
        Instance i = create(type);
        i.update(withConfig(i, "user.colour", "blue"), true);
        assertEquals("blue", i.localConfig().get("user.colour"));
        assertEquals("blue", i.expandedConfig().get("user.colour"));
        assertEquals("blue", instances().load(i.name()).localConfig().get("user.colour"));
    }

    @ForEachInstanceType
    void updateSurvivesReopen(InstanceType type) {
        Instance i = create(type);
        i.update(argsOf(i).config("user.colour", "green").description("updated").build(), true);
        Instance again = reopen().load(i.name());
        assertEquals("green", again.localConfig().get("user.colour"));
        assertEquals("updated", again.description());
    }

    @ForEachInstanceType
    void updateReplacesProfilesAndDescription(InstanceType type) {
        Instance i = create(args(type).profiles(List.of(Profile.of("old", Map.of("user.p", "old"), null)))
                .build());
        i.update(argsOf(i).profiles(List.of(Profile.of("new", Map.of("user.p", "new"), null)))
                .description("d2").build(), true);
        assertEquals("new", i.expandedConfig().get("user.p"));
        assertEquals("d2", i.description());
        assertEquals(List.of("new"), ((ApiInstance) i.render().value()).profiles());
    }

    @ForEachInstanceType
    void updateWithUnknownKeyIsRefused(InstanceType type) {
        Instance i = create(type);
        Map<String, String> before = i.localConfig();
        assertRefused(InvalidArgumentException.class, "Invalid config: Unknown configuration key: foo.bar",
                () -> i.update(withConfig(i, "foo.bar", "1"), true));
        assertEquals(before, i.localConfig(), "refused update changed the config");
        assertEquals(before, reopen().load(i.name()).localConfig(), "refused update was written");
    }

    @ForEachInstanceType
    void updateWithBadValueNamesKeyAndValue(InstanceType type) {
        Instance i = create(type);
        // Incus (driver_lxc.go Update: "Invalid config: %w"; shared/validate IsBool) says
        // "Invalid config: Invalid value for a boolean \"maybe\""; incus4j also names the key (ConfigKeys).
        assertRefused(InvalidArgumentException.class, "Invalid config: Invalid value for config key "
                + "\"security.nesting\": Invalid value for a boolean \"maybe\"",
                () -> i.update(withConfig(i, "security.nesting", "maybe"), true));
        assertFalse(i.localConfig().containsKey("security.nesting"));
    }

    @ForEachInstanceType
    void memoryLimitOfZeroIsRefused(InstanceType type) {
        // Incus: "Memory limit can't be 0" (internal/instance/config.go); incus4j names key and value.
        assertRefused(InvalidArgumentException.class,
                "Invalid value for config key \"limits.memory\": Memory limit can't be 0 (value \"0\")",
                () -> create(args(type).config("limits.memory", "0").build()));
    }

    @ForEachInstanceType
    void booleanKeysAcceptIncusSpellings(InstanceType type) {
        Instance i = create(args(type).config("security.protection.delete", "yes").build());
        assertRefused(InstanceStateException.class, "Instance has delete protection enabled",
                () -> i.delete(false));
        Instance j = create(args(type).config("security.protection.delete", "off").build());
        j.delete(false);
    }

    @ForInstanceType(InstanceType.VM)
    void containerKeysAreUnknownToVms(InstanceType vm) {
        assertRefused(InvalidArgumentException.class, "Unknown configuration key: security.privileged",
                () -> create(args(vm).config("security.privileged", "true").build()));
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void vmKeysAreUnknownToContainers(InstanceType ct) {
        assertRefused(InvalidArgumentException.class, "Unknown configuration key: security.secureboot",
                () -> create(args(ct).config("security.secureboot", "true").build()));
    }

    @ForInstanceType(InstanceType.VM)
    void kernelLimitsAreForContainersOnly(InstanceType vm) {
        assertRefused(InvalidArgumentException.class, "limits.kernel.nofile isn't supported for VMs",
                () -> create(args(vm).config("limits.kernel.nofile", "1024").build()));
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void cpuTopologyIsForVmsOnly(InstanceType ct) {
        assertRefused(InvalidArgumentException.class,
                "CPU topology syntax for limits.cpu is only supported for virtual machines",
                () -> create(args(ct).config("limits.cpu", "sockets=1,cores=2,threads=1").build()));
    }

    @ForEachInstanceType
    void environmentValuesCannotHoldLineBreaks(InstanceType type) {
        // Incus: "Environment variables cannot contain line breaks" (internal/instance/config.go, in Debian's
        // 6.0.4 and upstream since 6.21); incus4j names key and value.
        assertRefused(InvalidArgumentException.class, "Invalid value for config key \"environment.FOO\": "
                + "Environment variables cannot contain line breaks (value \"a\\nb\")",
                () -> create(args(type).config("environment.FOO", "a\nb").build()));
    }

    @ForEachInstanceType
    void profilesCannotSetVolatileKeys(InstanceType type) {
        Profile bad = Profile.of("bad", Map.of("volatile.foo", "x"), null);
        // internal/server/instance/instance_utils.go ValidConfig.
        assertRefused(InvalidArgumentException.class, "Volatile keys can only be set on instances",
                () -> create(args(type).profiles(List.of(bad)).build()));
    }

    @ForEachInstanceType
    void duplicateProfilesAreRefused(InstanceType type) {
        Profile p = Profile.of("twice", Map.of(), null);
        assertRefused(InvalidArgumentException.class, "Duplicate profile found in request",
                () -> create(args(type).profiles(List.of(p, p)).build()));
    }

    @ForInstanceType(InstanceType.VM)
    void runningVmRefusesKeysThatNeedARestart(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(InvalidArgumentException.class, "Key \"security.nesting\" cannot be updated when VM is running",
                () -> i.update(withConfig(i, "security.nesting", "true"), true));
        assertFalse(i.localConfig().containsKey("security.nesting"));
    }

    @ForInstanceType(InstanceType.VM)
    void runningVmAcceptsUserKeys(InstanceType type) {
        Instance i = createRunning(type);
        i.update(withConfig(i, "user.note", "live"), true);
        assertEquals("live", i.localConfig().get("user.note"));
        assertTrue(i.isRunning());
    }

    @ForInstanceType(InstanceType.VM)
    void stoppedVmAcceptsAnyValidKey(InstanceType type) {
        Instance i = create(type);
        i.update(withConfig(i, "security.nesting", "true"), true);
        assertEquals("true", i.localConfig().get("security.nesting"));
    }

    @ForInstanceType(InstanceType.CONTAINER)
    void runningContainerAcceptsRestartOnlyKeys(InstanceType type) {
        Instance i = createRunning(type);
        i.update(withConfig(i, "security.nesting", "true"), true);
        assertEquals("true", i.localConfig().get("security.nesting"));
        assertTrue(i.isRunning());
    }

    @ForEachInstanceType
    void volatileSetSetsAndRemoves(InstanceType type) {
        Instance i = create(type);
        i.volatileSet(Map.of("volatile.test.one", "1", "volatile.test.two", "2"));
        assertEquals("1", i.localConfig().get("volatile.test.one"));
        i.volatileSet(Map.of("volatile.test.one", ""));
        assertFalse(i.localConfig().containsKey("volatile.test.one"), "empty value removes the key");
        assertEquals("2", reopen().load(i.name()).localConfig().get("volatile.test.two"));
    }

    @ForEachInstanceType
    void volatileSetRefusesOtherKeys(InstanceType type) {
        Instance i = create(type);
        assertRefused(InvalidArgumentException.class, "Only volatile keys can be modified with VolatileSet",
                () -> i.volatileSet(Map.of("volatile.ok", "1", "user.not", "2")));
        assertFalse(i.localConfig().containsKey("user.not"));
        assertFalse(i.localConfig().containsKey("volatile.ok"), "a refused change must change nothing");
    }

    @ForEachInstanceType
    void idmapKeysCannotBeDeletedByUsers(InstanceType type) {
        Instance i = create(type);
        i.volatileSet(Map.of("volatile.idmap.next", "[]"));
        assertRefused(InvalidArgumentException.class, "Volatile idmap keys can't be deleted by the user",
                () -> i.update(withConfig(i, "volatile.idmap.next", null), true));
        i.update(withConfig(i, "volatile.idmap.next", null), false);
        assertFalse(i.localConfig().containsKey("volatile.idmap.next"));
    }

    @ForEachInstanceType
    void deferTemplateApplyKeepsThePendingTrigger(InstanceType type) {
        Instance i = create(type);
        i.volatileSet(Map.of("volatile.apply_template", ""));
        i.deferTemplateApply(TemplateTrigger.COPY);
        assertEquals("copy", i.localConfig().get("volatile.apply_template"));
        i.deferTemplateApply(TemplateTrigger.RENAME);
        assertEquals("copy", i.localConfig().get("volatile.apply_template"), "a pending trigger is kept");
    }

    @ForEachInstanceType
    void cloudInitIdFollowsVolatileKey(InstanceType type) {
        Instance i = create(type);
        assertEquals(i.name(), i.cloudInitId());
        String id = "5c3c4a0e-5a5b-4c59-9c8e-0d7a3c5f2a11";
        i.volatileSet(Map.of("volatile.cloud-init.instance-id", id));
        assertEquals(id, i.cloudInitId());
    }

    @ForEachInstanceType
    void canMigrateAndCanLiveMigrate(InstanceType type) {
        Instance plain = create(type);
        assertEquals("migrate", plain.canMigrate());
        assertFalse(plain.canLiveMigrate());
        Instance stateful = create(args(type).config("migration.stateful", "true").build());
        assertTrue(stateful.canLiveMigrate());
        assertEquals(type == InstanceType.VM ? "live-migrate" : "migrate", stateful.canMigrate());
        Instance evacuate = create(args(type).config("cluster.evacuate", "stop").build());
        assertEquals("stop", evacuate.canMigrate());
    }

    @ForInstanceType(InstanceType.VM)
    void vmsHaveNoCgroupHandle(InstanceType type) {
        Instance i = createRunning(type);
        assertRefused(NotSupportedException.class, "Not implemented", i::cgroup);
    }

    @ForInstanceType(InstanceType.VM)
    void vmsRefuseLiblxcHooks(InstanceType type) {
        Instance i = create(type);
        assertRefused(NotSupportedException.class, "Not implemented", () -> i.onHook("onstart", Map.of()));
    }
}
