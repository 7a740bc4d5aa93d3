package io.github.incus4j.testkit.fake;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.incus4j.api.model.InstanceArgs;
import org.junit.jupiter.api.Test;

/**
 * Live updates reach the fake's guest: what its kernel files show changes with the update, not with the config
 * alone. The contract checks a VM's memory from inside the guest on every driver; a VM's CPU count is checked here
 * because the qemu driver applies {@code limits.cpu} at the next start only (no CPU hotplug yet).
 */
class FakeLiveUpdateTest extends FakeFixture {

    private static void set(FakeInstance i, String key, String value) {
        InstanceArgs.Builder b = i.args().toBuilder();
        i.update(b.config(key, value).build(), true);
    }

    private static String onlineCpus(FakeInstance i) {
        Result r = run(i, "cat", "/sys/devices/system/cpu/online");
        assertEquals(0, r.status(), r.err());
        return r.out();
    }

    @Test
    void vmCpuCountFollowsALiveUpdate() {
        FakeInstance v = vm("v1");
        set(v, "limits.cpu", "2");
        v.start(false);
        assertEquals("0-1\n", onlineCpus(v), "the count configured before the start");
        set(v, "limits.cpu", "4");
        assertEquals("0-3\n", onlineCpus(v), "hotplugged");
        set(v, "limits.cpu", "1");
        assertEquals("0\n", onlineCpus(v), "unplugged");
    }

    @Test
    void containerCpusetFollowsALiveUpdate() {
        FakeInstance c = container("c1");
        c.start(false);
        set(c, "limits.cpu", "3");
        assertEquals("0-2\n", onlineCpus(c));
    }

    @Test
    void vmMemoryFollowsALiveUpdate() {
        FakeInstance v = vm("v2");
        set(v, "limits.memory", "1GiB");
        v.start(false);
        assertEquals(1024 * 1024, memTotalKb(v));
        set(v, "limits.memory", "512MiB");
        assertEquals(512 * 1024, memTotalKb(v));
    }

    private static long memTotalKb(FakeInstance i) {
        Result r = run(i, "cat", "/proc/meminfo");
        assertEquals(0, r.status(), r.err());
        String line = r.out().lines().filter(l -> l.startsWith("MemTotal:")).findFirst().orElseThrow();
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }
}
