package io.github.incus4j.testkit.fake;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Container;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InstanceStateException;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.NotSupportedException;
import io.github.incus4j.api.VM;
import io.github.incus4j.api.cgroup.CGroup;
import io.github.incus4j.api.metrics.MetricSet;
import io.github.incus4j.api.metrics.MetricType;
import io.github.incus4j.api.model.Devices;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.InstanceArgs;
import io.github.incus4j.api.rest.ApiInstanceState;
import io.github.incus4j.api.internal.text.ErrorTexts;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.InflaterInputStream;
import org.junit.jupiter.api.Test;

class FakeRuntimeTest extends FakeFixture {

    @Test
    void screenshotIsAValidPng() throws Exception {
        VM v = (VM) vm("v1");
        assertThrows(InstanceStateException.class, () -> v.consoleScreenshot(new ByteArrayOutputStream()));
        v.start(false);
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        v.consoleScreenshot(png);
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(png.toByteArray()));
        byte[] sig = new byte[8];
        in.readFully(sig);
        assertArrayEquals(Png.SIGNATURE, sig);
        int width = -1;
        int height = -1;
        ByteArrayOutputStream idat = new ByteArrayOutputStream();
        String type;
        do {
            int len = in.readInt();
            byte[] t = new byte[4];
            in.readFully(t);
            byte[] data = new byte[len];
            in.readFully(data);
            CRC32 crc = new CRC32();
            crc.update(t);
            crc.update(data);
            assertEquals((int) crc.getValue(), in.readInt(), "CRC of " + new String(t, StandardCharsets.US_ASCII));
            type = new String(t, StandardCharsets.US_ASCII);
            if (type.equals("IHDR")) {
                ByteBuffer b = ByteBuffer.wrap(data);
                width = b.getInt();
                height = b.getInt();
                assertEquals(8, b.get());
                assertEquals(2, b.get());
            } else if (type.equals("IDAT")) {
                idat.write(data);
            }
        } while (!type.equals("IEND"));
        assertEquals(FakeVm.SCREEN_WIDTH, width);
        assertEquals(FakeVm.SCREEN_HEIGHT, height);
        byte[] pixels = new InflaterInputStream(new ByteArrayInputStream(idat.toByteArray())).readAllBytes();
        assertEquals(height * (1 + width * 3), pixels.length);
    }

    @Test
    void memoryDumpIsAnElfCore() {
        VM v = (VM) vm("v1");
        v.start(false);
        assertThrows(InvalidArgumentException.class, () -> v.dumpGuestMemory(new ByteArrayOutputStream(), "kdump"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        v.dumpGuestMemory(out, "elf");
        ByteBuffer b = ByteBuffer.wrap(out.toByteArray()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0x464c457f, b.getInt(0));
        assertEquals(2, b.get(4));
        assertEquals(4, b.getShort(16));
        assertEquals(1, b.getShort(56));
        long offset = b.getLong(64 + 8);
        long size = b.getLong(64 + 32);
        assertEquals(out.size(), offset + size);
        assertTrue(new String(out.toByteArray(), (int) offset, 40, StandardCharsets.UTF_8)
                .startsWith("incus4j fake guest memory"));
        v.stop(false);
        assertThrows(InstanceStateException.class, () -> v.dumpGuestMemory(new ByteArrayOutputStream(), "elf"));
    }

    @Test
    void vmExtras() {
        VM v = (VM) vm("v1");
        v.start(false);
        assertEquals(ErrorTexts.SPICE_UNSUPPORTED, assertThrows(NotSupportedException.class,
                () -> v.console("vga")).getMessage());
        assertTrue(v.agentCertificate().isEmpty());
        assertTrue(v.consoleLog().contains("Virtual machine v1 started"));
        assertNotNull(v.renderState(null).osInfo());
        assertThrows(NotSupportedException.class, v::cgroup);
    }

    @Test
    void containersGetIncusDefaultIdmap() {
        Container c = (Container) container("c1");
        IdmapSet expected = IdmapSet.ofRange(FakeContainer.IDMAP_BASE, FakeContainer.IDMAP_SIZE);
        assertEquals(expected, c.nextIdmap().orElseThrow());
        assertEquals(expected, c.diskIdmap().orElseThrow());
        assertEquals(expected, c.currentIdmap().orElseThrow());
        c.start(false);
        assertEquals(c.localConfig().get("volatile.idmap.next"), c.localConfig().get("volatile.idmap.current"));
        assertEquals(1_000_000L, c.currentIdmap().orElseThrow().shiftFromNs(0, 0)[0]);
        Container p = (Container) incus.create(InstanceArgs.builder("p1").config("security.privileged", "true")
                .build(), InstanceSource.none());
        assertTrue(p.currentIdmap().isEmpty());
        assertTrue(p.isPrivileged());
        assertEquals(io.github.incus4j.api.model.StorageType.NONE, c.idmappedStorage(root, "ext4"));
        assertThrows(NotSupportedException.class, c::devptsFd);
        assertThrows(NotSupportedException.class, () -> c.insertSeccompUnixDevice("", null, 1));
        assertThrows(InvalidArgumentException.class, () -> c.insertSeccompUnixDevice("", null, -1));
    }

    @Test
    void cgroupReflectsLimitsAndLiveUpdates() {
        FakeInstance c = (FakeInstance) incus.create(InstanceArgs.builder("c1").config("limits.memory", "256MiB")
                .config("limits.processes", "100").config("limits.cpu.allowance", "25ms/100ms").build(),
                InstanceSource.none());
        CGroup cg = c.cgroup();
        assertEquals(ErrorTexts.CGROUP_STOPPED, assertThrows(InstanceStateException.class,
                () -> cg.set("memory.max", "1")).getMessage());
        assertThrows(InstanceStateException.class, () -> cg.get("memory.max"));
        c.start(false);
        assertEquals(256L << 20, cg.memoryLimit().orElseThrow());
        assertEquals(100, cg.maxProcesses().orElseThrow());
        assertEquals("25000 100000", cg.get("cpu.max"));
        assertEquals(1, cg.processes());
        assertTrue(cg.memoryUsage() > 0);
        assertTrue(cg.get("cpu.stat").startsWith("usage_usec "));
        cg.setMemoryLimit(128L << 20);
        assertEquals(128L << 20, cg.memoryLimit().orElseThrow());
        assertThrows(InvalidArgumentException.class, () -> cg.set("memory.max", "lots"));
        assertThrows(InvalidArgumentException.class, () -> cg.set("memory.current", "1"));
        assertThrows(NotFoundException.class, () -> cg.get("nope.max"));
        Map<String, String> config = new HashMap<>(c.localConfig());
        config.put("limits.memory", "512MiB");
        config.remove("limits.processes");
        c.update(c.args().toBuilder().config(config).build(), true);
        assertEquals(512L << 20, cg.memoryLimit().orElseThrow());
        assertTrue(cg.maxProcesses().isEmpty());
        assertEquals(512L << 20, c.renderState(null).memory().total());
    }

    @Test
    void stateAndMetricsAreDeterministic() {
        FakeInstance c = (FakeInstance) incus.create(InstanceArgs.builder("c1").config("limits.cpu", "2")
                .devices(Devices.EMPTY.with("eth0", io.github.incus4j.api.model.Device.of("type", "nic",
                        "nictype", "bridged", "parent", "incusbr0", "name", "eth0"))).build(), InstanceSource.none());
        ApiInstanceState stopped = c.renderState(null);
        assertEquals(0, stopped.pid());
        assertNull(stopped.startedAt());
        assertEquals(c.root().bytes(), stopped.disk().get("root").usage());
        c.start(false);
        clock.advance(Duration.ofSeconds(10));
        ApiInstanceState s1 = c.renderState(null);
        assertEquals(c.initPid(), s1.pid());
        assertEquals(1, s1.processes());
        assertEquals(clock.instant().minusSeconds(10), s1.startedAt());
        assertEquals(2_000_000_000L, s1.cpu().allocatedTime());
        assertEquals(1L << 30, s1.memory().total());
        assertEquals(s1, c.renderState(null));
        assertTrue(s1.network().containsKey("eth0") && s1.network().containsKey("lo"));
        assertEquals("10:66:6a", s1.network().get("eth0").hwaddr().substring(0, 8));
        assertEquals(0, sh(c, "echo x").status());
        clock.advance(Duration.ofSeconds(10));
        ApiInstanceState s2 = c.renderState(null);
        assertTrue(s2.cpu().usage() > s1.cpu().usage());
        assertTrue(s2.network().get("eth0").counters().bytesReceived()
                > s1.network().get("eth0").counters().bytesReceived());

        MetricSet m = c.metrics(null);
        assertEquals(2, m.find(MetricType.CPUS).value());
        assertEquals(4, m.samples(MetricType.CPU_SECONDS_TOTAL).size());
        double cpuSeconds = m.samples(MetricType.CPU_SECONDS_TOTAL).stream().mapToDouble(x -> x.value()).sum();
        assertEquals(s2.cpu().usage() / 1e9, cpuSeconds, 1e-9);
        assertEquals(1L << 30, m.find(MetricType.MEMORY_MEM_TOTAL_BYTES).value());
        assertNotNull(m.find(MetricType.NETWORK_RECEIVE_BYTES_TOTAL, "device", "eth0"));
        assertEquals(1, m.find(MetricType.PROCS_TOTAL).value());
        assertEquals(clock.instant().getEpochSecond(), (long) m.find(MetricType.TIME_SECONDS).value());
        assertNotNull(m.find(MetricType.FILESYSTEM_SIZE_BYTES, "mountpoint", "/"));
        assertEquals(m.toText(), MetricSet.parse(m.toText()).toText());
        c.stop(false);
        assertEquals(ErrorTexts.ALREADY_STOPPED, assertThrows(InstanceStateException.class, () -> c.metrics(null))
                .getMessage());
    }
}
