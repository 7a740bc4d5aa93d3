package io.github.incus4j.api.internal.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.incus4j.api.Architectures;
import io.github.incus4j.api.internal.store.BackupYaml;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.model.Profile;
import io.github.incus4j.api.spi.InstanceRecord;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Profiles in {@code backup.yaml} are shared by name between the instance and its snapshots. */
class BackupYamlProfilesTest {
    private static Profile profile(String name, String memory) {
        return new Profile(name, "", Map.of("limits.memory", memory), Devices.EMPTY, "default", List.of());
    }

    @Test
    void aProfileOnlyASnapshotUsesIsKept() {
        InstanceArgs c = InstanceArgs.builder("c1").architecture(Architectures.X86_64)
                .profiles(List.of(profile("default", "1GiB"))).build();
        InstanceArgs snap = c.toBuilder().name("c1/s0").snapshot(true)
                .profiles(List.of(profile("default", "1GiB"), profile("old", "2GiB"))).build();
        InstanceRecord back = BackupYaml.read(BackupYaml.write(new InstanceRecord(c, List.of(snap))));
        assertEquals(List.of(profile("default", "1GiB"), profile("old", "2GiB")),
                back.snapshots().get(0).profiles());
        assertEquals(List.of(profile("default", "1GiB")), back.instance().profiles());
    }

    @Test
    void theInstancesVersionOfASharedProfileWins() {
        InstanceArgs c = InstanceArgs.builder("c1").architecture(Architectures.X86_64)
                .profiles(List.of(profile("default", "4GiB"))).build();
        InstanceArgs snap = c.toBuilder().name("c1/s0").snapshot(true)
                .profiles(List.of(profile("default", "1GiB"))).build();
        InstanceRecord back = BackupYaml.read(BackupYaml.write(new InstanceRecord(c, List.of(snap))));
        assertEquals(List.of(profile("default", "4GiB")), back.instance().profiles());
        assertEquals(List.of(profile("default", "4GiB")), back.snapshots().get(0).profiles(),
                "one definition per name: the instance's");
    }
}
