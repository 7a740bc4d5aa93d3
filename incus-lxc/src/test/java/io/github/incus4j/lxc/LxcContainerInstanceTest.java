package io.github.incus4j.lxc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.incus4j.api.Container;
import java.util.List;
import java.time.Instant;
import io.github.incus4j.api.internal.image.ImageLayout;
import io.github.incus4j.api.internal.image.ImageTar;
import io.github.incus4j.api.rest.RestJson;
import io.github.incus4j.api.model.ImageMetadataTemplate;
import io.github.incus4j.api.model.ImageMetadata;
import io.github.incus4j.api.InstanceType;
import io.github.incus4j.api.NotFoundException;
import io.github.incus4j.api.Instance;
import io.github.incus4j.api.InstanceSource;
import io.github.incus4j.api.InvalidArgumentException;
import io.github.incus4j.api.StatusCode;
import io.github.incus4j.api.exec.Cmd;
import io.github.incus4j.api.file.SftpClient;
import io.github.incus4j.api.exec.ExecRequest;
import io.github.incus4j.api.model.IdmapSet;
import io.github.incus4j.api.model.InstanceArgs;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** What the contract does not check: id shifting, liblxc's view, the rootfs source, lxc-specific paths. */
class LxcContainerInstanceTest extends LxcFixture {
    private static final System.Logger LOG = System.getLogger(LxcContainerInstanceTest.class.getName());

    private static String name() {
        return "lxct-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static int uid(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    private static String run(Instance i, ExecRequest r) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Cmd c = i.exec(r, null, out, new ByteArrayOutputStream())) {
            assertEquals(0, c.waitFor(WAIT), r.command().toString());
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void unprivilegedContainerIsShiftedAndRecordsItsIdmap() throws IOException {
        Container c = (Container) lxc.create(InstanceArgs.builder(name()).build(),
                InstanceSource.template("busybox", Map.of()));
        IdmapSet map = LxcDriver.allocation().orElseThrow();
        long base = map.entries().get(0).hostId();
        assertEquals(base, uid(c.rootfsPath().resolve("bin")), "rootfs owned by the mapped root");
        assertEquals(Long.toString(base), c.localConfig().get("volatile.idmap.base"));
        assertEquals(map, c.diskIdmap().orElseThrow());
        assertEquals(map, c.nextIdmap().orElseThrow());
        assertFalse(c.localConfig().containsKey("volatile.idmap.current"), "no current map before the first start");
        c.start(false);
        assertEquals(map, c.currentIdmap().orElseThrow());
        // Root inside is the mapped host id: the container's view of its own uid is 0, the host's is base.
        assertEquals("0\n", run(c, ExecRequest.of("id", "-u")));
        long hostUid = Long.parseLong(Files.readAllLines(Path.of("/proc", Integer.toString(c.initPid()), "status"))
                .stream().filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow().split("\\s+")[1]);
        assertEquals(base, hostUid);
    }

    @Test
    void containerHaltingItselfIsNoticedAndDeletedWhenEphemeral() throws InterruptedException {
        Instance kept = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        Instance ephemeral = lxc.create(InstanceArgs.builder(name()).ephemeral(true).build(),
                InstanceSource.template("busybox", Map.of()));
        for (Instance i : List.of(kept, ephemeral)) {
            i.start(false);
            assertEquals("RUNNING", i.localConfig().get("volatile.last_state.power"));
            // busybox's poweroff asks init to halt: the container stops without any call through the API.
            try (Cmd halt = i.exec(ExecRequest.of("poweroff", "-f"), null, null, null)) {
                halt.waitFor(WAIT);
            } catch (RuntimeException killedWithTheContainer) {
                LOG.log(System.Logger.Level.DEBUG, "poweroff ended with its container", killedWithTheContainer);
            }
        }
        long deadline = System.nanoTime() + WAIT.toNanos();
        while ((lxc.find("default", ephemeral.name()).isPresent()
                || !"STOPPED".equals(kept.localConfig().get("volatile.last_state.power")))
                && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertEquals(StatusCode.STOPPED, kept.statusCode());
        assertEquals("STOPPED", kept.localConfig().get("volatile.last_state.power"), "the stop was recorded");
        assertTrue(lxc.find("default", kept.name()).isPresent(), "a persistent container stays");
        assertFalse(lxc.find("default", ephemeral.name()).isPresent(), "the ephemeral container went away");
        assertFalse(Files.exists(lxc.lxcpath().resolve(ephemeral.name())),
                "nothing of it is left in the lxcpath");
    }

    @Test
    void unprivilegedStartNamesTheDirectoryItCannotTraverse() throws IOException {
        Path hidden = Files.createDirectories(dir.resolve("hidden"));
        Files.setPosixFilePermissions(hidden, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        try (LxcInstances inHidden = new LxcDriver().open(hidden.resolve("root"), Duration.ofSeconds(30))) {
            Instance c = inHidden.create(InstanceArgs.builder(name()).build(),
                    InstanceSource.template("busybox", Map.of()));
            io.github.incus4j.api.InstanceStateException e = assertThrows(
                    io.github.incus4j.api.InstanceStateException.class, () -> c.start(false));
            assertTrue(e.getMessage().contains(hidden + " is not searchable by others (mode rwx------)"),
                    e.getMessage());
            assertEquals(StatusCode.STOPPED, c.statusCode());
            c.delete(true);
        }
    }

    @Test
    void cpuAllowanceAndPriorityReachTheCgroupAtStartAndLive() {
        Container c = (Container) lxc.create(InstanceArgs.builder(name()).config("limits.cpu.allowance", "25ms/100ms")
                .config("limits.cpu.priority", "5").build(), InstanceSource.template("busybox", Map.of()));
        c.start(false);
        assertEquals("25000 100000", c.cgroup().get("cpu.max"), "a hard quota of 25 ms every 100 ms");
        String fullWeight = c.cgroup().get("cpu.weight");
        Map<String, String> config = new java.util.HashMap<>(c.localConfig());
        config.put("limits.cpu.allowance", "50%");
        config.put("limits.cpu.priority", "10");
        c.update(InstanceArgs.builder(c.name()).config(config).build(), true);
        assertEquals("max 100000", c.cgroup().get("cpu.max"), "a percentage is a share, not a quota");
        int half = Integer.parseInt(c.cgroup().get("cpu.weight"));
        assertTrue(half < Integer.parseInt(fullWeight) && half >= 45 && half <= 50,
                "50% of the full weight (" + fullWeight + " less the priority), got " + half);
    }

    @Test
    void metricsCarryIncusBreakdownFromTheCgroup() {
        Instance c = lxc.create(InstanceArgs.builder(name()).config("limits.memory", "64MiB").build(),
                InstanceSource.template("busybox", Map.of()));
        c.start(false);
        // Some CPU time and page cache inside, so that the counters have something to count. The kernel splits CPU
        // time into user and system by ticks: a few milliseconds of shell loop could all count as system time (CI saw
        // user 0 after 3,000 rounds), so the loop runs long enough for many ticks (about 0.3 s).
        run(c, ExecRequest.of("sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; cat /bin/busybox > /tmp/x"));
        io.github.incus4j.api.metrics.MetricSet m = c.metrics(List.of());
        double user = m.samples(io.github.incus4j.api.metrics.MetricType.CPU_SECONDS_TOTAL).stream()
                .filter(s -> "user".equals(s.labels().get("mode"))).mapToDouble(s -> s.value()).sum();
        assertTrue(user > 0, "user CPU time: " + m.toText());
        assertEquals(64.0 * 1024 * 1024, m.samples(io.github.incus4j.api.metrics.MetricType.MEMORY_MEM_TOTAL_BYTES)
                .get(0).value(), "MemTotal is the limit");
        for (io.github.incus4j.api.metrics.MetricType t : List.of(
                io.github.incus4j.api.metrics.MetricType.MEMORY_ACTIVE_BYTES,
                io.github.incus4j.api.metrics.MetricType.MEMORY_CACHED_BYTES,
                io.github.incus4j.api.metrics.MetricType.MEMORY_RSS_BYTES,
                io.github.incus4j.api.metrics.MetricType.MEMORY_MEM_AVAILABLE_BYTES,
                io.github.incus4j.api.metrics.MetricType.MEMORY_OOM_KILLS_TOTAL,
                io.github.incus4j.api.metrics.MetricType.FILESYSTEM_SIZE_BYTES,
                io.github.incus4j.api.metrics.MetricType.CPUS)) {
            assertFalse(m.samples(t).isEmpty(), t + " missing from " + m.toText());
        }
        assertTrue(m.samples(io.github.incus4j.api.metrics.MetricType.MEMORY_CACHED_BYTES).get(0).value() > 0,
                "the copied file is in the page cache");
        assertEquals(List.of("/"), m.samples(io.github.incus4j.api.metrics.MetricType.FILESYSTEM_SIZE_BYTES).stream()
                .map(s -> s.labels().get("mountpoint")).toList());
    }

    @Test
    void rebuildReplacesTheRootfsWholeOrNotAtAll() throws IOException {
        Instance src = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        src.start(false);
        run(src, ExecRequest.of("sh", "-c", "echo from-image > /root/marker"));
        src.stop(false);
        Path tarball = dir.resolve("image.tar");
        try (var out = Files.newOutputStream(tarball)) {
            src.export(out, null, Map.of("os", "busybox"), null, null);
        }
        Instance c = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        c.start(false);
        run(c, ExecRequest.of("sh", "-c", "echo mine > /root/old"));
        c.stop(false);
        Path corrupt = Files.write(dir.resolve("corrupt.tar"), new byte[] {1, 2, 3});
        assertThrows(InvalidArgumentException.class, () -> c.rebuild(io.github.incus4j.api.model.Image.fromTarball(
                corrupt, "bad", "container", new ImageMetadata("x86_64", 0, 0, Map.of(), Map.of())), null));
        assertTrue(Files.exists(((Container) c).rootfsPath().resolve("root/old")), "a failed rebuild changes nothing");
        assertFalse(Files.exists(c.path().resolve("rebuild-old")));
        c.rebuild(io.github.incus4j.api.model.Image.fromTarball(tarball, "f00d", "container",
                new ImageMetadata("x86_64", 0, 0, Map.of("os", "busybox"), Map.of())), null);
        assertEquals("busybox", c.localConfig().get("image.os"));
        c.start(false);
        assertEquals("from-image\n", run(c, ExecRequest.of("cat", "/root/marker")));
        assertEquals("0\n", run(c, ExecRequest.of("stat", "-c", "%u", "/root/marker")), "owners shifted again");
        assertThrows(io.github.incus4j.api.InstanceStateException.class, () -> c.rebuild(null, null));
        c.stop(false);
        c.rebuild(null, null);
        try (var entries = Files.list(((Container) c).rootfsPath())) {
            assertEquals(0, entries.count(), "an empty root filesystem");
        }
    }

    @Test
    void privilegedContainerHasNoIdmap() throws IOException {
        Container c = (Container) lxc.create(InstanceArgs.builder(name()).config("security.privileged", "true")
                .build(), InstanceSource.template("busybox", Map.of()));
        assertEquals(0, uid(c.rootfsPath().resolve("bin")));
        assertEquals("0", c.localConfig().get("volatile.idmap.base"));
        assertEquals("[]", c.localConfig().get("volatile.last_state.idmap"));
        assertTrue(c.diskIdmap().isEmpty());
        c.start(false);
        assertEquals(StatusCode.RUNNING, c.statusCode());
    }

    @Test
    void createsFromARootfsDirectory() throws IOException {
        Path src = dir.resolve("src");
        Files.createDirectories(src.resolve("bin"));
        Files.copy(Path.of(Files.isExecutable(Path.of("/bin/busybox")) ? "/bin/busybox" : "/usr/bin/busybox"),
                src.resolve("bin/busybox"));
        for (String applet : new String[] {"sh", "init", "true", "cat", "id"}) {
            Files.createSymbolicLink(src.resolve("bin").resolve(applet), Path.of("busybox"));
        }
        for (String d : new String[] {"proc", "sys", "dev", "tmp", "root", "etc", "sbin"}) {
            Files.createDirectories(src.resolve(d));
        }
        Files.createSymbolicLink(src.resolve("sbin/init"), Path.of("/bin/busybox"));
        Files.writeString(src.resolve("etc/marker"), "from a directory\n");
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.rootfs(src));
        long base = LxcDriver.allocation().orElseThrow().entries().get(0).hostId();
        assertEquals(base, uid(i.rootfsPath().resolve("etc/marker")));
        assertEquals(0, uid(src.resolve("etc/marker")), "the source is left alone");
        i.start(false);
        assertEquals("from a directory\n", run(i, ExecRequest.of("cat", "/etc/marker")));
    }

    @Test
    void missingImageTarballsAndUnknownTemplatesAreRefusedAndLeaveNothing() {
        Path missing = dir.resolve("image.tar");
        NotFoundException e = assertThrows(NotFoundException.class, () -> lxc.create(
                InstanceArgs.builder(name()).build(), InstanceSource.image(missing)));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        assertEquals(0, lxc.list().size());
        NotFoundException t = assertThrows(NotFoundException.class, () -> lxc.create(
                InstanceArgs.builder(name()).build(), InstanceSource.template("debian", Map.of())));
        assertEquals("Unknown template \"debian\": the lxc driver provides \"busybox\"", t.getMessage());
        assertEquals(List.of(), lxc.list());
    }

    @Test
    void imageEntriesCannotWriteThroughTheirOwnSymlinks() throws IOException {
        Path outside = Files.createDirectories(dir.resolve("outside"));
        ByteArrayOutputStream tar = new ByteArrayOutputStream();
        ImageTar.Writer w = ImageTar.writer(tar);
        w.addFile("metadata.yaml", RestJson.toYaml(new ImageMetadata("x86_64", 0, 0, Map.of(), Map.of())), 0644);
        w.addDirectory("rootfs", 0755);
        w.add(new ImageTar.Entry("rootfs/evil", ImageTar.Kind.SYMLINK, 0777, 0, 0, Instant.now(), 0,
                outside.toString()), null);
        w.addFile("rootfs/evil/planted", "gotcha".getBytes(StandardCharsets.UTF_8), 0644);
        w.finish();
        Path image = Files.write(dir.resolve("evil.tar"), tar.toByteArray());
        String n = name();
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> lxc.create(InstanceArgs.builder(n).build(), InstanceSource.image(image)));
        assertTrue(e.getMessage().contains("rootfs/evil/planted") || e.getMessage().contains("evil/planted"),
                e.getMessage());
        assertFalse(Files.exists(outside.resolve("planted")), "written outside the rootfs");
        assertEquals(List.of(), lxc.list());
        assertFalse(Files.exists(lxc.paths().path(InstanceType.CONTAINER, n)), "nothing left on disk");
        assertFalse(Files.exists(lxc.lxcpath().resolve(n)));
    }

    /**
     * An exported container becomes an image with templates: the copy's files are shifted to its own map, its create
     * template applies once at first start and its start template at every start, with the owner the template
     * names, as the container sees it.
     */
    @Test
    void exportedImageCreatesAContainerWhoseTemplatesApplyAtStart() throws IOException {
        Container src = (Container) lxc.create(InstanceArgs.builder(name()).build(),
                InstanceSource.template("busybox", Map.of()));
        try (SftpClient sftp = src.fileSftp()) {
            sftp.mkdirs("/srv", 0755);
            sftp.write("/srv/data", "exported".getBytes(StandardCharsets.UTF_8));
            sftp.chown("/srv/data", 1000, 1000);
        }
        ByteArrayOutputStream plain = new ByteArrayOutputStream();
        src.export(plain, null, Map.of("os", "busybox"), null, null);
        Map<String, ImageTar.Entry> entries = new java.util.HashMap<>();
        ImageTar.read(new java.io.ByteArrayInputStream(plain.toByteArray()), (en, in) -> entries.put(en.name(), en));
        assertEquals(1000, entries.get("rootfs/srv/data").uid(), "ids in the image are as inside the container");
        assertEquals(0, entries.get("rootfs/etc").uid());

        // The same rootfs with templates, as a distribution image would carry them.
        ImageMetadata md = new ImageMetadata("x86_64", 0, 0, Map.of("os", "busybox"), Map.of(
                "/etc/created", new ImageMetadataTemplate(List.of("create"), false, "created.tpl", Map.of(), "7", "8",
                        "0600"),
                "/etc/started", new ImageMetadataTemplate(List.of("start"), false, "started.tpl", Map.of(), "", "",
                        "")));
        ByteArrayOutputStream tpl = new ByteArrayOutputStream();
        ImageLayout.writeUnified(tpl, md, Map.of("created.tpl", "made for {{ instance.name }}\n".getBytes(
                StandardCharsets.UTF_8), "started.tpl", "trigger {{ trigger }}\n".getBytes(StandardCharsets.UTF_8)),
                ImageRootfs.writer(lxc.paths().path(src.type(), src.name()).resolve("rootfs"),
                        src.diskIdmap().orElseThrow()), null);
        Path image = Files.write(dir.resolve("tpl.tar"), tpl.toByteArray());

        String n = name();
        Container copy = (Container) lxc.create(InstanceArgs.builder(n).build(), InstanceSource.image(image));
        assertEquals("busybox", copy.localConfig().get("image.os"));
        assertEquals(ImageLayout.fingerprint(tpl.toByteArray()), copy.localConfig().get("volatile.base_image"));
        assertEquals("create", copy.localConfig().get("volatile.apply_template"));
        Path rootfs = lxc.paths().path(copy.type(), n).resolve("rootfs");
        long base = copy.diskIdmap().orElseThrow().entries().get(0).hostId();
        assertEquals(base + 1000, uid(rootfs.resolve("srv/data")), "shifted into the copy's map");
        assertFalse(Files.exists(rootfs.resolve("etc/created")), "templates wait for the first start");

        copy.start(false);
        assertEquals("made for " + n + "\n", run(copy, ExecRequest.of("cat", "/etc/created")));
        assertEquals("7 8 600\n", run(copy, ExecRequest.of("stat", "-c", "%u %g %a", "/etc/created")));
        assertEquals("trigger start\n", run(copy, ExecRequest.of("cat", "/etc/started")));
        assertEquals("exported", run(copy, ExecRequest.of("cat", "/srv/data")));
        assertEquals("", copy.localConfig().getOrDefault("volatile.apply_template", ""));
        copy.stop(false);
        Files.delete(rootfs.resolve("etc/created"));
        Files.delete(rootfs.resolve("etc/started"));
        copy.start(false);
        assertFalse(Files.exists(rootfs.resolve("etc/created")), "create templates apply once");
        assertTrue(Files.exists(rootfs.resolve("etc/started")), "start templates apply at every start");
    }

    @Test
    void theLxcToolsSeeTheSameStateAndPid() throws Exception {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        long t0 = System.nanoTime();
        i.start(false);
        long started = System.nanoTime();
        String info = lxcInfo(i);
        assertTrue(info.contains("RUNNING"), info);
        assertTrue(info.contains(Integer.toString(i.initPid())), info);
        long e0 = System.nanoTime();
        for (int k = 0; k < 5; k++) {
            run(i, ExecRequest.of("true"));
        }
        long execs = System.nanoTime();
        i.stop(false);
        long stopped = System.nanoTime();
        assertTrue(lxcInfo(i).contains("STOPPED"));
        LOG.log(System.Logger.Level.INFO, "start {0} ms, stop {1} ms, exec true {2} ms",
                (started - t0) / 1_000_000, (stopped - execs) / 1_000_000, (execs - e0) / 5 / 1_000_000);
    }

    private String lxcInfo(Instance i) throws Exception {
        return LxcHost.lxcInfo(lxc, i);
    }

    /** {@code lxc-ls -P lxcpath -f}'s row for {@code i}: name, state, pid ("-" when stopped). */
    private List<String> lxcLs(Instance i) throws Exception {
        String out = LxcHost.tool("lxc-ls", "-P", lxc.lxcpath().toString(), "-f", "-F", "NAME,STATE,PID");
        return out.lines().map(l -> List.of(l.trim().split("\\s+"))).filter(r -> r.get(0).equals(i.name()))
                .findFirst().orElseThrow(() -> new AssertionError(i.name() + " not listed by lxc-ls:\n" + out));
    }

    @Test
    void lxcLsAndLxcInfoAgreeWithTheDriver() throws Exception {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        assertEquals(List.of(i.name(), "STOPPED", "-"), lxcLs(i));
        i.start(false);
        assertEquals(List.of(i.name(), "RUNNING", Integer.toString(i.initPid())), lxcLs(i));
        String info = lxcInfo(i);
        assertTrue(info.matches("(?s)State:\\s+RUNNING\\s+PID:\\s+" + i.initPid() + "\\s*"), info);
        i.freeze();
        assertEquals(StatusCode.FROZEN, i.statusCode());
        assertEquals(List.of(i.name(), "FROZEN", Integer.toString(i.initPid())), lxcLs(i));
        i.unfreeze();
        i.stop(false);
        assertEquals(List.of(i.name(), "STOPPED", "-"), lxcLs(i));
    }

    @Test
    void renameMovesTheLxcContainer() {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        String renamed = name();
        i.rename(renamed, false);
        assertTrue(Files.isDirectory(lxc.lxcpath().resolve(renamed)));
        assertFalse(Files.exists(lxc.lxcpath().resolve(i.name() + "x")));
        i.start(false);
        assertEquals(renamed + "\n", run(i, ExecRequest.of("hostname")));
    }

    /**
     * Starts rewrite liblxc's config and renames move it while other threads ask liblxc for the status: none may see
     * a config that is half written or names files that are gone.
     */
    @Test
    void statusReadDuringStartsAndRenamesIsNeverError() throws InterruptedException {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.ConcurrentHashMap<String, Integer> seen = new java.util.concurrent.ConcurrentHashMap<>();
        Thread reader = new Thread(() -> {
            while (!done.get()) {
                String status;
                try {
                    status = i.renderState(List.of()).status();
                } catch (RuntimeException e) {
                    status = e.toString();
                }
                seen.merge(status, 1, Integer::sum);
            }
        }, "status-reader");
        reader.setDaemon(true);
        reader.start();
        try {
            for (int n = 0; n < 30; n++) {
                i.start(false);
                i.stop(false);
                i.rename(name(), false);
            }
        } finally {
            done.set(true);
            reader.join(WAIT.toMillis());
        }
        seen.remove(StatusCode.STOPPED.text());
        seen.remove(StatusCode.RUNNING.text());
        assertEquals(Map.of(), seen, "statuses read meanwhile besides Stopped and Running");
    }

    @Test
    void deleteRemovesTheLxcDirectory() {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        Path lxcDir = lxc.lxcpath().resolve(i.name());
        assertTrue(Files.isDirectory(lxcDir));
        i.delete(false);
        assertFalse(Files.exists(lxcDir));
        assertFalse(Files.exists(i.path()));
    }

    @Test
    void unknownUserCommandFailureIsNotFound() {
        Instance i = lxc.create(InstanceArgs.builder(name()).build(), InstanceSource.template("busybox", Map.of()));
        i.start(false);
        assertThrows(InvalidArgumentException.class, () -> {
            try (Cmd c = i.exec(ExecRequest.of("no-such-command"), null, null, null)) {
                c.waitFor(WAIT);
            }
        });
    }

    @Test
    void symlinkToShadowReadsTheContainersFileNeverTheHosts() throws IOException {
        Container c = (Container) lxc.create(InstanceArgs.builder(name()).build(),
                InstanceSource.template("busybox", Map.of()));
        byte[] mine = "root:container-only:19000:0:99999:7:::\n".getBytes(StandardCharsets.UTF_8);
        try (SftpClient sftp = c.fileSftp()) {
            sftp.write("/etc/shadow", mine);
            sftp.mkdirs("/srv", 0755);
            sftp.symlink("/etc/shadow", "/srv/through-sftp");
        }
        // As a guest would plant them: an absolute link and one climbing out with "..".
        Path rootfs = lxc.paths().path(c.type(), c.name()).resolve("rootfs");
        Files.createSymbolicLink(rootfs.resolve("srv/planted"), Path.of("/etc/shadow"));
        Files.createSymbolicLink(rootfs.resolve("srv/climbing"), Path.of("../../../../../../../../etc/shadow"));
        try (SftpClient sftp = c.fileSftp()) {
            for (String link : List.of("/srv/through-sftp", "/srv/planted", "/srv/climbing")) {
                assertEquals(new String(mine, StandardCharsets.UTF_8),
                        new String(sftp.readAllBytes(link), StandardCharsets.UTF_8), link);
            }
            // Ids as the container sees them, though the file belongs to the shifted root on the host.
            assertEquals(0, sftp.stat("/etc/shadow").uid());
            assertEquals(c.diskIdmap().orElseThrow().entries().get(0).hostId(), uid(rootfs.resolve("etc/shadow")));
        }
        c.start(false);
        assertEquals(new String(mine, StandardCharsets.UTF_8),
                run(c, ExecRequest.of("cat", "/srv/through-sftp")));
    }

    @Test
    void aFifoInTheContainerIsRefusedAtOnceAndARacingGuestStaysInside() throws IOException {
        Container c = (Container) lxc.create(InstanceArgs.builder(name()).build(),
                InstanceSource.template("busybox", Map.of()));
        c.start(false);
        run(c, ExecRequest.of("mkfifo", "/tmp/fifo"));
        // The reviewer's dance, from inside: /tmp/race/d flips between a directory and a link to "/".
        run(c, ExecRequest.of("sh", "-c", "mkdir -p /tmp/race/dreal && ln -s / /tmp/race/dlink && cd /tmp/race && "
                + "(while :; do mv dreal d; mv d dreal; mv dlink d; mv d dlink; done) </dev/null >/dev/null 2>&1 &"));
        Path secret = Files.writeString(dir.resolve("host-secret"), "HOST SECRET");
        // A decoy at the same path inside the container: reading it shows the link was gone through.
        run(c, ExecRequest.of("sh", "-c", "mkdir -p " + secret.getParent() + " && echo -n INSIDE > " + secret));
        int hostReads = 0;
        int insideReads = 0;
        int reads = 0;
        try (SftpClient sftp = c.fileSftp()) {
            for (int i = 0; i < 20; i++) {
                InvalidArgumentException e = assertTimeoutPreemptively(Duration.ofSeconds(5),
                        () -> assertThrows(InvalidArgumentException.class, () -> sftp.readAllBytes("/tmp/fifo")));
                assertTrue(e.getMessage().contains("\"/tmp/fifo\" is a FIFO"), e.getMessage());
                assertTimeoutPreemptively(Duration.ofSeconds(5), () -> assertThrows(InvalidArgumentException.class,
                        () -> sftp.write("/tmp/fifo", new byte[] {1})));
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            // At least 1,000 reads, and on until one went through the link: a loaded host may start the dance late.
            for (; (reads < 1000 || insideReads == 0) && System.nanoTime() < deadline; reads++) {
                try {
                    String got = new String(sftp.readAllBytes("/tmp/race/d" + secret), StandardCharsets.UTF_8);
                    hostReads += got.equals("HOST SECRET") ? 1 : 0;
                    insideReads += got.equals("INSIDE") ? 1 : 0;
                } catch (NotFoundException expected) {
                    // d was missing or the real directory at that moment.
                }
            }
        }
        LOG.log(System.Logger.Level.INFO, "racing guest: " + hostReads + " of " + reads + " reads reached the host, "
                + insideReads + " the decoy inside");
        assertEquals(0, hostReads, "reads that reached the host file");
        assertTrue(insideReads > 0, "the dance ran: some reads went through the link to / (inside)");
        assertTrue(run(c, ExecRequest.of("ls", "-l", "/tmp/fifo")).startsWith("p"), "the FIFO is untouched");
    }
}
