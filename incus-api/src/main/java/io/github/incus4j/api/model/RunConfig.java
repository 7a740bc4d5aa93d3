package io.github.incus4j.api.model;

import static org.apiguardian.api.API.Status.EXPERIMENTAL;

import io.github.incus4j.api.internal.Immutable;
import java.util.List;
import org.apiguardian.api.API;

/**
 * What a device asks the driver to apply at run time ({@code deviceConfig.RunConfig}), passed to
 * {@link io.github.incus4j.api.Instance#deviceEventHandler}: mounts to add or remove, cgroup rules, a NIC to attach,
 * uevents to inject and hooks to run afterwards.
 */
@API(status = EXPERIMENTAL)
public record RunConfig(
        List<MountEntry> mounts,
        List<Item> cgroups,
        List<Item> networkInterface,
        List<List<String>> uevents,
        List<Runnable> postHooks) {
    public RunConfig {
        mounts = Immutable.list(mounts);
        cgroups = Immutable.list(cgroups);
        networkInterface = Immutable.list(networkInterface);
        uevents = Immutable.list(uevents);
        postHooks = Immutable.list(postHooks);
    }

    /** A key/value item ({@code deviceConfig.RunConfigItem}). */
    public record Item(String key, String value) {
    }

    /** A mount ({@code deviceConfig.MountEntryItem}); {@code remove} asks for it to be taken away. */
    public record MountEntry(String devName, String devPath, String targetPath, String fsType, List<String> opts,
            boolean remove) {
        public MountEntry {
            opts = Immutable.list(opts);
        }
    }
}
